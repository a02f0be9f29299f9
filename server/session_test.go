package server

import (
	"testing"
)

func TestConnectSubscribePublish(t *testing.T) {
	ts := startServer(t, nil)
	alice := dial(t, ts)
	res := alice.connect(token(t, "alice", 0))
	if res.str("user") != "alice" || len(res.str("client")) != 32 || res.num("proto") != 1 || res["expires"] != false {
		t.Fatalf("connect result %v", res)
	}
	if res.num("ping") != 25 || res.num("pong") != 10 {
		t.Fatalf("ping/pong %v", res)
	}
	sub := alice.ok("subscribe", map[string]any{"channel": "chat:lobby", "presence": true})
	if sub["recoverable"] != true || sub.num("offset") != 0 || sub.str("epoch") == "" || sub["recovered"] != false {
		t.Fatalf("subscribe result %v", sub)
	}
	if p := sub.obj("presence"); len(p) != 1 || p.obj(res.str("client")).str("user") != "alice" {
		t.Fatalf("presence snapshot %v", sub.obj("presence"))
	}

	bob := dial(t, ts)
	bobID := bob.connect(token(t, "bob", 0)).str("client")
	bob.ok("subscribe", map[string]any{"channel": "chat:lobby"})
	join := alice.push("join")
	if join.str("channel") != "chat:lobby" || join.obj("info").str("user") != "bob" || join.obj("info").str("client") != bobID {
		t.Fatalf("join push %v", join)
	}

	pub := bob.ok("publish", map[string]any{"channel": "chat:lobby", "data": map[string]any{"text": "hi"}})
	if pub.num("offset") != 1 || pub.str("epoch") != sub.str("epoch") {
		t.Fatalf("publish result %v", pub)
	}
	for _, c := range []*tclient{alice, bob} {
		p := c.push("publication")
		if p.num("offset") != 1 || p.obj("data").str("text") != "hi" || p.obj("info").str("user") != "bob" || p.str("channel") != "chat:lobby" {
			t.Fatalf("publication push %v", p)
		}
	}
	for _, m := range bob.pushes {
		if m.str("push") == "join" {
			t.Fatalf("bob was told about his own join: %v", m)
		}
	}

	bob.ok("unsubscribe", map[string]any{"channel": "chat:lobby"})
	if leave := alice.push("leave"); leave.obj("info").str("user") != "bob" {
		t.Fatalf("leave push %v", leave)
	}
	bob.fails("publish", map[string]any{"channel": "chat:lobby", "data": 1}, CodeNotSubscribed)
	alice.ok("ping", nil)
}
