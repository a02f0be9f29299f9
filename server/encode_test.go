package server

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/duplexws/duplex/hub"
)

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnl\ncr\r", "\x00\x01\x1f", "héllo ☃ 😀", "line\u2028sep\u2029", "<script>&"} {
		b := appendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("appendString(%q) = %s, decodes to %q, %v", s, b, back, err)
		}
	}
	if b := appendString(nil, "bad \xff byte"); string(b) != `"bad \ufffd byte"` {
		t.Errorf("invalid UTF-8: %s", b)
	}
}

func TestEncodePush(t *testing.T) {
	pub := &hub.Publication{Channel: "chat:a", Offset: 7, Epoch: "e1", Data: json.RawMessage(`{"text":"hi"}`),
		Info: &hub.ClientInfo{User: "bob", Client: "c1", ConnInfo: json.RawMessage(`{"n":1}`)}, Time: time.Now()}
	for _, tc := range []struct {
		push *hub.Push
		want string
	}{
		{&hub.Push{Kind: hub.PushPublication, Channel: "chat:a", Publication: pub},
			`{"push":"publication","channel":"chat:a","offset":7,"epoch":"e1","data":{"text":"hi"},"info":{"client":"c1","user":"bob","info":{"n":1}}}`},
		{&hub.Push{Kind: hub.PushPublication, Channel: "news", Publication: &hub.Publication{Data: json.RawMessage(`null`)}},
			`{"push":"publication","channel":"news","data":null}`},
		{&hub.Push{Kind: hub.PushJoin, Channel: "chat:a", Info: &hub.ClientInfo{Client: "c2", ChanInfo: json.RawMessage(`"x"`), ConnInfo: json.RawMessage(`"y"`)}},
			`{"push":"join","channel":"chat:a","info":{"client":"c2","user":"","info":"x"}}`},
		{&hub.Push{Kind: hub.PushLeave, Channel: "chat:a", Info: &hub.ClientInfo{Client: "c2", User: "u"}},
			`{"push":"leave","channel":"chat:a","info":{"client":"c2","user":"u"}}`},
	} {
		got, err := encodePush(tc.push)
		if err != nil || string(got) != tc.want {
			t.Errorf("encodePush = %s, %v\nwant %s", got, err, tc.want)
		}
	}
}

func TestValidChannel(t *testing.T) {
	for name, want := range map[string]bool{
		"chat:lobby": true, "news": true, "a.b@c=d": true, "chat:a:b": true, "user:alice@example.com": true,
		"": false, ":x": false, "chat:": false, "a b": false, "chat:é": false, "a.b:c": false,
		string(make([]byte, 256)): false,
	} {
		if got := validChannel(name); got != want {
			t.Errorf("validChannel(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseID(t *testing.T) {
	for raw, want := range map[string]uint32{"1": 1, "2147483647": 2147483647, "0": 0, "-1": 0, "1.0": 0, "1e3": 0, `"1"`: 0, "2147483648": 0} {
		got, ok := parseID(json.RawMessage(raw))
		if got != want || ok != (want != 0) {
			t.Errorf("parseID(%s) = %d, %v", raw, got, ok)
		}
	}
}

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "anything", true}, {"chat:*", "chat:a", true}, {"chat:*", "news", false},
		{"*:lobby", "chat:lobby", true}, {"a*b*c", "axxbyyc", true}, {"a*b*c", "acb", false}, {"exact", "exact", true}, {"ab*b", "ab", false},
	} {
		if got := matchPattern(tc.p, tc.s); got != tc.want {
			t.Errorf("matchPattern(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

func TestSendQueue(t *testing.T) {
	q := newSendQueue(100)
	if !q.push(outItem{data: make([]byte, 60)}) || !q.push(outItem{data: make([]byte, 40)}) {
		t.Fatal("items within the limit refused")
	}
	if q.push(outItem{data: make([]byte, 1)}) {
		t.Fatal("item over the limit accepted")
	}
	items, closed := q.take(nil)
	if len(items) != 2 || closed || q.buffered() != 100 {
		t.Fatalf("take: %d items, closed %v, %d buffered (want the 100 in flight)", len(items), closed, q.buffered())
	}
	// While the writer writes what it took, that still counts: one more
	// item is taken (an empty ring takes any one), a second is not.
	if !q.push(outItem{data: make([]byte, 10)}) {
		t.Fatal("an empty ring refused an item")
	}
	if q.push(outItem{data: make([]byte, 10)}) {
		t.Fatal("item accepted while the queue and the bytes in flight are at the limit")
	}
	q.written()
	if q.buffered() != 10 || !q.push(outItem{data: make([]byte, 10)}) {
		t.Fatalf("after written: %d buffered, want 10, and room for more", q.buffered())
	}
	q.take(nil)
	q.written()
	// One item larger than the limit is accepted into an empty queue, so
	// that a large reply can always go out.
	if !q.push(outItem{data: make([]byte, 500)}) {
		t.Fatal("large item refused by an empty queue")
	}
	for range 20 {
		q.take(nil)
		q.written()
		for range 10 {
			q.push(outItem{data: []byte{1}})
		}
	}
	q.close([]byte("bye"), 4001, "shutdown", true)
	if items, closed := q.take(nil); len(items) != 0 || !closed {
		t.Fatalf("after a dropping close: %d items, closed %v", len(items), closed)
	}
	if !q.push(outItem{data: []byte{1}}) {
		t.Fatal("push after close should report accepted")
	}
	if final, code, _ := q.finalMessage(); string(final) != "bye" || code != 4001 {
		t.Fatalf("final %q %d", final, code)
	}
}
