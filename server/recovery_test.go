package server

import (
	"sync/atomic"
	"testing"

	"github.com/duplexws/duplex/hub"
)

func pubOffsets(t *testing.T, v any) []int {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("publications is %T, want an array", v)
	}
	out := make([]int, len(list))
	for i, p := range list {
		out[i] = msg(p.(map[string]any)).num("offset")
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRecovery(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Limits.RecoveryMax = 5 })
	c := dial(t, ts)
	c.connect(token(t, "alice", 0))
	first := c.ok("subscribe", map[string]any{"channel": "chat:r"})
	epoch := first.str("epoch")
	for i := range 3 {
		ts.api(t, "publish", map[string]any{"channel": "chat:r", "data": i})
	}
	for i := 1; i <= 3; i++ {
		if p := c.push("publication"); p.num("offset") != i {
			t.Fatalf("publication %v, want offset %d", p, i)
		}
	}

	for _, tc := range []struct {
		name      string
		params    map[string]any
		recovered bool
		offsets   []int
	}{
		{"from 1", map[string]any{"recover": true, "offset": 1, "epoch": epoch}, true, []int{2, 3}},
		{"from the top", map[string]any{"recover": true, "offset": 3, "epoch": epoch}, true, []int{}},
		{"from 0", map[string]any{"recover": true, "offset": 0, "epoch": epoch}, true, []int{1, 2, 3}},
		{"other epoch", map[string]any{"recover": true, "offset": 1, "epoch": "feedfacefeedface"}, false, []int{}},
		{"ahead of the top", map[string]any{"recover": true, "offset": 9, "epoch": epoch}, false, []int{}},
		{"no recovery asked", map[string]any{}, false, []int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dial(t, ts)
			d.connect(token(t, "bob", 0))
			tc.params["channel"] = "chat:r"
			res := d.ok("subscribe", tc.params)
			if res["recovered"] != tc.recovered || res["was_recovering"] != (tc.params["recover"] == true) ||
				res.num("offset") != 3 || res.str("epoch") != epoch || !equalInts(pubOffsets(t, res["publications"]), tc.offsets) {
				t.Fatalf("subscribe result %v", res)
			}
		})
	}

	// More missed publications than recovery_max: not recovered.
	for i := range 6 {
		ts.api(t, "publish", map[string]any{"channel": "chat:r", "data": i})
	}
	d := dial(t, ts)
	d.connect(token(t, "bob", 0))
	res := d.ok("subscribe", map[string]any{"channel": "chat:r", "recover": true, "offset": 3, "epoch": epoch})
	if res["recovered"] != false || res.num("offset") != 9 || len(pubOffsets(t, res["publications"])) != 0 {
		t.Fatalf("over recovery_max: %v", res)
	}
	// ...but the next live publication follows the returned top.
	ts.api(t, "publish", map[string]any{"channel": "chat:r", "data": "next"})
	if p := d.push("publication"); p.num("offset") != 10 {
		t.Fatalf("first live publication %v, want offset 10", p)
	}

	// A namespace without history answers recoverable false.
	e := dial(t, ts)
	e.connect(token(t, "bob", 0))
	res = e.ok("subscribe", map[string]any{"channel": "members:x", "recover": true, "offset": 1, "epoch": "x"})
	if res["recoverable"] != false || res["recovered"] != false || res["was_recovering"] != true {
		t.Fatalf("non-recoverable subscribe %v", res)
	}
}

func TestHistory(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		ns := DemoNamespace()
		ns.HistorySize = 5
		c.Namespaces["chat"] = ns
		c.Limits.HistoryLimit = 3
	})
	c := dial(t, ts)
	c.connect(token(t, "alice", 0))
	epoch := c.ok("subscribe", map[string]any{"channel": "chat:h"}).str("epoch")
	for i := range 7 { // offsets 1..7; 3..7 kept
		c.ok("publish", map[string]any{"channel": "chat:h", "data": i})
	}
	since := func(off int, ep string) map[string]any { return map[string]any{"offset": off, "epoch": ep} }
	for _, tc := range []struct {
		name    string
		params  map[string]any
		offsets []int
		code    int
	}{
		{"oldest first, capped", map[string]any{}, []int{3, 4, 5}, 0},
		{"newest first", map[string]any{"reverse": true}, []int{7, 6, 5}, 0},
		{"limit 2", map[string]any{"limit": 2}, []int{3, 4}, 0},
		{"limit 0: position only", map[string]any{"limit": 0}, []int{}, 0},
		{"limit -1", map[string]any{"limit": -1}, []int{3, 4, 5}, 0},
		{"since 4", map[string]any{"since": since(4, "")}, []int{5, 6, 7}, 0},
		{"since 6 reverse", map[string]any{"since": since(6, ""), "reverse": true}, []int{5, 4, 3}, 0},
		{"since trimmed", map[string]any{"since": since(1, "")}, nil, CodeUnrecoverable},
		{"since other epoch", map[string]any{"since": since(4, "other")}, nil, CodeUnrecoverable},
		{"bad limit", map[string]any{"limit": -2}, nil, CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.params["channel"] = "chat:h"
			if s, ok := tc.params["since"].(map[string]any); ok && s["epoch"] == "" {
				s["epoch"] = epoch
			}
			if tc.code != 0 {
				c.fails("history", tc.params, tc.code)
				return
			}
			res := c.ok("history", tc.params)
			if res.num("offset") != 7 || res.str("epoch") != epoch || !equalInts(pubOffsets(t, res["publications"]), tc.offsets) {
				t.Fatalf("history %v", res)
			}
		})
	}
}

// lossyBroker is a memory broker that loses this node's publications while
// drop is set, and lets the test report the loss as a broker would after
// an outage.
type lossyBroker struct {
	*hub.MemoryBroker
	h    hub.EventHandler
	drop atomic.Bool
}

func (b *lossyBroker) Attach(h hub.EventHandler) error {
	b.h = h
	return b.MemoryBroker.Attach(lossyHandler{b})
}

type lossyHandler struct{ b *lossyBroker }

func (l lossyHandler) HandlePublication(ch string, p *hub.Publication) {
	if !l.b.drop.Load() {
		l.b.h.HandlePublication(ch, p)
	}
}
func (l lossyHandler) HandleJoin(ch string, i *hub.ClientInfo)  { l.b.h.HandleJoin(ch, i) }
func (l lossyHandler) HandleLeave(ch string, i *hub.ClientInfo) { l.b.h.HandleLeave(ch, i) }
func (l lossyHandler) HandleLost(ch string)                     { l.b.h.HandleLost(ch) }

// TestBrokerLostEvents: publications the broker lost on their way to this
// node come back once it reports the loss: the client is told to
// resubscribe (2500), and recovering from its last offset fills the gap;
// a connection with the channel as a server-side subscription reconnects.
func TestBrokerLostEvents(t *testing.T) {
	b := &lossyBroker{MemoryBroker: hub.NewMemoryBroker(hub.MemoryBrokerOptions{})}
	ts := startServerWith(t, Options{Broker: b}, nil)
	c := dial(t, ts)
	c.connect(token(t, "alice", 0))
	epoch := c.ok("subscribe", map[string]any{"channel": "chat:l"}).str("epoch")
	// A server-side subscription cannot be resubscribed by its client:
	// that connection is ended with 4008 and recovers when it reconnects.
	tok, err := SignToken("HS256", testSecret, TokenClaims{User: "bob", Channels: []string{"chat:l"}})
	if err != nil {
		t.Fatal(err)
	}
	d := dial(t, ts)
	d.connect(tok)
	ts.api(t, "publish", map[string]any{"channel": "chat:l", "data": 1})
	if p := c.push("publication"); p.num("offset") != 1 {
		t.Fatalf("publication %v", p)
	}
	b.drop.Store(true)
	ts.api(t, "publish", map[string]any{"channel": "chat:l", "data": 2})
	ts.api(t, "publish", map[string]any{"channel": "chat:l", "data": 3})
	b.drop.Store(false)
	b.h.HandleLost("chat:l")
	u := c.push("unsubscribe")
	if u.str("channel") != "chat:l" || u.num("code") != 2500 || u["resubscribe"] != true {
		t.Fatalf("unsubscribe push %v, want 2500 with resubscribe", u)
	}
	d.expectClosed(DisconnectInsufficient)
	res := c.ok("subscribe", map[string]any{"channel": "chat:l", "recover": true, "offset": 1, "epoch": epoch})
	if res["recovered"] != true || !equalInts(pubOffsets(t, res["publications"]), []int{2, 3}) {
		t.Fatalf("recovery after the loss: %v", res)
	}
	ts.api(t, "publish", map[string]any{"channel": "chat:l", "data": 4})
	if p := c.push("publication"); p.num("offset") != 4 {
		t.Fatalf("publication after recovery %v, want offset 4", p)
	}
}
