//go:build linux

package websocket

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeSyscalls is the number of write system calls (write, writev, ...)
// the process has made, from /proc/self/io.
func writeSyscalls(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Fatalf("reading /proc/self/io: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		var n int64
		if _, err := fmt.Sscanf(line, "syscw: %d", &n); err == nil {
			return n
		}
	}
	t.Fatalf("no syscw in /proc/self/io:\n%s", b)
	return 0
}

// newEpollLoopT is an epoll EventLoop with one loop and a buffer that holds
// a whole burst of small frames.
func newEpollLoopT(t *testing.T) *EventLoop {
	t.Helper()
	l, err := NewEventLoop(EventLoopOptions{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.b.(*epollBackend); !ok {
		t.Fatalf("NewEventLoop on Linux made a %T, want the epoll backend", l.b)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestEventCorkOneWritePerRead sends 200 messages and a ping in one TCP
// write; the loop reads them in one go, and the 200 echoes and the pong must
// leave in a handful of write system calls, not one each.
func TestEventCorkOneWritePerRead(t *testing.T) {
	loop := newEpollLoopT(t)
	url := serveLoop(t, loop, nil, echoBack{})
	p := dialRawPeer(t, url, "")

	const n = 200
	var burst [][]byte
	for i := range n {
		burst = append(burst, clientFrame(true, opBinary, fmt.Appendf(nil, "message %03d", i)))
	}
	burst = append(burst, clientFrame(true, opPing, []byte("after")))

	before := writeSyscalls(t)
	p.send(t, burst...)
	for i := range n {
		op, got := p.readFrame(t)
		if want := fmt.Sprintf("message %03d", i); op != opBinary || string(got) != want {
			t.Fatalf("frame %d: opcode %v %q, want a binary echo %q", i, op, got, want)
		}
	}
	if op, got := p.readFrame(t); op != opPong || string(got) != "after" {
		t.Fatalf("after the echoes: opcode %v %q, want the pong", op, got)
	}
	writes := writeSyscalls(t) - before
	t.Logf("%d write system calls for one burst of %d messages and a ping (the client's write included)", writes, n)
	// One for the burst, one or a few for the answers (a read of the burst
	// may be split), and slack for the runtime's own wake-ups; without
	// corking it is at least n+2.
	if writes > 20 {
		t.Errorf("%d write system calls for %d echoes: the answers to one read are not gathered", writes, n)
	}
}

// orderHandler writes "a i" from the loop for message i and asks a
// goroutine to write "b i" after it: the b frame must never overtake the a
// frame, which may still be corked when the goroutine writes.
type orderHandler struct {
	next chan *Conn
}

func (h orderHandler) OnMessage(c *Conn, _ MessageType, p []byte) {
	_ = c.Write(context.Background(), MessageText, append([]byte("a "), p...))
	h.next <- c
}

func (orderHandler) OnClose(*Conn, error) {}

func TestEventCorkKeepsOrderWithOtherWriters(t *testing.T) {
	loop := newEpollLoopT(t)
	h := orderHandler{next: make(chan *Conn, 1000)}
	url := serveLoop(t, loop, nil, h)
	p := dialRawPeer(t, url, "")

	const n = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			c := <-h.next
			_ = c.Write(context.Background(), MessageText, fmt.Appendf(nil, "b %d", i))
		}
	}()
	var burst [][]byte
	for i := range n {
		burst = append(burst, clientFrame(true, opText, fmt.Appendf(nil, "%d", i)))
	}
	p.send(t, burst...)

	seenA := make(map[int]bool)
	for range 2 * n {
		op, got := p.readFrame(t)
		if op != opText {
			t.Fatalf("opcode %v, want text", op)
		}
		var kind string
		var i int
		if _, err := fmt.Sscanf(string(got), "%s %d", &kind, &i); err != nil {
			t.Fatalf("frame %q: %v", got, err)
		}
		switch kind {
		case "a":
			seenA[i] = true
		case "b":
			if !seenA[i] {
				t.Fatalf("%q arrived before %q, which was written first", got, fmt.Sprintf("a %d", i))
			}
		}
	}
	<-done
}

// A frame written from the handler is sent even when the handler ends the
// connection right after it (CloseNow), and a close frame written by Close
// right after a message follows it.
func TestEventCorkFlushedBeforeClose(t *testing.T) {
	for _, mode := range []string{"CloseNow", "Close"} {
		t.Run(mode, func(t *testing.T) {
			loop := newEpollLoopT(t)
			rec := newRecorder(false)
			rec.onMsg = func(c *Conn, typ MessageType, p []byte) {
				_ = c.Write(context.Background(), typ, p)
				if mode == "CloseNow" {
					_ = c.CloseNow()
				} else {
					_ = c.Close(StatusGoingAway, "bye")
				}
			}
			url := serveLoop(t, loop, nil, rec)
			p := dialRawPeer(t, url, "")
			p.send(t, clientFrame(true, opText, []byte("last words")))
			op, got := p.readFrame(t)
			if op != opText || string(got) != "last words" {
				t.Fatalf("got opcode %v %q, want the echo", op, got)
			}
			if mode == "CloseNow" {
				if _, _, err := p.tryReadFrame(); err != io.EOF {
					t.Fatalf("after the echo: %v, want the end of the connection", err)
				}
				return
			}
			if code := p.readClose(t); code != StatusGoingAway {
				t.Fatalf("close code %d, want %d", code, StatusGoingAway)
			}
		})
	}
}

// A protocol error in the middle of a burst: the echoes of the messages
// before it and the close frame with 1002 all arrive, in that order.
func TestEventCorkFailureAfterEchoes(t *testing.T) {
	loop := newEpollLoopT(t)
	url := serveLoop(t, loop, nil, echoBack{})
	p := dialRawPeer(t, url, "")
	var burst [][]byte
	for i := range 10 {
		burst = append(burst, clientFrame(true, opText, fmt.Appendf(nil, "%d", i)))
	}
	burst = append(burst, clientFrame(true, opcode(3), nil)) // reserved opcode
	p.send(t, burst...)
	for i := range 10 {
		op, got := p.readFrame(t)
		if op != opText || string(got) != fmt.Sprint(i) {
			t.Fatalf("frame %d: opcode %v %q, want the echo", i, op, got)
		}
	}
	if code := p.readClose(t); code != StatusProtocolError {
		t.Fatalf("close code %d, want %d", code, StatusProtocolError)
	}
}

// A peer that reads nothing while the loop's answers are corked: the
// flush waits for room, and ends when the peer goes away; the loop then
// serves its other connections.
func TestEventCorkStalledPeer(t *testing.T) {
	loop := newEpollLoopT(t)
	url := serveLoop(t, loop, nil, echoBack{})
	stalled := dialRawPeer(t, url, "")
	other := dialRawPeer(t, url, "")
	_ = stalled.nc.SetDeadline(time.Time{})

	// Fill the stalled peer's receive window and our send buffer with
	// echoes it never reads.
	payload := bytes.Repeat([]byte("x"), 1000)
	var burst [][]byte
	for range 32 {
		burst = append(burst, clientFrame(true, opBinary, payload))
	}
	sent := make(chan error, 1)
	go func() {
		for range 400 {
			if _, err := stalled.nc.Write(bytes.Join(burst, nil)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	// Wait until the server stops taking the stalled peer's bytes.
	time.Sleep(200 * time.Millisecond)
	_ = stalled.nc.Close()
	<-sent
	for i := range 20 {
		other.send(t, clientFrame(true, opText, fmt.Appendf(nil, "%d", i)))
		if op, got := other.readFrame(t); op != opText || string(got) != fmt.Sprint(i) {
			t.Fatalf("other connection, message %d: opcode %v %q", i, op, got)
		}
	}
}

// TestEventCorkCostlyWrites: corked frames behind a costly one (a
// compressed message) leave once it has waited corkHold, if the loop has
// the connection to itself; a busy loop keeps them to the input's end.
func TestEventCorkCostlyWrites(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fds[0]); syscall.Close(fds[1]) })
	f := &fdConn{fd: int32(fds[0])}
	peer := func() string {
		b := make([]byte, 64)
		n, err := syscall.Read(fds[1], b)
		if err == syscall.EAGAIN {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(b[:n])
	}
	write := func(s string) {
		if _, err := f.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		f.noteCostlyWrite()
	}
	for _, idle := range []bool{true, false} {
		f.cork(idle)
		write("a")
		time.Sleep(2 * corkHold)
		if got := peer(); got != "" {
			t.Fatalf("idle %v: %q sent with nothing behind it yet", idle, got)
		}
		write("b")
		want := "ab"
		if !idle {
			want = "" // a busy loop keeps them corked
		}
		if got := peer(); got != want {
			t.Fatalf("idle %v: after a costly frame waited, the peer got %q, want %q", idle, got, want)
		}
		write("c")
		if err := f.uncork(); err != nil {
			t.Fatal(err)
		}
		want = "c"
		if !idle {
			want = "abc"
		}
		if got := peer(); got != want {
			t.Fatalf("idle %v: at the input's end the peer got %q, want %q", idle, got, want)
		}
	}
}
