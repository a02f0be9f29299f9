package websocket

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Close must not swallow messages that the application's reader has not
// read yet, even when that reader is between two reads at the moment Close
// is called.
func TestCloseLeavesMessagesToTheReader(t *testing.T) {
	const n = 50
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		// Send n messages, then answer the client's close: all of them
		// must reach the client's reader, however slowly it reads.
		for i := 0; i < n; i++ {
			c.Write(r.Context(), MessageText, []byte(fmt.Sprint(i)))
		}
		c.Read(r.Context())
	}))
	t.Cleanup(srv.Close)
	c := dialT(t, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	var got atomic.Int32
	done := make(chan error, 1)
	go func() {
		for {
			_, p, err := c.Read(context.Background())
			if err != nil {
				done <- err
				return
			}
			if string(p) != fmt.Sprint(got.Load()) {
				done <- fmt.Errorf("message %q out of order", p)
				return
			}
			got.Add(1)
			time.Sleep(time.Millisecond) // the reader is often between reads
		}
	}()
	for got.Load() < 5 {
		time.Sleep(time.Millisecond)
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatalf("close: %v", err)
	}
	err := <-done
	if CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("reader ended with %v", err)
	}
	if got.Load() != n {
		t.Fatalf("reader got %d of %d messages sent before the close", got.Load(), n)
	}
}

func TestOnPingOnPong(t *testing.T) {
	pings := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{OnPing: func(p []byte) { pings <- string(p) }})
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			if _, _, err := c.Read(r.Context()); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	pongs := make(chan int, 1)
	c := dialT(t, "ws"+strings.TrimPrefix(srv.URL, "http"), &DialOptions{OnPong: func(p []byte) { pongs <- len(p) }})
	ctx := c.CloseRead(context.Background())
	_ = ctx
	if _, err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := <-pings; len(p) != 8 {
		t.Fatalf("server saw a ping of %d bytes", len(p))
	}
	if n := <-pongs; n != 8 {
		t.Fatalf("client saw a pong of %d bytes", n)
	}
}
