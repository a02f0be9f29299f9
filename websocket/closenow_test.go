package websocket

import (
	"context"
	"errors"
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
