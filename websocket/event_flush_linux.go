//go:build linux

package websocket

import (
	"time"

	"github.com/duplexws/duplex/internal/uring"
)

// flushHold bounds how long a connection's answers wait for the round's
// flush: a handler that takes long over each message must not hold back
// the answers to the connections read before it.
var flushHold = 50 * time.Microsecond // a variable for the tests

// ringOverride forces the send ring off (-1) in tests and measurements.
var ringOverride = 0

// sendRingEntries is how many sends one flush submits at most.
const sendRingEntries = 64

// startRing gives the loop its send ring, if the kernel lets it have one.
func (l *epollLoop) startRing() {
	if ringOverride < 0 {
		return
	}
	r, err := uring.New(sendRingEntries)
	if err != nil {
		return // writes one by one, as without io_uring
	}
	l.ring = r
	l.flushQ = make([]*eventConn, 0, sendRingEntries)
	l.flushFds = make([]int32, 0, sendRingEntries)
	l.flushBufs = make([][]byte, 0, sendRingEntries)
	l.flushRes = make([]int32, sendRingEntries)
	l.flushConns = make([]*eventConn, 0, sendRingEntries)
}

// stopRing closes the ring; the loop writes one by one from then on.
func (l *epollLoop) stopRing() {
	if l.ring != nil {
		l.ring.Close()
		l.ring = nil
	}
}

// endInput ends the handling of a connection's input: the answers it gave
// leave now, or with the round's flush when the loop has a ring.
func (l *epollLoop) endInput(ec *eventConn) error {
	kept, err := ec.fdc.endInput(l.ring != nil)
	if kept && !ec.queued {
		ec.queued = true
		if len(l.flushQ) == 0 {
			l.flushSince = time.Now().UnixNano()
		}
		l.flushQ = append(l.flushQ, ec)
	}
	return err
}

// maybeFlush flushes in the middle of a round once the queue is full or
// its first connection has waited flushHold.
func (l *epollLoop) maybeFlush() {
	if n := len(l.flushQ); n > 0 && (n == cap(l.flushQ) || time.Now().UnixNano()-l.flushSince >= int64(flushHold)) {
		l.flush()
	}
}

// flush sends the queued answers: with one write when one connection has
// any, else with one io_uring_enter for all of them. What a send could
// not place in a socket buffer is written the ordinary way.
func (l *epollLoop) flush() {
	q := l.flushQ
	if len(q) == 0 {
		return
	}
	fds, bufs, conns := l.flushFds[:0], l.flushBufs[:0], l.flushConns[:0]
	for _, ec := range q {
		ec.queued = false
		if ec.done {
			continue
		}
		if b := ec.fdc.flushBegin(); b != nil {
			fds = append(fds, ec.fdc.fd)
			bufs = append(bufs, b)
			conns = append(conns, ec)
		}
	}
	clear(q)
	l.flushQ = q[:0]
	res := l.flushRes[:len(fds)]
	if len(fds) == 1 {
		res[0] = uring.Unsent // one write, as without the ring
	} else if len(fds) > 1 {
		if err := l.ring.SendAll(fds, bufs, res); err != nil {
			l.stopRing()
		}
	}
	// Every omu taken by flushBegin is released before any connection is
	// finished: OnClose may write to another of them.
	var failed []*eventConn
	var errs []error
	for i, ec := range conns {
		l.current.Store(&ec.fdc)
		if err := ec.fdc.flushEnd(res[i]); err != nil {
			failed, errs = append(failed, ec), append(errs, err)
		}
		l.current.Store(nil)
	}
	for i, ec := range failed {
		l.finish(ec, ec.c.readFailed(errs[i]), true)
	}
	clear(bufs)
	clear(conns)
}
