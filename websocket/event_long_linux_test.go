//go:build linux

package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
)

// TestEventLongMessageRoom: after a long message, the next frame as long
// gets all its room as soon as its header is in (so that the rest of it is
// read straight into place), a longer one only as its bytes arrive, and a
// short message ends the hint.
func TestEventLongMessageRoom(t *testing.T) {
	cfg := newConnConfig(8<<20, 0, 0, 0, 0, 0)
	f := newFeedConn(t, cfg)
	long := bytes.Repeat([]byte("0123456789abcdef"), longMsgMin/16+100)
	if err := f.input(clientFrame(true, opBinary, long)); err != nil {
		t.Fatal(err)
	}
	if f.ec.lastLong != len(long) {
		t.Fatalf("lastLong %d after a message of %d bytes", f.ec.lastLong, len(long))
	}

	// The first few KiB of a frame of the same length: room for all of it.
	wire := clientFrame(true, opBinary, long)
	if err := f.input(wire[:headReadSize]); err != nil {
		t.Fatal(err)
	}
	if f.ec.msg == nil || cap(*f.ec.msg) < len(long) {
		t.Fatalf("after %d bytes of a %d-byte frame: room %d, want all of it", headReadSize, len(long), capOf(f.ec.msg))
	}
	if err := f.input(wire[headReadSize:]); err != nil {
		t.Fatal(err)
	}

	// A frame twice as long gets room as its bytes come, as any other.
	longer := append(bytes.Clone(long), long...)
	wire = clientFrame(true, opBinary, longer)
	if err := f.input(wire[:headReadSize]); err != nil {
		t.Fatal(err)
	}
	if got := capOf(f.ec.msg); got >= len(longer) {
		t.Fatalf("after %d bytes of a %d-byte frame longer than the last message: room %d", headReadSize, len(longer), got)
	}
	if err := f.input(wire[headReadSize:]); err != nil {
		t.Fatal(err)
	}
	if err := f.input(clientFrame(true, opText, []byte("short"))); err != nil {
		t.Fatal(err)
	}
	if f.ec.lastLong != 0 {
		t.Fatalf("lastLong %d after a short message", f.ec.lastLong)
	}
	msgs := f.rec.msgs[f.c]
	if len(msgs) != 4 || !bytes.Equal(msgs[0].p, long) || !bytes.Equal(msgs[1].p, long) ||
		!bytes.Equal(msgs[2].p, longer) || string(msgs[3].p) != "short" {
		t.Fatalf("delivered %d messages, not the four sent intact", len(msgs))
	}
}

func capOf(bp *[]byte) int {
	if bp == nil {
		return 0
	}
	return cap(*bp)
}

// TestEventLongAndShortEchoes sends long and short messages, back to back
// and one at a time, through an event loop: the reads that only look for a
// header after a long message lose nothing and mix nothing up.
func TestEventLongAndShortEchoes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, loop *EventLoop) {
		url := serveLoop(t, loop, &AcceptOptions{ReadLimit: 4 << 20}, echoBack{})
		c := dialT(t, url, &DialOptions{ReadLimit: 4 << 20})
		ctx := context.Background()
		sizes := []int{1 << 20, 1 << 20, 10, 300 << 10, 1<<20 + 7, 5, 5, 2 << 20, 64 << 10}
		msg := func(i, n int) []byte {
			p := make([]byte, n)
			for j := range p {
				p[j] = byte(i*31 + j)
			}
			return p
		}
		// Back to back, then one at a time.
		for i, n := range sizes {
			if err := c.Write(ctx, MessageBinary, msg(i, n)); err != nil {
				t.Fatal(err)
			}
		}
		for i, n := range sizes {
			if _, p, err := c.Read(ctx); err != nil || !bytes.Equal(p, msg(i, n)) {
				t.Fatalf("echo %d (%d bytes): %d bytes, %v", i, n, len(p), err)
			}
		}
		for i, n := range sizes {
			if err := c.Write(ctx, MessageBinary, msg(i, n)); err != nil {
				t.Fatal(err)
			}
			if _, p, err := c.Read(ctx); err != nil || !bytes.Equal(p, msg(i, n)) {
				t.Fatalf("echo %d (%d bytes) one at a time: %d bytes, %v", i, n, len(p), err)
			}
		}
	})
}

// budgetProbe echoes and, on the loop goroutine, records the most bytes
// the loop held in message buffers: those the budget counts and those of
// stalled connections. A text message "last" records what the budget
// counts at rest and is not echoed.
type budgetProbe struct {
	l *epollLoop

	mu                    sync.Mutex
	maxUsed, maxAll       int
	restUsed, restWaiting int
	rest                  chan struct{}
}

func (b *budgetProbe) OnMessage(c *Conn, typ MessageType, p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if typ == MessageText && string(p) == "last" {
		b.restUsed, b.restWaiting = b.l.budget.used, len(b.l.budget.waiting)
		close(b.rest)
		return
	}
	all := 0
	for _, ec := range b.l.conns {
		if ec != nil && ec.msg != nil {
			all += cap(*ec.msg)
		}
	}
	b.maxUsed = max(b.maxUsed, b.l.budget.used)
	b.maxAll = max(b.maxAll, all)
	_ = c.Write(context.Background(), typ, p)
}
func (b *budgetProbe) OnClose(*Conn, error) {}

// atRest is called once every echo came back: it sends the "last" marker
// on c, checks that nothing is left counted or waiting, and returns the
// most the budget counted and the most the loop held in message buffers.
func (b *budgetProbe) atRest(t *testing.T, c *Conn) (maxUsed, maxAll int) {
	t.Helper()
	if err := c.Write(context.Background(), MessageText, []byte("last")); err != nil {
		t.Fatal(err)
	}
	<-b.rest
	b.mu.Lock()
	defer b.mu.Unlock()
	t.Logf("most counted %d KiB, most held in all %d KiB", b.maxUsed>>10, b.maxAll>>10)
	if b.restUsed != 0 || b.restWaiting != 0 {
		t.Errorf("at rest the budget counts %d bytes and %d waiting connections", b.restUsed, b.restWaiting)
	}
	return b.maxUsed, b.maxAll
}

// TestEventPendingBudget: fifty connections send 1 MiB messages at once
// to a loop with a 2 MiB budget. Every message is echoed intact, the
// counted bytes stay within the budget and one message, what the stalled
// connections hold stays near a read's header each, and nothing is left
// counted at the end. Without the budget the loop held about 40 MiB.
func TestEventPendingBudget(t *testing.T) {
	loop, err := NewEventLoop(EventLoopOptions{Loops: 1, PendingBytes: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loop.Close() })
	const conns, rounds, size = 50, 2, 1 << 20
	probe := &budgetProbe{l: loop.b.(*epollBackend).loops[0], rest: make(chan struct{})}
	url := serveLoop(t, loop, &AcceptOptions{ReadLimit: 2 * size}, probe)
	msg := func(i, r int) []byte { return bytes.Repeat([]byte{byte(i), byte(r)}, size/2) }
	cs := echoRounds(t, url, conns, rounds, 2*size, msg)
	// Every echo came back: the loop is at rest.
	maxUsed, maxAll := probe.atRest(t, cs[0])
	// One message past the limit: one that had all arrived, read to its
	// end at once.
	if maxUsed > 2<<20+size {
		t.Errorf("the budget counted up to %d bytes; limit 2 MiB and one message", maxUsed)
	}
	if maxAll > 2<<20+2*size+conns*64<<10 {
		t.Errorf("message buffers held up to %d bytes with 50 connections and a 2 MiB budget", maxAll)
	}
}

// TestEventPendingBudgetWaiters: while one connection's fragmented message
// holds the whole budget, connections whose messages wait for room still
// end at once when their peer resets the connection or when CloseNow is
// called on them, and the waiting message is answered once the long one
// completes.
func TestEventPendingBudgetWaiters(t *testing.T) {
	rec := newRecorder(true)
	url, conns := servedConnsOpts(t, EventLoopOptions{Loops: 1, PendingBytes: 1 << 20}, &AcceptOptions{ReadLimit: 4 << 20}, rec)

	// The holder: a first fragment of 1 MiB, then a ping; the pong says
	// the loop has counted the fragment, which fills the budget.
	holder := dialRawPeer(t, url, "")
	<-conns
	part1 := bytes.Repeat([]byte{'a'}, 1<<20)
	holder.send(t, clientFrame(false, opBinary, part1), clientFrame(true, opPing, []byte("p")))
	if op, p := holder.readFrame(t); op != opPong || string(p) != "p" {
		t.Fatalf("holder: %v %q, want the pong", op, p)
	}

	// Three connections send a message that does not fit.
	msg := bytes.Repeat([]byte{'w'}, 512<<10)
	hangUp := dialRawPeer(t, url, "")
	<-conns
	closed := dialRawPeer(t, url, "")
	closedConn := <-conns
	waits := dialRawPeer(t, url, "")
	<-conns
	for _, p := range []*rawPeer{hangUp, closed, waits} {
		p.send(t, clientFrame(true, opBinary, msg))
	}

	// A peer's orderly close waits in its send queue behind the bytes the
	// loop has not read, so only a reset can reach a waiting connection.
	_ = hangUp.nc.(*net.TCPConn).SetLinger(0)
	hangUp.nc.Close()
	if e := rec.waitClosed(t); e.err == nil {
		t.Fatal("a peer that reset the connection while it waited for room: OnClose without an error")
	}
	_ = closedConn.CloseNow()
	if e := rec.waitClosed(t); e.c != closedConn || !errors.Is(e.err, ErrClosed) {
		t.Fatalf("CloseNow while waiting for room: OnClose(%p, %v), want (%p, ErrClosed)", e.c, e.err, closedConn)
	}

	// The long message completes, then the waiting one is answered.
	part2 := bytes.Repeat([]byte{'b'}, 1<<20)
	holder.send(t, clientFrame(true, opContinuation, part2))
	if op, p := holder.readFrame(t); op != opBinary || !bytes.Equal(p, append(part1, part2...)) {
		t.Fatalf("holder's echo: %v of %d bytes", op, len(p))
	}
	if op, p := waits.readFrame(t); op != opBinary || !bytes.Equal(p, msg) {
		t.Fatalf("waiting connection's echo: %v of %d bytes", op, len(p))
	}
}

// TestEventPendingBudgetPipelined: forty connections each send eight
// 64 KiB messages without waiting, through a budget of four. The loop
// takes whole messages and leaves the next one in the kernel when it has
// no room for it (admitPrefix), or reads it at once when it has all
// arrived: every message is echoed intact and in order, the count passes
// the budget by one message at most, and connections that wait hold no
// message buffer.
func TestEventPendingBudgetPipelined(t *testing.T) {
	const conns, depth, size, budget = 40, 8, 64 << 10, 4 * (64 << 10)
	loop, err := NewEventLoop(EventLoopOptions{Loops: 1, PendingBytes: budget})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loop.Close() })
	probe := &budgetProbe{l: loop.b.(*epollBackend).loops[0], rest: make(chan struct{})}
	url := serveLoop(t, loop, &AcceptOptions{ReadLimit: 2 * size}, probe)
	ctx := context.Background()
	cs := make([]*Conn, conns)
	for i := range cs {
		cs[i] = dialT(t, url, &DialOptions{ReadLimit: 2 * size})
	}
	msg := func(i, r int) []byte { return bytes.Repeat([]byte{byte(i), byte(r)}, size/2) }
	errs := make(chan error, 2*conns)
	for i, c := range cs {
		go func() {
			for r := range depth {
				if err := c.Write(ctx, MessageBinary, msg(i, r)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
		go func() {
			for r := range depth {
				if _, p, err := c.Read(ctx); err != nil || !bytes.Equal(p, msg(i, r)) {
					errs <- fmt.Errorf("connection %d, message %d: %d bytes, %v", i, r, len(p), err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 * conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	maxUsed, maxAll := probe.atRest(t, cs[0])
	if maxUsed > budget+size {
		t.Errorf("the budget counted up to %d bytes; limit %d and one message", maxUsed, budget)
	}
	if maxAll > budget+size {
		t.Errorf("message buffers held up to %d bytes; budget %d", maxAll, budget)
	}
}

// partProbe is a budgetProbe whose handler also takes messages in parts,
// echoing each part at once through a MessageWriter per connection, and
// records the budget's count while parts arrive.
type partProbe struct {
	*budgetProbe
	w      map[*Conn]*MessageWriter // on the loop goroutine only
	inPart int                      // messages that came in parts
}

func (b *partProbe) OnMessagePart(c *Conn, typ MessageType, p []byte, final bool) {
	b.mu.Lock()
	b.maxUsed = max(b.maxUsed, b.l.budget.used)
	b.mu.Unlock()
	w := b.w[c]
	if w == nil {
		var err error
		if w, err = c.Writer(context.Background(), typ); err != nil {
			return
		}
		b.w[c] = w
	}
	_, _ = w.Write(p)
	if final {
		_ = w.Close()
		delete(b.w, c)
		b.inPart++
	}
}

// TestEventPartsBudget: thirty connections send 1 MiB messages at once to
// a loop with a 2 MiB budget that takes them in parts even while busy.
// Every echo comes back intact, a message in parts is counted while it
// arrives (the count stays within the budget and one message) and its
// count is given back at its end: nothing is left counted at rest.
func TestEventPartsBudget(t *testing.T) {
	partsEvenBusy = true
	t.Cleanup(func() { partsEvenBusy = false })
	loop, err := NewEventLoop(EventLoopOptions{Loops: 1, PendingBytes: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loop.Close() })
	const conns, rounds, size = 30, 2, 1 << 20
	probe := &partProbe{
		budgetProbe: &budgetProbe{l: loop.b.(*epollBackend).loops[0], rest: make(chan struct{})},
		w:           make(map[*Conn]*MessageWriter),
	}
	url := serveLoop(t, loop, &AcceptOptions{ReadLimit: 2 * size}, probe)
	msg := func(i, r int) []byte { return bytes.Repeat([]byte{byte(i), byte(r), 7}, size/3) }
	cs := echoRounds(t, url, conns, rounds, 2*size, msg)
	maxUsed, _ := probe.atRest(t, cs[0])
	if probe.inPart != conns*rounds {
		t.Errorf("%d messages came in parts, want all %d", probe.inPart, conns*rounds)
	}
	if maxUsed > 2<<20+size {
		t.Errorf("the budget counted up to %d bytes; limit 2 MiB and one message", maxUsed)
	}
	if maxUsed == 0 {
		t.Error("messages in parts were never counted")
	}
}

// echoRounds dials conns clients (read limit limit) and has them all, at
// once, send msg(i, r) and check its echo for rounds rounds; it returns
// the clients once every echo came back.
func echoRounds(t *testing.T, url string, conns, rounds int, limit int64, msg func(i, r int) []byte) []*Conn {
	t.Helper()
	ctx := context.Background()
	cs := make([]*Conn, conns)
	for i := range cs {
		cs[i] = dialT(t, url, &DialOptions{ReadLimit: limit})
	}
	errs := make(chan error, conns)
	for i, c := range cs {
		go func() {
			for r := range rounds {
				if err := c.Write(ctx, MessageBinary, msg(i, r)); err != nil {
					errs <- err
					return
				}
				if _, p, err := c.Read(ctx); err != nil || !bytes.Equal(p, msg(i, r)) {
					errs <- fmt.Errorf("connection %d, round %d: %d bytes, %v", i, r, len(p), err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range cs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return cs
}
