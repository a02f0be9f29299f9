package websocket

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// CloseNow from another goroutine ends a blocked read with ErrClosed.
func TestCloseNowInterruptsRead(t *testing.T) {
	url := echoServer(t, nil)
	for i := 0; i < 20; i++ {
		c := dialT(t, url, nil)
		errc := make(chan error, 1)
		go func() {
			_, _, err := c.ReadInto(context.Background(), nil)
			errc <- err
		}()
		time.Sleep(time.Millisecond)
		c.CloseNow()
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("read after CloseNow: %v, want ErrClosed", err)
		}
	}
}

// A peer that drops TCP instead of answering our close frame: Close must
// say that the connection ended, not that the peer took too long, both
// when Close reads for itself and when another goroutine is reading.
func TestCloseWhenThePeerDropsInsteadOfAnswering(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		// Wait for the client's close frame, then drop the connection
		// without answering it.
		var b [1]byte
		_, _ = c.nc.Read(b[:])
		c.CloseNow()
	}))
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	for _, reading := range []bool{false, true} {
		c := dialT(t, url, &DialOptions{CloseTimeout: time.Minute})
		readDone := make(chan struct{})
		if reading {
			go func() {
				defer close(readDone)
				_, _, _ = c.Read(context.Background())
			}()
		} else {
			close(readDone)
		}
		err := c.Close(StatusNormalClosure, "")
		<-readDone
		if err == nil || strings.Contains(err.Error(), "within") {
			t.Errorf("reader running %v: Close returned %v, want an error saying the connection ended", reading, err)
		}
	}
}
