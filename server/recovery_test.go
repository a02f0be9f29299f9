package server

import (
	"testing"
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
