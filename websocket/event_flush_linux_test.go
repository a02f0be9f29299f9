package websocket

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/duplexws/duplex/internal/uring"
)

// ciRun reports a CI run, where a kernel without io_uring fails the
// tests that need it instead of skipping them.
func ciRun() bool { return os.Getenv("CI") == "true" }

// gateHandler echoes, but holds the loop in OnMessage on "wait" until gate
// closes, so that other connections' messages arrive meanwhile and are
// read in one round.
type gateHandler struct {
	gate    chan struct{}
	waiting chan struct{}
}

func (h gateHandler) OnMessage(c *Conn, typ MessageType, p []byte) {
	if string(p) == "wait" {
		close(h.waiting)
		<-h.gate
	}
	_ = c.Write(context.Background(), typ, p)
}

func (gateHandler) OnClose(*Conn, error) {}

// TestEventFlushRound: the answers to the connections a loop reads in one
// round leave in one io_uring_enter, not in a write each, and every one
// arrives whole and in order. With the ring off (or where io_uring is
// missing), or once the first answer has waited flushHold, they leave a
// write each, which also shows that the count sees them.
func TestEventFlushRound(t *testing.T) {
	if r, err := uring.New(8); err != nil && !ciRun() {
		t.Skipf("io_uring is not available: %v", err)
	} else if err == nil {
		r.Close()
	}
	saved := flushHold
	t.Cleanup(func() { flushHold = saved })
	for _, tc := range []struct {
		name string
		ring bool
		hold time.Duration
		few  bool // the answers leave together
	}{
		{"ring", true, time.Minute, true}, // one flush per round, however slow the machine
		{"ring, no hold", true, 0, false},
		{"no ring", false, time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ring := tc.ring
			flushHold = tc.hold
			if !ring {
				ringOverride = -1
				t.Cleanup(func() { ringOverride = 0 })
			}
			loop := newEpollLoopT(t)
			lp := loop.b.(*epollBackend).loops[0]
			if (lp.ring != nil) != ring {
				t.Fatalf("loop ring %v, want %v", lp.ring != nil, ring)
			}
			h := gateHandler{gate: make(chan struct{}), waiting: make(chan struct{})}
			url := serveLoop(t, loop, nil, h)
			const n = 20
			peers := make([]*rawPeer, n+1)
			for i := range peers {
				peers[i] = dialRawPeer(t, url, "")
			}
			// Every connection served before the loop is held.
			for i, p := range peers[1:] {
				p.send(t, clientFrame(true, opText, fmt.Appendf(nil, "hello %d", i)))
				if _, got := p.readFrame(t); string(got) != fmt.Sprintf("hello %d", i) {
					t.Fatalf("warm-up echo %q", got)
				}
			}
			peers[0].send(t, clientFrame(true, opText, []byte("wait")))
			<-h.waiting
			for i, p := range peers[1:] {
				p.send(t, clientFrame(true, opText, fmt.Appendf(nil, "message %d", i)),
					clientFrame(true, opBinary, bytes.Repeat([]byte{byte(i)}, 300)))
			}
			time.Sleep(50 * time.Millisecond) // let them all arrive
			before := writeSyscalls(t)
			close(h.gate)
			var wg sync.WaitGroup
			errs := make(chan error, n+1)
			for i, p := range peers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if i == 0 {
						if _, got, err := p.tryReadFrame(); err != nil || string(got) != "wait" {
							errs <- fmt.Errorf("held connection: %q, %v", got, err)
						}
						return
					}
					want := fmt.Sprintf("message %d", i-1)
					if op, got, err := p.tryReadFrame(); err != nil || op != opText || string(got) != want {
						errs <- fmt.Errorf("peer %d: %v %q, %v; want %q", i, op, got, err, want)
						return
					}
					if op, got, err := p.tryReadFrame(); err != nil || op != opBinary || !bytes.Equal(got, bytes.Repeat([]byte{byte(i - 1)}, 300)) {
						errs <- fmt.Errorf("peer %d: second echo %v, %d bytes, %v", i, op, len(got), err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			writes := writeSyscalls(t) - before
			t.Logf("%d write system calls for %d connections' answers", writes, n+1)
			if tc.few && writes > 6 {
				t.Errorf("%d write system calls: the round's answers did not leave together", writes)
			}
			if !tc.few && writes < n {
				t.Errorf("%d write system calls, want at least %d: answers waited past the hold, or the count misses writes", writes, n)
			}
		})
	}
}

// readFramesOf reads frames from p and checks them against wants in
// order: a text frame with that payload, or for "" a binary frame of
// bigLen bytes (the long write).
func readFramesOf(p *rawPeer, bigLen int, wants ...string) error {
	for _, want := range wants {
		op, got, err := p.tryReadFrame()
		if err != nil {
			return fmt.Errorf("target: %w", err)
		}
		if want == "" {
			if op != opBinary || len(got) != bigLen {
				return fmt.Errorf("target: %v of %d bytes, want the long write", op, len(got))
			}
			continue
		}
		if string(got) != want {
			return fmt.Errorf("target: %q, want %q", got, want)
		}
	}
	return nil
}

// writerHandler, on "write", has another goroutine write big to the
// connection named target, whose peer is not reading, and gives it time
// to fill the socket buffer before the handler returns; it echoes the rest.
type writerHandler struct {
	gate, waiting chan struct{}
	target        chan *Conn
	big           []byte
	wrote         chan error
}

func (h *writerHandler) OnMessage(c *Conn, typ MessageType, p []byte) {
	switch string(p) {
	case "wait":
		close(h.waiting)
		<-h.gate
	case "target":
		h.target <- c
	case "write":
		tc := <-h.target
		go func() { h.wrote <- tc.Write(context.Background(), MessageBinary, h.big) }()
		time.Sleep(100 * time.Millisecond) // the write fills the socket and waits for room
	}
	_ = c.Write(context.Background(), typ, p)
}

func (*writerHandler) OnClose(*Conn, error) {}

// TestEventFlushWriterWaits: a goroutine writes a long message to a
// connection whose answer waits for the round's flush and whose peer is
// not reading. It takes that answer along and waits for room holding the
// connection's write lock; the flush must pass over it, and when the peer
// sends again the loop must not wait for that writer to be told of room by
// the loop itself. Everything arrives, in order, once the peer reads.
func TestEventFlushWriterWaits(t *testing.T) {
	saved := flushHold
	flushHold = time.Minute
	t.Cleanup(func() { flushHold = saved })
	loop := newEpollLoopT(t)
	h := &writerHandler{gate: make(chan struct{}), waiting: make(chan struct{}), target: make(chan *Conn, 1),
		big: bytes.Repeat([]byte("w"), 32<<20), wrote: make(chan error, 1)}
	url := serveLoop(t, loop, nil, h)
	held, target, trigger := dialRawPeer(t, url, ""), dialRawPeer(t, url, ""), dialRawPeer(t, url, "")
	for _, p := range []*rawPeer{target, trigger} {
		_ = p.nc.SetDeadline(time.Now().Add(30 * time.Second))
	}
	held.send(t, clientFrame(true, opText, []byte("wait")))
	<-h.waiting
	// One round: target's answer waits for the flush, then trigger's
	// handler starts the long write to target.
	target.send(t, clientFrame(true, opText, []byte("target")))
	time.Sleep(20 * time.Millisecond)
	trigger.send(t, clientFrame(true, opText, []byte("write")))
	time.Sleep(20 * time.Millisecond)
	close(h.gate)
	if _, got := trigger.readFrame(t); string(got) != "write" {
		t.Fatalf("trigger's echo %q", got)
	}
	// The loop serves target again while the writer still waits for room.
	target.send(t, clientFrame(true, opText, []byte("again")))
	time.Sleep(50 * time.Millisecond)
	trigger.send(t, clientFrame(true, opText, []byte("still here")))
	if err := readFramesOf(target, len(h.big), "target", "", "again"); err != nil {
		t.Fatal(err)
	}
	if err := <-h.wrote; err != nil {
		t.Fatalf("the long write: %v", err)
	}
	if _, got := trigger.readFrame(t); string(got) != "still here" {
		t.Fatalf("trigger's second echo %q", got)
	}
}

// TestEventHandlerWaitsForWriter: a goroutine's long write to a
// connection waits for its peer to read, parked until the loop reports
// room; then that peer sends a message, whose handler writes to the same
// connection and so waits for the long write. The loop must wake the
// parked writer to wait for room by itself, or neither would ever go on
// (the handler waiting for the writer, the writer for the loop). Once the
// peer reads, everything arrives in order and the loop serves others
// again.
func TestEventHandlerWaitsForWriter(t *testing.T) {
	loop := newEpollLoopT(t)
	h := &writerHandler{gate: make(chan struct{}), waiting: make(chan struct{}), target: make(chan *Conn, 1),
		big: bytes.Repeat([]byte("w"), 32<<20), wrote: make(chan error, 1)}
	close(h.gate)
	url := serveLoop(t, loop, nil, h)
	target, other := dialRawPeer(t, url, ""), dialRawPeer(t, url, "")
	for _, p := range []*rawPeer{target, other} {
		_ = p.nc.SetDeadline(time.Now().Add(30 * time.Second))
	}
	target.send(t, clientFrame(true, opText, []byte("target")))
	if _, got := target.readFrame(t); string(got) != "target" {
		t.Fatalf("echo %q", got)
	}
	other.send(t, clientFrame(true, opText, []byte("write")))
	if _, got := other.readFrame(t); string(got) != "write" {
		t.Fatalf("echo %q", got)
	}
	// The long write now waits for room; target's peer sends instead of
	// reading, and only reads a while later.
	target.send(t, clientFrame(true, opText, []byte("again")))
	time.Sleep(100 * time.Millisecond)
	if err := readFramesOf(target, len(h.big), "", "again"); err != nil {
		t.Fatalf("%v (the loop and the writer wait for each other)", err)
	}
	if err := <-h.wrote; err != nil {
		t.Fatalf("the long write: %v", err)
	}
	other.send(t, clientFrame(true, opText, []byte("served")))
	if _, got := other.readFrame(t); string(got) != "served" {
		t.Fatalf("after: %q", got)
	}
}
