package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/duplexws/duplex/hub"
	"github.com/duplexws/duplex/websocket"
)

// BenchmarkFanOutWebSocket publishes one message to a channel with n
// subscribers connected over real WebSocket connections (loopback, in this
// process: both ends of each connection count against the descriptor
// limit, so n stays at 5000 here; cmd/duplex bench drives 10k and more from
// other processes). One op is one publication delivered to, and read by,
// every subscriber.
func BenchmarkFanOutWebSocket(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) { benchFanOutWS(b, n) })
	}
}

func benchFanOutWS(b *testing.B, n int) {
	// A namespace without presence or join/leave, so that subscribers
	// receive nothing but the publications.
	ts := startServer(b, func(c *Config) {
		c.Ping = 0
		c.Namespaces["bench"] = Namespace{AllowPublish: true}
	})
	// Readers count deliveries; the one that completes a publication's
	// fan-out wakes the benchmark loop.
	var received, want atomic.Int64
	complete := make(chan struct{}, 1)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	connect := []byte(`{"id":1,"method":"connect","params":{"token":"` + token(b, "bench", 0) + `"}}`)
	subscribe := []byte(`{"id":2,"method":"subscribe","params":{"channel":"bench:fan"}}`)
	conns := make([]*websocket.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.CloseNow()
		}
		wg.Wait()
	}()
	for i := range n {
		c, _, err := websocket.Dial(ctx, ts.url, nil)
		if err != nil {
			b.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		if err := c.Write(ctx, websocket.MessageText, connect); err != nil {
			b.Fatal(err)
		}
		if err := c.Write(ctx, websocket.MessageText, subscribe); err != nil {
			b.Fatal(err)
		}
		for range 2 { // the two replies
			if _, _, err := c.Read(ctx); err != nil {
				b.Fatal(err)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// context.Background: a cancellable context would cost the
			// reader an allocation per message; CloseNow ends it.
			var buf []byte
			for {
				_, p, err := c.ReadInto(context.Background(), buf)
				if err != nil {
					return
				}
				buf = p
				if received.Add(1) == want.Load() {
					complete <- struct{}{}
				}
			}
		}()
	}
	data := json.RawMessage(`{"text":"a message of typical chat size, with a few words in it","time":1700000000000}`)
	h := ts.srv.Hub()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		want.Store(int64(i+1) * int64(n))
		if _, err := h.Publish(ctx, "bench:fan", data, nil); err != nil {
			b.Fatal(err)
		}
		<-complete
	}
	b.StopTimer()
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkFanOutEnqueue measures the server's side of a fan-out without
// sockets: one publication encoded and framed once, then put on n
// sessions' send queues.
func BenchmarkFanOutEnqueue(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			cfg := testConfig()
			cfg.Namespaces["bench"] = Namespace{}
			srv, err := New(cfg, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			ctx := context.Background()
			sessions := make([]*session, n)
			for i := range sessions {
				s := newSession(srv, nil, "")
				sessions[i] = s
				sub, _, err := srv.hub.Subscribe(ctx, "bench:fan", s, hub.SubscribeOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if err := sub.Start(); err != nil {
					b.Fatal(err)
				}
			}
			data := json.RawMessage(`{"text":"a message of typical chat size, with a few words in it","time":1700000000000}`)
			var batch []outItem
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := srv.hub.Publish(ctx, "bench:fan", data, nil); err != nil {
					b.Fatal(err)
				}
				if i%256 == 255 {
					b.StopTimer()
					for _, s := range sessions {
						batch, _ = s.q.take(batch[:0])
					}
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
