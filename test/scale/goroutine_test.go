//go:build linux && !race

// The race detector allows 8128 live goroutines, fewer than this test holds.

package scale

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/duplexws/duplex/websocket"
)

// TestMaxConnectionsGoroutineMode holds the most connections the descriptor
// limit allows with the default mode: a goroutine per connection.
func TestMaxConnectionsGoroutineMode(t *testing.T) {
	if !ownProcess(t) {
		return
	}
	n := connsFor(t)
	var msgs atomic.Int64
	url := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		go func() {
			defer c.CloseNow()
			var buf []byte
			for {
				typ, p, err := c.ReadInto(context.Background(), buf)
				if err != nil {
					return
				}
				msgs.Add(1)
				buf = p
				if err := c.Write(context.Background(), typ, p); err != nil {
					return
				}
			}
		}()
	}))
	holdMax(t, url, n, msgs.Load)
}
