package websocket

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the writes made on a net.Conn.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// corkPair returns a server Conn in the default mode over loopback TCP,
// its write counter, and the client's raw end.
func corkPair(t *testing.T) (*Conn, *countingConn, net.Conn) {
	t.Helper()
	var cc *countingConn
	c, raw := tcpServerConn(t, func(nc net.Conn) net.Conn {
		cc = &countingConn{Conn: nc}
		return cc
	})
	return c, cc, raw
}

// tcpServerConn returns a server Conn in the default mode over loopback
// TCP, its transport passed through wrap (nil: none), and the client's
// raw end.
func tcpServerConn(t *testing.T, wrap func(net.Conn) net.Conn) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		sc = wrap(sc)
	}
	c := newConn(sc, false, newConnConfig(0, time.Second, 0, 0, 0, 0), nil)
	t.Cleanup(func() { c.CloseNow() })
	return c, raw
}

// readServerFrames reads n unmasked frames from the server and returns
// their payloads.
func readServerFrames(t *testing.T, raw net.Conn, n int) [][]byte {
	t.Helper()
	rc := newConn(raw, true, newConnConfig(0, time.Second, 0, 0, 0, 0), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out [][]byte
	for range n {
		_, p, err := rc.Read(ctx)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(out), err)
		}
		out = append(out, p)
	}
	return out
}

// echoLoop echoes n messages (n < 0: until an error) the way the default
// mode is used: ReadInto, then Write of the same bytes.
func echoLoop(ctx context.Context, c *Conn, n int) error {
	var buf []byte
	for i := 0; n < 0 || i < n; i++ {
		typ, p, err := c.ReadInto(ctx, buf)
		if err != nil {
			return err
		}
		buf = p
		if err := c.Write(ctx, typ, p); err != nil {
			return err
		}
	}
	return nil
}

// bufferTwo sends two text messages in one segment and reads the first, so
// that the second is buffered behind it.
func bufferTwo(t *testing.T, c *Conn, raw net.Conn, first, second string) {
	t.Helper()
	in := append(clientFrames(MessageText, []byte(first), 1), clientFrames(MessageText, []byte(second), 1)...)
	if _, err := raw.Write(in); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.Read(context.Background()); err != nil || string(p) != first {
		t.Fatalf("read %q, %v", p, err)
	}
}

// TestCorkOneWritePerRead: sixteen messages that arrive in one segment
// are echoed by a ReadInto and Write loop in one write(2), not sixteen,
// intact and in order.
func TestCorkOneWritePerRead(t *testing.T) {
	c, cc, raw := corkPair(t)
	const n = 16
	var in []byte
	for i := range n {
		in = append(in, clientFrames(MessageBinary, []byte(fmt.Sprintf("message %02d", i)), 1)...)
	}
	if _, err := raw.Write(in); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- echoLoop(context.Background(), c, n) }()
	got := readServerFrames(t, raw, n)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, p := range got {
		if want := fmt.Sprintf("message %02d", i); string(p) != want {
			t.Fatalf("echo %d is %q, want %q", i, p, want)
		}
	}
	// The segment may be split on its way; it came in one here (and the
	// last message's echo is sent when nothing more is buffered).
	if w := cc.writes.Load(); w > 2 {
		t.Errorf("%d writes for %d echoes of one read; want 1 or 2", w, n)
	}
}

// TestCorkOneAtATime: with one message in flight, every echo leaves at
// once: nothing is buffered behind the message, so nothing waits.
func TestCorkOneAtATime(t *testing.T) {
	c, cc, raw := corkPair(t)
	rc := newConn(raw, true, newConnConfig(0, time.Second, 0, 0, 0, 0), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _ = echoLoop(ctx, c, -1) }()
	for i := range 20 {
		msg := []byte(fmt.Sprint(i))
		if err := rc.Write(ctx, MessageText, msg); err != nil {
			t.Fatal(err)
		}
		if _, p, err := rc.Read(ctx); err != nil || !bytes.Equal(p, msg) {
			t.Fatalf("echo %d: %q, %v", i, p, err)
		}
	}
	if w := cc.writes.Load(); w != 20 {
		t.Errorf("%d writes for 20 echoes one at a time", w)
	}
}

// TestCorkReaderGone: the reader has a second message buffered but does
// not come back for it; the answer to the first still goes out (after
// corkDelay), as do frames written after it from another goroutine.
func TestCorkReaderGone(t *testing.T) {
	c, _, raw := corkPair(t)
	bufferTwo(t, c, raw, "one", "two")
	ctx := context.Background()
	if c.io.Load()&ioMoreInput == 0 {
		t.Fatal("the second message is buffered, but the reader does not say so")
	}
	if err := c.Write(ctx, MessageText, []byte("answer")); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Write(ctx, MessageText, []byte("later")) }()
	got := readServerFrames(t, raw, 2)
	if string(got[0]) != "answer" || string(got[1]) != "later" {
		t.Fatalf("got %q", got)
	}
}

// TestCorkOrderAndClose: frames corked before a prepared message, a long
// message and the close frame leave before them, in the order written.
func TestCorkOrderAndClose(t *testing.T) {
	c, _, raw := corkPair(t)
	bufferTwo(t, c, raw, "a", "b")
	ctx := context.Background()
	long := bytes.Repeat([]byte("L"), corkMax+1)
	pm := NewPreparedMessage(MessageText, []byte("prepared"))
	steps := []func() error{
		func() error { return c.Write(ctx, MessageText, []byte("1")) },
		func() error { return c.WritePrepared(ctx, pm) },
		func() error { return c.Write(ctx, MessageText, []byte("2")) },
		func() error { return c.Write(ctx, MessageText, long) },
		func() error { return c.Write(ctx, MessageText, []byte("3")) },
		func() error { return c.WritePreparedBatch(ctx, []*PreparedMessage{pm, pm}) },
		func() error { return c.Write(ctx, MessageText, []byte("4")) },
	}
	for i, f := range steps {
		if err := f(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- c.writeClose(StatusNormalClosure, "bye") }()
	rc := newConn(raw, true, newConnConfig(0, time.Second, 0, 0, 0, 0), nil)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	want := []string{"1", "prepared", "2", string(long), "3", "prepared", "prepared", "4"}
	for i, w := range want {
		_, p, err := rc.Read(rctx)
		if err != nil || string(p) != w {
			t.Fatalf("message %d: %.20q, %v; want %.20q", i, p, err, w)
		}
	}
	if _, _, err := rc.Read(rctx); CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("after the messages: %v, want the close frame", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// TestCorkConcurrentWriters: while a reader echoes a stream of pipelined
// messages, other goroutines write too; every message arrives, each
// writer's in its order.
func TestCorkConcurrentWriters(t *testing.T) {
	c, _, raw := corkPair(t)
	const echoes, writers, each = 400, 3, 100
	go func() {
		var in []byte
		for i := range echoes {
			in = append(in, clientFrames(MessageText, []byte(fmt.Sprintf("e%d", i)), 1)...)
			if i%16 == 15 {
				if _, err := raw.Write(in); err != nil {
					return
				}
				in = in[:0]
			}
		}
		_, _ = raw.Write(in)
	}()
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Add(1 + writers)
	go func() {
		defer wg.Done()
		_ = echoLoop(ctx, c, echoes)
	}()
	for w := range writers {
		go func() {
			defer wg.Done()
			for i := range each {
				if c.Write(ctx, MessageText, []byte(fmt.Sprintf("w%d-%d", w, i))) != nil {
					return
				}
			}
		}()
	}
	got := readServerFrames(t, raw, echoes+writers*each)
	wg.Wait()
	next := map[byte]int{}
	seen := map[string]int{}
	for _, p := range got {
		s := string(p)
		switch s[0] {
		case 'e':
			if want := fmt.Sprintf("e%d", next['e']); s != want {
				t.Fatalf("echo %q out of order, want %q", s, want)
			}
			next['e']++
		case 'w':
			seen[s[:2]]++
		}
	}
	for w := range writers {
		if n := seen[fmt.Sprintf("w%d", w)]; n != each {
			t.Errorf("writer %d: %d messages arrived, want %d", w, n, each)
		}
	}
}

// TestCorkThenServe: a connection read in the default mode, with an
// answer corked behind a buffered message, is then handed to an
// EventLoop; the answer goes out first, on the same connection, the
// buffered message reaches the loop's handler, and the loop's writes no
// longer wait for a reader that is gone.
func TestCorkThenServe(t *testing.T) {
	loop, err := NewEventLoop(EventLoopOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loop.Close() })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		ctx := r.Context()
		if _, p, err := c.Read(ctx); err != nil || string(p) != "one" {
			t.Errorf("first message %q, %v", p, err)
			c.CloseNow()
			return
		}
		if c.io.Load()&ioMoreInput == 0 {
			t.Error("the second message is not buffered; the test needs both in one read")
		}
		if err := c.Write(ctx, MessageText, []byte("answer")); err != nil {
			t.Error(err)
		}
		if err := loop.Serve(c, echoBack{}); err != nil {
			t.Errorf("Serve: %v", err)
			c.CloseNow()
		}
		// Else every write of the loop would wait in the cork for its
		// timer: the default mode's reader, which sends it, is gone.
		if c.io.Load()&ioMoreInput != 0 {
			t.Error("served, the connection still says its reader has input buffered")
		}
	}))
	t.Cleanup(srv.Close)
	p := dialRawPeer(t, "ws"+strings.TrimPrefix(srv.URL, "http"), "")
	p.send(t, clientFrames(MessageText, []byte("one"), 1), clientFrames(MessageText, []byte("two"), 1))
	for _, want := range []string{"answer", "two"} {
		if op, got := p.readFrame(t); op != opText || string(got) != want {
			t.Fatalf("got %v %q, want %q", op, got, want)
		}
	}
}
