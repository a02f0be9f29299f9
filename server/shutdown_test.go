package server

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

func TestGracefulShutdown(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Drain = Duration(1200 * time.Millisecond) })
	const n = 6
	clients := make([]*tclient, n)
	for i := range clients {
		clients[i] = dial(t, ts)
		clients[i].connect(token(t, fmt.Sprintf("u%d", i), 0))
		clients[i].ok("subscribe", map[string]any{"channel": "chat:s"})
	}
	if body := httpGet(t, ts.http.URL+"/readyz"); body != "ok" {
		t.Fatalf("readyz before shutdown: %q", body)
	}
	// A publication queued before the shutdown still arrives, before the
	// disconnect push.
	ts.api(t, "publish", map[string]any{"channel": "chat:s", "data": "last"})

	done := make(chan error, 1)
	go func() { done <- ts.srv.Shutdown(context.Background()) }()
	waitFor(t, "readyz to answer 503", func() bool {
		resp, err := http.Get(ts.http.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	if _, resp, err := websocket.Dial(context.Background(), ts.url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a handshake during the drain should get 503, got %v %v", resp, err)
	}
	if code, _ := ts.api(t, "publish", map[string]any{"channel": "chat:s", "data": 1}); code != http.StatusServiceUnavailable {
		t.Fatalf("API during the drain: %d, want 503", code)
	}
	for i, c := range clients {
		if p := c.push("publication"); p.str("data") != "last" {
			t.Fatalf("client %d: publication %v", i, p)
		}
		code, disc := c.closed()
		if code != websocket.StatusGoingAway {
			t.Fatalf("client %d: close code %d, want 1001", i, code)
		}
		if disc.num("code") != DisconnectShutdown || disc.str("reason") != "shutdown" || disc["reconnect"] != true {
			t.Fatalf("client %d: disconnect push %v", i, disc)
		}
		if i == 0 {
			// The disconnects are spread over the drain period, not sent
			// at once: when the first client is gone, most are still here.
			if left := ts.srv.numSessions(); left < n/2 {
				t.Fatalf("only %d of %d sessions left after the first disconnect: not spread over the drain", left, n)
			}
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestShutdownDeadlineCutsConnections(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Drain = Duration(10 * time.Second) })
	c := dial(t, ts)
	c.connect(token(t, "alice", 0))
	d := dial(t, ts)
	d.connect(token(t, "bob", 0))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown past its deadline should report it")
	}
	for _, cl := range []*tclient{c, d} {
		if code, _ := cl.closed(); code != websocket.StatusGoingAway && code != -1 {
			t.Fatalf("close code %d", code)
		}
	}
	if n := ts.srv.numSessions(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}
