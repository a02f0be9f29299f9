package server

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// metricValue returns the value of a counter or gauge sample on /metrics,
// or -1 when absent.
func metricValue(t *testing.T, ts *testServer, sample string) float64 {
	t.Helper()
	body := httpGet(t, ts.http.URL+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}

// dialSmallBuffer dials a client whose socket has a small receive buffer,
// so that it soon takes nothing when it stops reading.
func dialSmallBuffer(t *testing.T, ts *testServer) *tclient {
	t.Helper()
	c, _, err := websocket.Dial(context.Background(), ts.url, &websocket.DialOptions{
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				_ = c.(*net.TCPConn).SetReadBuffer(4096)
			}
			return c, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return &tclient{t: t, c: c}
}

// TestSlowConsumer: while one client reads nothing, the others receive
// every one of N publications, in order, and the stalled client is
// disconnected as slow (4006) instead of holding the others back or being
// sent a stream with holes.
func TestSlowConsumer(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Limits.PublishRate = 1e6
		c.Limits.PublishBurst = 1e6
		c.WriteTimeout = Duration(3 * time.Second)
	})
	// 800 publications of 16 KiB (12.5 MiB) overflow the stalled client's
	// socket buffers and its 1 MiB queue, while a reading client's queue
	// has room for 64 of them.
	const n = 800
	payload := `"` + strings.Repeat("x", 16<<10) + `"`

	// The stalled client: small receive buffer, never reads after subscribing.
	sc := dialSmallBuffer(t, ts)
	sc.connect(token(t, "stalled", 0))
	sc.ok("subscribe", map[string]any{"channel": "chat:flood"})

	readers := make([]*tclient, 3)
	for i := range readers {
		readers[i] = dial(t, ts)
		readers[i].connect(token(t, fmt.Sprintf("reader%d", i), 0))
		readers[i].ok("subscribe", map[string]any{"channel": "chat:flood"})
	}
	var wg sync.WaitGroup
	errs := make([]error, len(readers))
	for i, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := 1
			for next <= n {
				m, err := r.tryRead(20 * time.Second)
				if err != nil {
					errs[i] = fmt.Errorf("reader %d after offset %d: %w", i, next-1, err)
					return
				}
				if m.str("push") != "publication" {
					continue
				}
				if m.num("offset") != next {
					errs[i] = fmt.Errorf("reader %d: offset %d, want %d", i, m.num("offset"), next)
					return
				}
				next++
			}
		}()
	}
	for i := range n {
		if code, m := ts.api(t, "publish", map[string]any{"channel": "chat:flood", "data": payload}); code != 200 {
			t.Fatalf("publish %d: %d %v", i, code, m)
		}
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the stalled client to be disconnected", func() bool {
		return len(ts.srv.sessionsOf("stalled", "")) == 0
	})
	if v := metricValue(t, ts, `duplex_disconnects_total{code="4006",reason="slow"}`); v != 1 {
		t.Fatalf("slow disconnects = %v, want 1", v)
	}
	if v := metricValue(t, ts, "duplex_queue_drops_total"); v < 1 {
		t.Fatalf("queue drops = %v, want at least 1", v)
	}
	// The readers are still connected and in good shape.
	for _, r := range readers {
		r.ok("ping", nil)
	}
}
