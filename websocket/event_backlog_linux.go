//go:build linux

package websocket

import (
	"net"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The write queue of a connection an epoll loop serves. A write that finds
// the socket buffer full would otherwise wait for the peer to read; made
// from a handler, that wait holds up the loop and every connection it
// serves, and made from another goroutine it holds the connection's write
// lock, which the next handler writing to it waits for. Instead the rest
// of the write goes to the connection's backlog (fdConn.out, flagged
// backlog) and the write returns; the loop sends the backlog when epoll
// reports room. While the backlog holds half the queue's limit or more,
// the loop reads nothing more from the connection: a peer that sends
// requests and reads no answers is slowed down by TCP flow control, not by
// a queue that grows. A shorter backlog does not stop the reading: a peer
// that reads only after it has written (which TCP allows, as long as one
// side reads) is not made to wait for a backlog that waits for it.
//
// What is in the backlog is accounted as sent: a later write appends to
// it, so the order of frames stays that of the writes.

// backlogsQueued counts the writes that left bytes in a backlog, for the
// tests.
var backlogsQueued atomic.Int64

// hold bits: holdOut while the backlog is long (longBacklog) or a writer
// waits for room; holdIn when the loop, meanwhile, left input unread.
const (
	holdOut = 1 << iota
	holdIn
)

// mayRead reports whether the loop may read the connection now. While
// output is held it records that input waits, so that whoever releases the
// hold has the loop look again.
func (f *fdConn) mayRead() bool {
	for {
		s := f.hold.Load()
		if s&holdOut == 0 {
			return true
		}
		if s&holdIn != 0 || f.hold.CompareAndSwap(s, s|holdIn) {
			return false
		}
	}
}

// inputHeld reports whether the loop left the connection's input unread
// until its output drains.
func (f *fdConn) inputHeld() bool { return f.hold.Load()&holdIn != 0 }

// queueRest puts head and bufs, what a write could not place in the socket
// buffer, in the backlog, and returns how many bytes it queued, 0 when it
// did not: not when the queue is off, not past its limit, and not on a
// loop that serves this connection alone, where waiting holds up nobody
// and a copy would be wasted. held says that the caller holds omu.
func (f *fdConn) queueRest(head []byte, bufs net.Buffers, held bool) int {
	l := f.loop
	if l.qlimit <= 0 || l.nconns.Load() <= 1 {
		return 0
	}
	rest := len(head)
	for _, b := range bufs {
		rest += len(b)
	}
	if rest > l.qlimit {
		return 0
	}
	if !held {
		f.omu.Lock()
		defer f.omu.Unlock()
	}
	have := 0
	if f.out != nil {
		// Only a writer holding the connection's frame lock adds to
		// out, and the caller does: what is there was written before.
		have = len(*f.out)
	}
	if have+rest > l.qlimit {
		return 0
	}
	if f.out == nil {
		f.out = getBuf(rest)
		*f.out = (*f.out)[:0]
	}
	*f.out = append(*f.out, head...)
	for _, b := range bufs {
		*f.out = append(*f.out, b...)
	}
	f.backlog = true
	f.holdIfLong()
	backlogsQueued.Add(1)
	f.mu.RLock()
	if !f.closed {
		l.watchWritable(f, true)
	}
	f.mu.RUnlock()
	return rest
}

// longBacklog reports whether the backlog holds half the queue's limit or
// more; the caller holds omu.
func (f *fdConn) longBacklog() bool {
	return f.backlog && len(*f.out) >= f.loop.qlimit/2
}

// holdIfLong keeps the loop off the connection's input while the backlog
// is long; the caller holds omu.
func (f *fdConn) holdIfLong() {
	if f.longBacklog() {
		f.hold.Or(holdOut)
	}
}

// settle releases the hold on the connection's input once the backlog is
// short and no writer waits; the caller holds omu. If the loop left input unread
// meanwhile, the connection is armed again in the epoll set, which reports
// what is readable anew (edge-triggered, no new bytes would).
func (f *fdConn) settle() {
	if f.hold.Load() == 0 || f.longBacklog() {
		return
	}
	if f.hold.Swap(0)&holdIn == 0 {
		return
	}
	f.mu.RLock()
	if !f.closed {
		// EPOLLOUT too: a writer may be waiting for it, and a report
		// nobody waits for costs the loop nothing.
		f.loop.watchWritable(f, true)
	}
	f.mu.RUnlock()
}

// settleWrite is settle for a writer that wrote without omu: it takes omu
// only when a hold is set (its own wait for room set one).
func (f *fdConn) settleWrite() {
	if f.hold.Load() == 0 {
		return
	}
	f.omu.Lock()
	f.settle()
	f.omu.Unlock()
}

// drain sends what the backlog holds as far as the socket buffer takes it;
// the loop calls it when epoll reports room. A failure is kept for later
// writes and returned.
func (l *epollLoop) drain(ec *eventConn) error {
	f := &ec.fdc
	if !f.omu.TryLock() {
		// A writer holds omu: one adding to the backlog lets go at
		// once and would leave the backlog unwatched (the report that
		// brought the loop here turned EPOLLOUT off), so watch again;
		// one that waits for room itself sends the backlog.
		l.watchWritable(f, true)
		return nil
	}
	defer f.omu.Unlock()
	if !f.backlog {
		return nil
	}
	b := *f.out
	var err error
	for len(b) > 0 {
		var k int
		k, err = f.try(0, true, func(fd int) (int, syscall.Errno) {
			r, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
			return int(r), errno
		})
		if err != nil {
			break
		}
		b = b[k:]
	}
	switch {
	case err == errNoRoom:
		// The rest goes to the front, to be sent at the next report.
		*f.out = (*f.out)[:copy(*f.out, b)]
		l.watchWritable(f, true)
		f.settle()
		return nil
	case err != nil && f.werr == nil:
		f.werr = err
	}
	putBuf(f.out)
	f.out = nil
	f.backlog = false
	f.settle()
	return err
}
