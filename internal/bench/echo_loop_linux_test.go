//go:build linux

package bench

import (
	"context"
	"net"

	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// smallWindow accepts connections with a small receive buffer, so that
// a peer sending long messages has to wait for room.
type smallWindow struct{ net.Listener }

func (l smallWindow) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(128 << 10)
	}
	return c, err
}

// wsServer runs handle for every WebSocket connection and waits for the
// handlers at cleanup. With small, its sockets' receive buffers are small.
func wsServer(t *testing.T, small bool, handle func(ctx context.Context, c *websocket.Conn)) *Target {
	t.Helper()
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		closed bool
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if closed {
			mu.Unlock()
			return
		}
		wg.Add(1)
		mu.Unlock()
		defer wg.Done()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{ReadLimit: 64 << 20})
		if err != nil {
			return
		}
		defer c.CloseNow()
		handle(r.Context(), c)
	}))
	if small {
		srv.Listener = smallWindow{srv.Listener}
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		closed = true
		mu.Unlock()
		wg.Wait()
	})
	tg, err := ParseTarget("ws" + strings.TrimPrefix(srv.URL, "http") + "/")
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// TestEchoLoopsAreUsed: on Linux a closed loop over ws:// runs on the
// loops, and Goroutines, wss:// or a rate turn them off.
func TestEchoLoopsAreUsed(t *testing.T) {
	ws, _ := ParseTarget("ws://127.0.0.1:1/")
	wss, _ := ParseTarget("wss://127.0.0.1:1/")
	for _, tc := range []struct {
		t    *Target
		cfg  EchoConfig
		want bool
	}{
		{ws, EchoConfig{}, true},
		{ws, EchoConfig{Goroutines: true}, false},
		{ws, EchoConfig{Rate: 100}, false},
		{wss, EchoConfig{}, false},
	} {
		if got := loopsUsable(tc.t, &tc.cfg); got != tc.want {
			t.Errorf("%s %+v: loops %v, want %v", tc.t.URL, tc.cfg, got, tc.want)
		}
	}
}

// TestEchoLoopsMatchGoroutines: every way of driving connections sends,
// receives and times every message of a count, in flight one or several,
// and says which way it took.
func TestEchoLoopsMatchGoroutines(t *testing.T) {
	tg := echoServer(t, false)
	for _, tc := range []struct {
		goroutines, noRing bool
		engine             string
	}{
		{false, false, "loops+io_uring"},
		{false, true, "loops"},
		{true, false, "goroutines"},
	} {
		for _, inflight := range []int{1, 8} {
			cfg := EchoConfig{Conns: 5, InFlight: inflight, Size: 300, Count: 1003, Goroutines: tc.goroutines, NoIOUring: tc.noRing}
			r := runEchoOnce(t, tg, cfg, Plan{})
			if r.Sent != 1003 || r.Received != 1003 || r.Hist.Count() != 1003 || r.Errors != 0 || r.Conns != 5 {
				t.Fatalf("%+v inflight=%d: %+v", tc, inflight, r)
			}
			if r.Engine != tc.engine && !(tc.engine == "loops+io_uring" && r.Engine == "loops" && !ciRun()) {
				t.Fatalf("%+v: engine %q, want %q", tc, r.Engine, tc.engine)
			}
		}
	}
}

// ciRun reports a CI run, where a kernel without io_uring fails the
// tests that need it instead of passing without it.
func ciRun() bool { return os.Getenv("CI") == "true" }

// TestEchoLoopsLongMessages: messages the socket does not take in one
// write are finished when it has room (EPOLLOUT), and their echoes,
// longer than the read buffer, are checked as they arrive.
func TestEchoLoopsLongMessages(t *testing.T) {
	tg := echoServer(t, false)
	for _, noRing := range []bool{false, true} {
		before := loopShortWrites.Load()
		r := runEchoOnce(t, tg, EchoConfig{Conns: 3, InFlight: 1, Size: 4 << 20, Count: 9, NoIOUring: noRing}, Plan{})
		if r.Sent != 9 || r.Received != 9 || r.Errors != 0 {
			t.Fatalf("no ring %v: %+v", noRing, r)
		}
		if loopShortWrites.Load() == before {
			t.Fatalf("no ring %v: every 4 MiB message went in one write: the EPOLLOUT path was not taken", noRing)
		}
	}
}

// TestEchoLoopsAnswerPings: pings from the server are answered, and a
// pong due while a long message is half written goes after it (in the
// middle of the message's frame it would be a protocol error to the
// server, which then fails the connection).
func TestEchoLoopsAnswerPings(t *testing.T) {
	var pongs atomic.Int64
	tg := wsServer(t, true, func(ctx context.Context, c *websocket.Conn) {
		pctx, cancel := context.WithCancel(ctx)
		var pinger sync.WaitGroup
		pinger.Add(1)
		go func() {
			defer pinger.Done()
			for pctx.Err() == nil {
				if _, err := c.Ping(pctx); err == nil {
					pongs.Add(1)
				}
				time.Sleep(100 * time.Microsecond)
			}
		}()
		defer pinger.Wait()
		defer cancel()
		for {
			typ, p, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, p); err != nil {
				return
			}
		}
	})
	behind := loopPongsBehind.Load()
	r := runEchoOnce(t, tg, EchoConfig{Conns: 2, InFlight: 1, Size: 4 << 20, Count: 8}, Plan{})
	if r.Sent != 8 || r.Received != 8 || r.Errors != 0 {
		t.Fatalf("%+v", r)
	}
	if pongs.Load() == 0 {
		t.Fatal("no pong came back")
	}
	if loopPongsBehind.Load() == behind {
		t.Fatal("no pong was due while a message was half written: the test did not test that")
	}
}

// TestEchoLoopsStalledServer: a connection whose echo does not come
// within the timeout fails with that error, and the run ends.
func TestEchoLoopsStalledServer(t *testing.T) {
	tg := wsServer(t, false, func(ctx context.Context, c *websocket.Conn) {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	})
	r := runEchoOnce(t, tg, EchoConfig{Conns: 2, InFlight: 1, Size: 10, Count: 10, Timeout: 300 * time.Millisecond}, Plan{})
	if r.Received != 0 || r.Errors != 2 || len(r.ErrorSamples) != 1 || !strings.Contains(r.ErrorSamples[0], "no echo within 300ms") {
		t.Fatalf("%+v", r)
	}
}

// TestEchoLoopsServerCloses: the server's close frame ends its
// connection with an error naming the code.
func TestEchoLoopsServerCloses(t *testing.T) {
	tg := wsServer(t, false, func(ctx context.Context, c *websocket.Conn) {
		for range 3 {
			typ, p, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, p); err != nil {
				return
			}
		}
		c.Close(websocket.StatusGoingAway, "bye")
	})
	r := runEchoOnce(t, tg, EchoConfig{Conns: 2, InFlight: 1, Size: 10, Count: 100}, Plan{})
	if r.Received != 6 || r.Errors != 2 || len(r.ErrorSamples) != 1 || !strings.Contains(r.ErrorSamples[0], "closed the connection: 1001") {
		t.Fatalf("%+v", r)
	}
}

// TestEchoLoopsCancel: cancelling the run ends the loops with the
// connections, and the run reports the cancellation.
func TestEchoLoopsCancel(t *testing.T) {
	tg := slowEchoServer(t, 50*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	ctl := NewControl()
	done := make(chan error, 1)
	go func() {
		_, err := RunEcho(ctx, tg, EchoConfig{Conns: 3, InFlight: 1, Size: 10}, ctl)
		done <- err
	}()
	<-ctl.Ready()
	ctl.Start()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the run did not end after cancellation")
	}
}
