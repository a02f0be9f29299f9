package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

func TestMessageSizeLimit(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Limits.MaxMessageSize = 1024 })
	c := dial(t, ts)
	c.connect(token(t, "alice", 0))
	c.ok("subscribe", map[string]any{"channel": "chat:a"})
	// Just under the limit is fine, one byte over disconnects with 4010.
	fill := func(total int) string {
		head := `{"id":9,"method":"ping","params":{"pad":"`
		tail := `"}}`
		return head + strings.Repeat("x", total-len(head)-len(tail)) + tail
	}
	c.sendRaw(fill(1024))
	if m := c.read(); m.num("id") != 9 {
		t.Fatalf("reply %v", m)
	}
	c.sendRaw(fill(1025))
	c.expectClosed(DisconnectTooLarge)
}

func TestPublicationSizeLimit(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Limits.MaxPublicationSize = 100 })
	c := dial(t, ts)
	c.connect(token(t, "alice", 0))
	c.ok("subscribe", map[string]any{"channel": "chat:a"})
	c.ok("publish", map[string]any{"channel": "chat:a", "data": strings.Repeat("x", 98)}) // 100 bytes with quotes
	c.fails("publish", map[string]any{"channel": "chat:a", "data": strings.Repeat("x", 99)}, CodeLimitExceeded)
	if code, m := ts.api(t, "publish", map[string]any{"channel": "chat:a", "data": strings.Repeat("x", 99)}); code != 400 || m.obj("error").num("code") != CodeLimitExceeded {
		t.Fatalf("api: %d %v", code, m)
	}
}

func TestChannelLimit(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Limits.MaxChannels = 3 })
	c := dial(t, ts)
	c.connect(token(t, "alice", 0))
	for _, ch := range []string{"chat:1", "chat:2", "chat:3"} {
		c.ok("subscribe", map[string]any{"channel": ch})
	}
	c.fails("subscribe", map[string]any{"channel": "chat:4"}, CodeLimitExceeded)
	c.ok("unsubscribe", map[string]any{"channel": "chat:1"})
	c.ok("subscribe", map[string]any{"channel": "chat:4"})
	c.fails("subscribe", map[string]any{"channel": "chat:4"}, CodeAlreadySubscribe)
}

func TestPublishRateLimit(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Limits.PublishRate = 0.001 // no refill within the test
		c.Limits.PublishBurst = 5
	})
	c := dial(t, ts)
	c.connect(token(t, "alice", 0))
	c.ok("subscribe", map[string]any{"channel": "chat:a"})
	for i := range 5 {
		c.ok("publish", map[string]any{"channel": "chat:a", "data": i})
	}
	e := c.fails("publish", map[string]any{"channel": "chat:a", "data": 5}, CodeTooManyRequests)
	if e["temporary"] != true {
		t.Fatalf("109 must be temporary: %v", e)
	}
	c.ok("ping", nil) // other commands are still allowed
}

func TestCommandRateLimit(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Limits.CommandRate = 0.001
		c.Limits.CommandBurst = 3
	})
	c := dial(t, ts)
	c.connect(token(t, "alice", 0)) // connect is not counted
	for range 3 {
		c.ok("ping", nil)
	}
	c.fails("ping", nil, CodeTooManyRequests)
}

func TestConnectionsPerUser(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Limits.MaxConnectionsPerUser = 2 })
	a, b := dial(t, ts), dial(t, ts)
	a.connect(token(t, "alice", 0))
	b.connect(token(t, "alice", 0))
	c := dial(t, ts)
	c.fails("connect", map[string]any{"token": token(t, "alice", 0)}, CodeLimitExceeded)
	c.expectClosed(DisconnectConnLimit)
	dial(t, ts).connect(token(t, "bob", 0)) // other users are not affected
	// Once one of alice's connections ends, she may connect again.
	_ = a.c.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "alice's first connection to be forgotten", func() bool { return len(ts.srv.sessionsOf("alice", "")) == 1 })
	dial(t, ts).connect(token(t, "alice", 0))
}

func TestProtocolViolations(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct {
		name string
		send func(c *tclient)
	}{
		{"command before connect", func(c *tclient) { c.sendRaw(`{"id":1,"method":"ping"}`) }},
		{"invalid JSON", func(c *tclient) { c.sendRaw(`{"id":1,`) }},
		{"not an object", func(c *tclient) { c.sendRaw(`[1,2]`) }},
		{"missing id", func(c *tclient) { c.sendRaw(`{"method":"connect","params":{}}`) }},
		{"zero id", func(c *tclient) { c.sendRaw(`{"id":0,"method":"connect","params":{}}`) }},
		{"fractional id", func(c *tclient) { c.sendRaw(`{"id":1.5,"method":"connect","params":{}}`) }},
		{"id too large", func(c *tclient) { c.sendRaw(`{"id":2147483648,"method":"connect","params":{}}`) }},
		{"binary message", func(c *tclient) {
			_ = c.c.Write(context.Background(), websocket.MessageBinary, []byte(`{"id":1,"method":"connect"}`))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ts)
			tc.send(c)
			c.expectClosed(DisconnectBadRequest)
		})
	}
	t.Run("errors that keep the connection", func(t *testing.T) {
		c := dial(t, ts)
		c.connect(token(t, "alice", 0))
		c.fails("nope", nil, CodeMethodNotFound)
		c.fails("connect", map[string]any{}, CodeBadRequest)
		c.fails("subscribe", map[string]any{"channel": "bad channel"}, CodeBadRequest)
		c.fails("subscribe", map[string]any{"channel": "chat:"}, CodeBadRequest)
		c.fails("subscribe", map[string]any{"channel": 5}, CodeBadRequest)
		c.fails("subscribe", map[string]any{"channel": "nope:x"}, CodeUnknownChannel)
		c.fails("subscribe", map[string]any{"channel": "plain"}, CodeUnknownChannel) // no default namespace
		c.fails("publish", map[string]any{"channel": "chat:a"}, CodeBadRequest)      // no data
		c.fails("publish", map[string]any{"channel": "news:a", "data": 1}, CodePermissionDenied)
		c.fails("history", map[string]any{"channel": "news:a"}, CodeNotAvailable)
		c.fails("presence", map[string]any{"channel": "news:a"}, CodeNotAvailable)
		c.fails("presence", map[string]any{"channel": "members:a"}, CodePermissionDenied)
		c.fails("presence", map[string]any{"channel": "chat:a"}, CodeNotSubscribed)
		c.ok("unsubscribe", map[string]any{"channel": "chat:never"})
		c.ok("ping", nil)
	})
}

func TestConnectTimeout(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.ConnectTimeout = Duration(200 * time.Millisecond) })
	c := dial(t, ts)
	c.expectClosed(DisconnectStale)
}

func TestHeartbeat(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Ping = Duration(time.Second)
		c.Pong = Duration(time.Second)
	})
	// A client that answers keeps its connection across several pings.
	good := dial(t, ts)
	if res := good.connect(token(t, "alice", 0)); res.num("ping") != 1 || res.num("pong") != 1 {
		t.Fatalf("connect result %v", res)
	}
	// A client that does not answer is disconnected with 4005.
	bad := dial(t, ts)
	bad.connect(token(t, "bob", 0))
	for range 3 {
		if m := good.read(); m.str("push") != "ping" {
			t.Fatalf("want a ping, got %v", m)
		}
		good.sendRaw(`{"method":"pong"}`)
	}
	got, disc := bad.closed()
	if got != DisconnectNoPong || disc.num("code") != DisconnectNoPong {
		t.Fatalf("close %d push %v, want 4005", got, disc)
	}
	good.ok("ping", nil)
}

// TestInfoAndDataLimits: the 4 KiB bounds of connect.data, subscribe.data
// and the info claim, and the 32 bytes of connect.name (protocol.md
// section 12).
func TestInfoAndDataLimits(t *testing.T) {
	ts := startServer(t, nil)
	big := strings.Repeat("x", maxInfoSize) // with its quotes, 2 bytes over
	for _, tc := range []struct {
		name   string
		params map[string]any
	}{
		{"connect data", map[string]any{"token": token(t, "alice", 0), "data": big}},
		{"connect name", map[string]any{"token": token(t, "alice", 0), "name": strings.Repeat("n", 33)}},
		{"info claim", map[string]any{"token": func() string {
			s, err := SignToken("HS256", testSecret, TokenClaims{User: "alice", Info: []byte(`"` + big + `"`)})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ts)
			c.fails("connect", tc.params, CodeBadRequest)
			c.expectClosed(DisconnectBadRequest)
		})
	}
	c := dial(t, ts)
	c.ok("connect", map[string]any{"token": token(t, "alice", 0), "data": big[:maxInfoSize-2]})
	c.fails("subscribe", map[string]any{"channel": "chat:a", "data": big}, CodeBadRequest)
	c.ok("subscribe", map[string]any{"channel": "chat:a", "data": big[:maxInfoSize-2]})
}

// TestWriteTimeout: a client whose socket takes nothing is cut once one
// write has waited write_timeout, even when its queue has room left; it is
// counted as slow (4006) without a queue drop.
func TestWriteTimeout(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.WriteTimeout = Duration(300 * time.Millisecond)
		c.Limits.QueueSize = 256 << 20 // never full in this test
		c.Limits.MaxPublicationSize = 1 << 20
		c.Limits.APIBodySize = 2 << 20
	})
	stalled := dialSmallBuffer(t, ts)
	stalled.connect(token(t, "stalled", 0))
	stalled.ok("subscribe", map[string]any{"channel": "chat:w"})
	payload := strings.Repeat("x", 1<<20-2) // a JSON string of 1 MiB
	// 32 MiB: more than the socket buffers of both ends hold.
	for i := 0; i < 32 && len(ts.srv.sessionsOf("stalled", "")) > 0; i++ {
		if code, m := ts.api(t, "publish", map[string]any{"channel": "chat:w", "data": payload}); code != 200 {
			t.Fatalf("publish %d: %d %v", i, code, m)
		}
	}
	waitFor(t, "the stalled client to be cut", func() bool { return len(ts.srv.sessionsOf("stalled", "")) == 0 })
	if v := metricValue(t, ts, `duplex_disconnects_total{code="4006",reason="slow"}`); v != 1 {
		t.Fatalf("slow disconnects = %v, want 1", v)
	}
	if v := metricValue(t, ts, "duplex_queue_drops_total"); v != 0 {
		t.Fatalf("queue drops = %v, want 0: the write timeout, not the queue, should have cut the client", v)
	}
}
