//go:build linux

package websocket

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// connsByName records the server side of each connection by the first
// message its peer sends, and echoes every message.
type connsByName struct {
	mu     sync.Mutex
	conns  map[string]*Conn
	closed chan *Conn
	seen   chan string // short text messages, as they come, if room
}

func newConnsByName() *connsByName {
	return &connsByName{conns: map[string]*Conn{}, closed: make(chan *Conn, 8), seen: make(chan string, 16)}
}

func (h *connsByName) OnMessage(c *Conn, typ MessageType, p []byte) {
	h.mu.Lock()
	if len(p) < 16 {
		if _, ok := h.conns[string(p)]; !ok {
			h.conns[string(p)] = c
		}
	}
	h.mu.Unlock()
	if typ == MessageText && len(p) < 16 {
		select {
		case h.seen <- string(p):
		default:
		}
	}
	_ = c.Write(context.Background(), typ, p)
}

func (h *connsByName) OnClose(c *Conn, _ error) { h.closed <- c }

func (h *connsByName) conn(name string) *Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[name]
}

// namedPeer dials a raw peer that introduces itself with name and reads
// the echo; with a small receive buffer when slow is set.
func namedPeer(t *testing.T, url, name string, slow bool) *rawPeer {
	t.Helper()
	d := &net.Dialer{}
	if slow {
		// Set before the connection is made: a receive buffer shrunk
		// on an open connection can leave the sender probing a zero
		// window for seconds after the reader has emptied it.
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var err error
			if cerr := rc.Control(func(fd uintptr) {
				err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
			}); cerr != nil {
				return cerr
			}
			return err
		}
	}
	p := dialRawPeerVia(t, d, url, "")
	_ = p.nc.SetDeadline(time.Now().Add(60 * time.Second))
	p.send(t, clientFrame(true, opText, []byte(name)))
	if _, got := p.readFrame(t); string(got) != name {
		t.Fatalf("%s: echo %q", name, got)
	}
	return p
}

// slowAndOther serves a loop of one goroutine that echoes (connsByName)
// and dials two peers: "slow", with a small receive buffer, and "fast".
// A second connection also lets the loop queue (queueRest).
func slowAndOther(t *testing.T, opts *AcceptOptions) (h *connsByName, slow, fast *rawPeer) {
	t.Helper()
	h = newConnsByName()
	url := serveLoop(t, newEpollLoopT(t), opts, h)
	return h, namedPeer(t, url, "slow", true), namedPeer(t, url, "fast", false)
}

// mustEcho sends msg from p and wants it back.
func mustEcho(t *testing.T, p *rawPeer, msg, what string) {
	t.Helper()
	p.send(t, clientFrame(true, opText, []byte(msg)))
	if _, got, err := p.tryReadFrame(); err != nil || string(got) != msg {
		t.Fatalf("%s: %q, %v", what, got, err)
	}
}

// waitFor polls cond until it holds; the test fails after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("never: %s", what)
		}
	}
}

// numbered is message i of a stream: its number, then filler.
func numbered(i, size int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, size)
	binary.BigEndian.PutUint32(b, uint32(i))
	return b
}

// TestEventSlowReaderQueues: a peer sends echo requests and reads none of
// the answers. Its answers fill the socket buffers, then its write queue,
// and the loop stops reading it; another connection of the same loop is
// still served. When the slow peer reads at last, every answer arrives, in
// order, and every request it sent is answered. Before the queue, the
// loop's handler waited for room in the slow peer's socket, and the other
// connection waited with it.
func TestEventSlowReaderQueues(t *testing.T) {
	h, slow, fast := slowAndOther(t, nil)
	before := backlogsQueued.Load()

	const n, size = 400, 32 << 10 // 12.5 MiB of answers
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := slow.nc.Write(clientFrame(true, opBinary, numbered(i, size))); err != nil {
				sent <- fmt.Errorf("request %d: %w", i, err)
				return
			}
		}
		sent <- nil
	}()
	sc := h.conn("slow")
	waitFor(t, "the slow peer's answers queued and its input held", func() bool {
		return backlogsQueued.Load() > before && sc.ev.Load().fdc.inputHeld()
	})

	for i := range 3 {
		mustEcho(t, fast, fmt.Sprintf("fast %d", i), "the other connection (the loop waits for the slow reader)")
	}

	for i := range n {
		op, got, err := slow.tryReadFrame()
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if op != opBinary || !bytes.Equal(got, numbered(i, size)) {
			t.Fatalf("answer %d: %v of %d bytes, not request %d", i, op, len(got), i)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	mustEcho(t, slow, "after", "after the queue drained")
}

// TestEventWriterWaitingHoldsInput: a goroutine writes more to a
// connection than its socket buffers and write queue hold while the peer
// does not read, so it waits for room holding the connection's write
// lock. The peer sends meanwhile: the loop leaves that input unread (a
// handler answering it would wait for the writer) and goes on serving
// another connection. Once the peer reads, everything arrives and its
// message is answered.
func TestEventWriterWaitingHoldsInput(t *testing.T) {
	h, slow, fast := slowAndOther(t, nil)

	const n, size = 24, 256 << 10 // 6 MiB, past the 1 MiB queue
	sc := h.conn("slow")
	wrote := make(chan error, 1)
	go func() {
		for i := range n {
			if err := sc.Write(context.Background(), MessageBinary, numbered(i, size)); err != nil {
				wrote <- fmt.Errorf("message %d: %w", i, err)
				return
			}
		}
		wrote <- nil
	}()
	fdc := &sc.ev.Load().fdc
	waitFor(t, "the writer waiting for room", func() bool {
		return fdc.hold.Load()&holdOut != 0
	})
	slow.send(t, clientFrame(true, opText, []byte("meanwhile")))
	waitFor(t, "the loop leaving the slow peer's input unread", fdc.inputHeld)

	mustEcho(t, fast, "fast", "the other connection (the loop waits for the writer)")

	next, answered := 0, false
	for next < n || !answered {
		op, got, err := slow.tryReadFrame()
		if err != nil {
			t.Fatalf("after %d messages: %v", next, err)
		}
		switch {
		case op == opText && string(got) == "meanwhile" && !answered:
			answered = true
		case op == opBinary && next < n && bytes.Equal(got, numbered(next, size)):
			next++
		default:
			t.Fatalf("after %d messages: %v of %d bytes", next, op, len(got))
		}
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}

// TestEventCloseNowWithBacklog: a connection whose peer left a backlog
// unread ends at once on CloseNow, and OnClose is called; the loop is not
// held for the close timeout sending what the peer does not read.
func TestEventCloseNowWithBacklog(t *testing.T) {
	h, slow, fast := slowAndOther(t, &AcceptOptions{CloseTimeout: time.Hour})
	sc := h.conn("slow")
	go func() {
		for i := 0; ; i++ {
			if _, err := slow.nc.Write(clientFrame(true, opBinary, numbered(i, 32<<10))); err != nil {
				return
			}
		}
	}()
	waitFor(t, "a backlog", sc.ev.Load().fdc.inputHeld)
	if err := sc.CloseNow(); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-h.closed:
		if c != sc {
			t.Fatal("OnClose for another connection")
		}
	case <-time.After(time.Minute):
		t.Fatal("OnClose never came")
	}
	mustEcho(t, fast, "fast", "the other connection")
}

// TestEventBacklogManyWriters: goroutines write many short messages to a
// connection whose peer reads slowly, so that the loop sends the backlog
// while they add to it. Every message must arrive, each writer's in its
// order: a backlog the loop stopped watching for room would leave the
// peer waiting for ever.
func TestEventBacklogManyWriters(t *testing.T) {
	h, slow, _ := slowAndOther(t, nil)
	sc := h.conn("slow")
	before := backlogsQueued.Load()

	const writers, each, size = 4, 3000, 1 << 10
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range each {
				b := numbered(i, size)
				b[4] = byte(w)
				if err := sc.Write(context.Background(), MessageBinary, b); err != nil {
					errs <- fmt.Errorf("writer %d, message %d: %w", w, i, err)
					return
				}
			}
			errs <- nil
		}()
	}
	// Nothing is read until the buffers are full and writes queue.
	waitFor(t, "a write queued", func() bool { return backlogsQueued.Load() > before })
	next := make([]int, writers)
	for got := 0; got < writers*each; got++ {
		if got%500 == 0 {
			time.Sleep(2 * time.Millisecond) // a slow reader
		}
		op, p, err := slow.tryReadFrame()
		if err != nil {
			t.Fatalf("after %d messages: %v", got, err)
		}
		if op != opBinary || len(p) != size {
			t.Fatalf("after %d messages: %v of %d bytes", got, op, len(p))
		}
		w, i := int(p[4]), int(binary.BigEndian.Uint32(p))
		if w >= writers || i != next[w] {
			t.Fatalf("writer %d's message %d, want its %d", w, i, next[w])
		}
		next[w]++
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestEventShortBacklogKeepsReading: a backlog shorter than half the
// queue does not stop the loop reading the connection. The server's socket
// buffer is made small, a goroutine writes 256 KiB to a peer that does not
// read, and the peer sends a message: the handler must get it before the
// peer reads anything. The answer follows the long message.
func TestEventShortBacklogKeepsReading(t *testing.T) {
	h, slow, _ := slowAndOther(t, nil)
	for range 2 {
		<-h.seen // the two introductions
	}
	sc := h.conn("slow")
	fdc := &sc.ev.Load().fdc
	if err := syscall.SetsockoptInt(int(fdc.fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 16<<10); err != nil {
		t.Fatal(err)
	}
	before := backlogsQueued.Load()
	big := numbered(7, 256<<10)
	if err := sc.Write(context.Background(), MessageBinary, big); err != nil {
		t.Fatal(err)
	}
	if backlogsQueued.Load() == before {
		t.Fatal("the long write was not queued")
	}
	slow.send(t, clientFrame(true, opText, []byte("meanwhile")))
	select {
	case got := <-h.seen:
		if got != "meanwhile" {
			t.Fatalf("handler got %q", got)
		}
	case <-time.After(time.Minute):
		t.Fatal("the loop did not read the connection while a short backlog waited")
	}
	if fdc.inputHeld() {
		t.Fatal("input held with a short backlog")
	}
	if err := readFramesOf(slow, len(big), "", "meanwhile"); err != nil {
		t.Fatal(err)
	}
}
