package websocket

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCloseWhilePingsArrive closes a connection whose peer keeps pinging.
// A ping read just as our close frame goes out must not be answered (no
// frame may follow the close frame) and must not end the handshake early:
// the reader goes on to the peer's close, and Close reports a clean end.
func TestCloseWhilePingsArrive(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		// The reader answers the client's close; the pinger keeps the
		// client's reader busy with pings until then.
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
			}
		}()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := c.writeControl(context.Background(), opPing, []byte("p")); err != nil {
				<-done
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	for i := range 25 {
		c := dialT(t, url, nil)
		readErr := make(chan error, 1)
		go func() {
			_, _, err := c.Read(context.Background())
			readErr <- err
		}()
		// Let some pings through first.
		if _, err := c.Ping(context.Background()); err != nil {
			t.Fatalf("connection %d: ping: %v", i, err)
		}
		if err := c.Close(StatusNormalClosure, ""); err != nil {
			t.Fatalf("connection %d: Close while pings arrive: %v", i, err)
		}
		if err := <-readErr; CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("connection %d: the reader ended with %v, want the peer's close 1000", i, err)
		}
	}
}
