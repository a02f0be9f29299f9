package bench

import "testing"

func TestPushScanning(t *testing.T) {
	msg := []byte(`{"push" : "publication","channel":"news","offset":3,"data":{"text":"\"ts\": 1","ts": 1764064800123456789,"seq":-4}}`)
	if k := pushKind(msg); string(k) != "publication" {
		t.Fatalf("kind %q", k)
	}
	// The "ts" inside the string value is not a member name: skipped.
	if ts, ok := jsonInt(msg, "ts"); !ok || ts != 1764064800123456789 {
		t.Fatalf("ts %d %v", ts, ok)
	}
	if seq, ok := jsonInt(msg, "seq"); !ok || seq != -4 {
		t.Fatalf("seq %d %v", seq, ok)
	}
	for _, bad := range []string{`{"ts":"x"}`, `{"ts":99999999999999999999}`, `{"tsx":1}`, `{}`} {
		if _, ok := jsonInt([]byte(bad), "ts"); ok {
			t.Errorf("%s: found a ts", bad)
		}
	}
	if k := pushKind([]byte(`{"id":1,"result":{}}`)); k != nil {
		t.Fatalf("a reply has kind %q", k)
	}
}

func TestSubscribeResultMerge(t *testing.T) {
	a := &SubscribeResult{Subscribed: 2, Publications: []PubStat{{ID: 1, Count: 2, LastNS: 50}, {ID: 3, Count: 2, LastNS: 10}}}
	b := &SubscribeResult{Subscribed: 3, Untimed: 1, Publications: []PubStat{{ID: 3, Count: 3, LastNS: 70}, {ID: 2, Count: 3, LastNS: 5}}}
	r := &Result{}
	r.Merge(&Result{Mode: "subscribe", Subscribe: a, Received: 4})
	r.Merge(&Result{Mode: "subscribe", Subscribe: b, Received: 6})
	s := r.Subscribe
	want := []PubStat{{ID: 1, Count: 2, LastNS: 50}, {ID: 2, Count: 3, LastNS: 5}, {ID: 3, Count: 5, LastNS: 70}}
	if s.Subscribed != 5 || s.Untimed != 1 || r.Received != 10 || len(s.Publications) != 3 {
		t.Fatalf("merged %+v", s)
	}
	for i, p := range want {
		if s.Publications[i] != p {
			t.Fatalf("publication %d: %+v, want %+v", i, s.Publications[i], p)
		}
	}
}
