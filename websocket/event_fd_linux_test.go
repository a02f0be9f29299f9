//go:build linux

package websocket

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// servedConns starts a server on a one-goroutine loop and returns its URL
// and the server side of each connection as the loop takes it.
func servedConns(t *testing.T, opts *AcceptOptions, h EventHandler) (string, chan *Conn) {
	t.Helper()
	return servedConnsOpts(t, EventLoopOptions{Loops: 1}, opts, h)
}

// servedConnsOpts is servedConns with a loop made with lopts.
func servedConnsOpts(t *testing.T, lopts EventLoopOptions, opts *AcceptOptions, h EventHandler) (string, chan *Conn) {
	t.Helper()
	loop, err := NewEventLoop(lopts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loop.Close() })
	conns := make(chan *Conn, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			return
		}
		if err := loop.Serve(c, h); err != nil {
			t.Errorf("Serve: %v", err)
			return
		}
		conns <- c
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), conns
}

// TestEventSlowReader fills the socket buffers of a peer that does not
// read: the writer waits for room without holding the loop, which keeps
// serving another connection, and finishes once the peer reads.
func TestEventSlowReader(t *testing.T) {
	rec := newRecorder(true)
	url, conns := servedConns(t, nil, rec)
	slow := dialRawPeer(t, url, "")
	sc := <-conns
	const msgs, size = 16, 1 << 20
	done := make(chan error, 1)
	go func() {
		p := bytes.Repeat([]byte{'s'}, size)
		for range msgs {
			if err := sc.Write(context.Background(), MessageBinary, p); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	// Meanwhile another connection of the same loop is served.
	fast := dialT(t, url, nil)
	ctx := context.Background()
	for i := range 20 {
		if err := fast.Write(ctx, MessageText, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, m, err := fast.Read(ctx); err != nil || string(m) != "ping" {
			t.Fatalf("echo %d while a writer waits: %q, %v", i, m, err)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the writer finished (%v) before the peer read anything: it did not wait", err)
	default:
	}
	for i := range msgs {
		op, p := slow.readFrame(t)
		if op != opBinary || len(p) != size || bytes.Count(p, []byte{'s'}) != size {
			t.Fatalf("message %d: %v of %d bytes", i, op, len(p))
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("writer: %v", err)
	}
}

// TestEventBlockedWriteCancelled cancels a write that waits for room.
func TestEventBlockedWriteCancelled(t *testing.T) {
	rec := newRecorder(false)
	url, conns := servedConns(t, nil, rec)
	dialRawPeer(t, url, "") // never reads
	sc := <-conns
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	p := make([]byte, 1<<20)
	var err error
	for i := 0; i < 64 && err == nil; i++ {
		err = sc.Write(ctx, MessageBinary, p)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked write: %v, want the context's deadline", err)
	}
	// A write cut in the middle closes the connection.
	if e := rec.waitClosed(t); !errors.Is(e.err, ErrClosed) {
		t.Errorf("OnClose: %v, want ErrClosed", e.err)
	}
}

// TestEventBlockedWriteClosed closes a connection whose writer waits.
func TestEventBlockedWriteClosed(t *testing.T) {
	rec := newRecorder(false)
	url, conns := servedConns(t, nil, rec)
	dialRawPeer(t, url, "")
	sc := <-conns
	errc := make(chan error, 1)
	go func() {
		p := make([]byte, 1<<20)
		for {
			if err := sc.Write(context.Background(), MessageBinary, p); err != nil {
				errc <- err
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	_ = sc.CloseNow()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("write: %v, want one wrapping net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the blocked writer did not return after CloseNow")
	}
	rec.waitClosed(t)
}

func TestEventAddrs(t *testing.T) {
	rec := newRecorder(false)
	url, conns := servedConns(t, nil, rec)
	p := dialRawPeer(t, url, "")
	sc := <-conns
	if got, want := sc.RemoteAddr().String(), p.nc.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr %s, want %s", got, want)
	}
	if got, want := sc.LocalAddr().String(), p.nc.RemoteAddr().String(); got != want {
		t.Errorf("LocalAddr %s, want %s", got, want)
	}
	p.nc.Close()
	e := rec.waitClosed(t)
	if !errors.Is(e.err, io.ErrUnexpectedEOF) {
		t.Errorf("OnClose: %v", e.err)
	}
	// Still answers after the end.
	if sc.RemoteAddr().String() != p.nc.LocalAddr().String() {
		t.Errorf("RemoteAddr after close: %s", sc.RemoteAddr())
	}
}
