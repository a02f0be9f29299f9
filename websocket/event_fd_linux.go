//go:build linux

package websocket

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/duplexws/duplex/internal/uring"
)

// fdConn is the net.Conn of a connection an epoll loop serves. Serve
// duplicates the socket's descriptor and closes the net.TCPConn it came
// from: the kernel then reports the socket to the loop's epoll set alone,
// not to Go's poller as well (which would be woken for every message for
// nothing), and the connection no longer holds a netFD, a poll descriptor
// and two address objects.
//
// Writes go straight to the descriptor. When the socket buffer is full the
// writer asks the loop to watch for room (EPOLLOUT) and waits on a channel,
// honouring the write deadline, so that a slow peer costs a parked
// goroutine and not a thread.
//
// Only the loop closes the descriptor, after taking it out of its epoll
// set; everyone else holds mu for reading while using it, so the number
// cannot be closed and reused under a write.
type fdConn struct {
	mu     sync.RWMutex
	closed bool // under mu
	fd     int32
	gen    uint32 // the loop's registration number, in the epoll event
	loop   *epollLoop

	wdl   atomic.Int64                  // write deadline in Unix nanoseconds; 0 = none
	wwait atomic.Pointer[chan struct{}] // the blocked writer's wake-up, if any
	shut  atomic.Bool                   // shutdown has begun: writers stop waiting

	// Corking. While the loop handles this connection's input, the frames
	// written meanwhile (the handler's replies, pongs, a close frame) gather
	// in out and leave in one system call when the input is used up: a
	// client that sends many messages at once gets all the answers in one
	// write instead of one write each. omu guards corked, out and werr, and
	// is held across a write that sends bytes of out, so that nothing gets
	// between them and the frames that follow.
	omu    sync.Mutex
	corked bool
	out    *[]byte // pooled; nil when nothing waits
	werr   error   // a failed flush of out: later writes fail with it
	// heldSince is when the first costly frame (a compressed one) was
	// noted in out, in Unix nanoseconds; 0 when none is (noteCostlyWrite).
	heldSince int64
	idle      bool // set by cork
	// backlog: out holds bytes the socket buffer had no room for, sent
	// by the loop as room comes (event_backlog_linux.go); under omu.
	backlog bool
	hold    atomic.Uint32 // holdOut, holdIn

	laddr, raddr netip.AddrPort
}

// corkLimit is how many bytes may wait in out; a write that would go past
// it sends what waits and itself at once, in one writev.
const corkLimit = 64 << 10

func (f *fdConn) init(fd int, laddr, raddr net.Addr) {
	f.fd = int32(fd)
	if a, ok := laddr.(*net.TCPAddr); ok {
		f.laddr = a.AddrPort()
	}
	if a, ok := raddr.(*net.TCPAddr); ok {
		f.raddr = a.AddrPort()
	}
}

// dupCloexec duplicates a descriptor, close-on-exec like all of Go's.
func dupCloexec(fd int) (int, error) {
	for {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
		switch errno {
		case 0:
			return int(r), nil
		case syscall.EINTR:
			continue
		}
		return -1, os.NewSyscallError("fcntl", errno)
	}
}

var errReadServed = errors.New("websocket: the transport of a served connection is read by its event loop")

func (f *fdConn) Read([]byte) (int, error) { return 0, errReadServed }

func (f *fdConn) Write(p []byte) (int, error) {
	var one [1][]byte
	one[0] = p
	n, err := f.writeBuffers(one[:])
	return int(n), err
}

// writeBuffers writes bufs in order, with one writev(2) where it can, after
// the corked bytes if any; while corked, it adds them to those instead.
func (f *fdConn) writeBuffers(bufs net.Buffers) (int64, error) {
	f.omu.Lock()
	if f.werr != nil {
		err := f.werr
		f.omu.Unlock()
		return 0, err
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	pending := 0
	if f.out != nil {
		pending = len(*f.out)
	}
	if (f.backlog && pending+total <= f.loop.qlimit) || (f.corked && !f.backlog && pending+total <= corkLimit) {
		// Behind the backlog, or corked.
		if f.out == nil {
			f.out = getBuf(corkLimit)
			*f.out = (*f.out)[:0]
		}
		for _, b := range bufs {
			*f.out = append(*f.out, b...)
		}
		f.holdIfLong()
		f.omu.Unlock()
		return int64(total), nil
	}
	if f.out == nil {
		f.omu.Unlock()
		n, err := f.writev(nil, bufs, f.wdl.Load(), false, false)
		f.settleWrite()
		return n, err
	}
	// What waits goes first, in the same system call, with omu held so
	// that no flush of the loop gets in between. A backlog too long to
	// take this write keeps the loop off the connection's input (hold)
	// until this writer is done.
	pend := f.out
	f.out = nil
	f.backlog = false
	n, err := f.writev(*pend, bufs, f.wdl.Load(), false, true)
	putBuf(pend)
	f.settle()
	f.omu.Unlock()
	return max(n-int64(pending), 0), err
}

// cork starts gathering writes; the loop calls it before it parses the
// connection's input. idle: the loop has this connection to itself (no
// other to read meanwhile), so costly answers need not wait for the
// input's end (noteCostlyWrite).
func (f *fdConn) cork(idle bool) {
	f.omu.Lock()
	f.corked = true
	f.idle = idle
	f.omu.Unlock()
}

// uncork stops gathering and sends what was gathered; the loop calls it
// when the input is used up. When the socket buffer is full it waits as a
// write from the loop's handler would (ppoll): the loop is the writer. A
// failure is kept for later writes and returned.
func (f *fdConn) uncork() error {
	f.omu.Lock()
	defer f.omu.Unlock()
	return f.uncorkLocked()
}

// uncorkLocked is uncork with omu held.
func (f *fdConn) uncorkLocked() error {
	f.corked = false
	f.heldSince = 0
	if f.out == nil || f.backlog {
		return nil // the backlog leaves as room comes (drain)
	}
	pend := f.out
	f.out = nil
	_, err := f.writev(*pend, nil, f.wdl.Load(), false, true)
	putBuf(pend)
	f.settle()
	if err != nil && f.werr == nil {
		f.werr = err
	}
	return err
}

// endInput is uncork for an event loop that sends a round's answers to
// several connections at once (uring.Ring). With keep set, what was
// gathered stays in out for the loop's flush at the round's end (it
// reports true); meanwhile the connection is no longer corked, so a write
// from another goroutine sends those bytes before its own, keeping the
// order, and leaves the loop nothing to send.
func (f *fdConn) endInput(keep bool) (bool, error) {
	f.omu.Lock()
	defer f.omu.Unlock()
	if keep && f.out != nil && f.werr == nil && !f.backlog {
		f.corked = false
		f.heldSince = 0
		return true, nil
	}
	return false, f.uncorkLocked()
}

// flushBegin is the loop's look at a connection whose answers wait for the
// round's flush: it returns them with omu held, or nil when there is
// nothing left to send. It does not wait for omu: its holder is a writer
// that took out to send it itself, and may itself be waiting for the loop
// to report room in the socket.
func (f *fdConn) flushBegin() []byte {
	if !f.omu.TryLock() {
		return nil
	}
	if f.out == nil || f.werr != nil || f.corked || f.closed || f.backlog {
		// corked: the loop is reading it again and will flush it then;
		// backlog: it leaves as room comes (drain).
		f.omu.Unlock()
		return nil
	}
	return *f.out
}

// flushEnd finishes what flushBegin began, with what the send returned
// (bytes sent or a negative errno): it writes what did not fit the
// ordinary way, waiting for room as the loop's own writes do, and
// releases omu. A failure is kept for later writes and returned.
func (f *fdConn) flushEnd(res int32) error {
	defer f.omu.Unlock()
	pend := f.out
	f.out = nil
	defer putBuf(pend)
	rest := *pend
	var err error
	switch {
	case res >= 0:
		rest = rest[min(int(res), len(rest)):]
	case res == uring.Unsent, res == -int32(syscall.EAGAIN), res == -int32(syscall.EINTR):
	default:
		err = &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.Errno(-res))}
	}
	if err == nil && len(rest) > 0 {
		_, err = f.writev(rest, nil, f.wdl.Load(), false, true)
		f.settle()
	}
	if err != nil && f.werr == nil {
		f.werr = err
	}
	return err
}

// corkHold is how long corked frames wait while the loop goes on
// producing costly ones (compressed messages) behind them.
const corkHold = 20 * time.Microsecond

// noteCostlyWrite is told that a frame that took long to make (a
// compressed message) was just written. Corked frames wait for the end
// of the input so that they leave in one write, but when each answer costs
// microseconds to make, sixteen of them held back until the last is ready
// keep the peer waiting for all: a loop that has the connection to itself
// sends what is corked once the first costly frame has waited corkHold.
// A busy loop does not: its processor is the limit, and every early write
// costs it (64 B compressed, 100 connections with 16 in flight each: 4.5
// against 5.6 µs a message). Only costly writes read the clock.
func (f *fdConn) noteCostlyWrite() {
	f.omu.Lock()
	defer f.omu.Unlock()
	if f.backlog {
		return // sent as room comes (drain)
	}
	if !f.corked && f.out != nil && f.werr == nil {
		// Answers left for the loop's flush, which skipped them while
		// this writer held omu (flushBegin): nobody else would send
		// them.
		f.sendOut()
		return
	}
	if !f.corked || !f.idle || f.out == nil {
		return
	}
	now := time.Now().UnixNano()
	if f.heldSince == 0 {
		f.heldSince = now
		return
	}
	if now-f.heldSince < int64(corkHold) {
		return
	}
	f.heldSince = 0
	f.sendOut()
}

// sendOut sends what waits in out, with omu held; a failure is kept for
// later writes.
func (f *fdConn) sendOut() {
	pend := f.out
	f.out = nil
	_, err := f.writev(*pend, nil, f.wdl.Load(), false, true)
	putBuf(pend)
	f.settle()
	if err != nil && f.werr == nil {
		f.werr = err
	}
}

// writev writes head and then bufs, with as few writev(2) calls as the
// socket allows. When the socket buffer is full the rest goes to the
// connection's backlog if it fits (queueRest; not when flushing), else
// writev waits for room: until the deadline dl (Unix nanoseconds, 0 for
// none) and, unless flushing is set, until shutdown begins. While it
// waits, the loop leaves the connection's input unread (holdOut): a
// handler would only wait for this writer.
//
// held says that the caller holds omu: then a full socket is waited for
// here (pollWritable), never by way of the loop, which may itself be
// waiting for omu (cork, endInput) and so would never report the room.
func (f *fdConn) writev(head []byte, bufs net.Buffers, dl int64, flushing, held bool) (int64, error) {
	var iov [8]syscall.Iovec
	var n int64
	for {
		for len(head) == 0 && len(bufs) > 0 && len(bufs[0]) == 0 {
			bufs = bufs[1:]
		}
		if len(head) == 0 && len(bufs) == 0 {
			return n, nil
		}
		cnt := 0
		if len(head) > 0 {
			iov[0].Base = unsafe.SliceData(head)
			iov[0].SetLen(len(head))
			cnt = 1
		}
		for _, b := range bufs {
			if cnt == len(iov) {
				break
			}
			if len(b) > 0 {
				iov[cnt].Base = unsafe.SliceData(b)
				iov[cnt].SetLen(len(b))
				cnt++
			}
		}
		k, err := f.try(dl, flushing, func(fd int) (int, syscall.Errno) {
			if cnt == 1 {
				r, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(iov[0].Base)), uintptr(iov[0].Len))
				return int(r), errno
			}
			r, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(cnt))
			return int(r), errno
		})
		clear(iov[:cnt])
		n += int64(k)
		m := min(k, len(head))
		head = head[m:]
		k -= m
		for k > 0 {
			m := min(k, len(bufs[0]))
			bufs[0] = bufs[0][m:]
			k -= m
			if len(bufs[0]) == 0 {
				bufs = bufs[1:]
			}
		}
		if err == errNoRoom {
			if !flushing {
				if q := f.queueRest(head, bufs, held); q > 0 {
					return n + int64(q), nil
				}
			}
			f.hold.Or(holdOut)
			wait := f.waitWritable
			if held {
				wait = f.pollWritable
			}
			if err := wait(dl); err != nil {
				return n, err
			}
			if !flushing {
				// A new deadline set meanwhile applies.
				dl = f.wdl.Load()
			}
			continue
		}
		if err != nil {
			return n, err
		}
	}
}

// errNoRoom is try's report of a full socket buffer.
var errNoRoom = errors.New("socket buffer full")

// try makes one write system call; it returns errNoRoom when the socket
// buffer is full. The calls never block: the socket is non-blocking, so
// they skip the scheduler's system call bookkeeping.
func (f *fdConn) try(dl int64, flushing bool, call func(fd int) (int, syscall.Errno)) (int, error) {
	for {
		if dl != 0 && time.Now().UnixNano() >= dl {
			return 0, &net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}
		}
		f.mu.RLock()
		if f.closed || (!flushing && f.shut.Load()) {
			f.mu.RUnlock()
			return 0, &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}
		}
		n, errno := call(int(f.fd))
		f.mu.RUnlock()
		switch errno {
		case 0:
			return n, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, errNoRoom
		}
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", errno)}
	}
}

// waitWritable waits until the loop sees room in the socket buffer, the
// deadline changes or passes, or the connection closes.
func (f *fdConn) waitWritable(dl int64) error {
	// The wake-up is in place before the look at current, and the loop
	// sets current before it looks for a wake-up (handling): so either
	// this writer sees the loop handling the connection, or the loop
	// wakes it, and it looks again.
	ch := make(chan struct{})
	f.wwait.Store(&ch)
	if f.loop.current.Load() == f {
		f.wwait.CompareAndSwap(&ch, nil)
		return f.pollWritable(dl)
	}
	f.mu.RLock()
	closed := f.closed
	if !closed {
		f.loop.watchWritable(f, true)
	}
	f.mu.RUnlock()
	if closed {
		return &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}
	}
	var timeout <-chan time.Time
	if dl != 0 {
		t := time.NewTimer(time.Until(time.Unix(0, dl)))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
	case <-timeout:
	}
	return nil // the caller checks the deadline and the descriptor again
}

// handling marks the connection as the one whose input the loop is
// handling (current), and wakes a writer waiting for the loop to report
// room: the loop cannot report it while it handles this input, and a
// handler writing to the connection would wait for that writer, which
// would wait for the loop. Woken, the writer waits for room by itself
// (pollWritable).
func (f *fdConn) handling() {
	f.loop.current.Store(f)
	if f.wwait.Load() != nil {
		f.wakeWriter()
	}
}

// wakeWriter wakes the blocked writer, if any, to look again.
func (f *fdConn) wakeWriter() {
	if ch := f.wwait.Swap(nil); ch != nil {
		close(*ch)
	}
}

// Close closes the descriptor; only the loop calls it, once the descriptor
// is out of its epoll set.
func (f *fdConn) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return net.ErrClosed
	}
	f.closed = true
	err := syscall.Close(int(f.fd))
	f.mu.Unlock()
	f.wakeWriter()
	return err
}

// shutdown shuts both directions down without closing the descriptor: the
// peer sees the end, writes fail, and the loop reads the end of input.
//
// Frames still corked are sent first, waiting up to flushTimeout for room:
// a frame that Write reported sent (a close frame written just before,
// most often) must not be dropped. A backlog gets a millisecond: its peer
// has been reading too slowly already. A writer blocked meanwhile gives up.
func (f *fdConn) shutdown(flushTimeout time.Duration) error {
	f.shut.Store(true)
	f.wakeWriter()
	f.omu.Lock()
	if f.out != nil {
		pend := f.out
		f.out = nil
		dl := time.Now().Add(flushTimeout).UnixNano()
		if f.backlog {
			// A peer that left a backlog unread gets what fits now;
			// waiting for it would hold up whoever ends the
			// connection (the loop, often) for flushTimeout.
			dl = time.Now().Add(time.Millisecond).UnixNano()
			f.backlog = false
		}
		_, _ = f.writev(*pend, nil, dl, true, true)
		putBuf(pend)
	}
	f.settle()
	if f.werr == nil {
		f.werr = &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}
	}
	f.omu.Unlock()
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil
	}
	err := syscall.Shutdown(int(f.fd), syscall.SHUT_RDWR)
	if err == syscall.ENOTCONN {
		return nil // the peer has gone already
	}
	return err
}

func (f *fdConn) LocalAddr() net.Addr  { return net.TCPAddrFromAddrPort(f.laddr) }
func (f *fdConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(f.raddr) }

func (f *fdConn) SetDeadline(t time.Time) error { return f.SetWriteDeadline(t) }

// SetReadDeadline does nothing: the loop reads only what is there.
func (f *fdConn) SetReadDeadline(time.Time) error { return nil }

func (f *fdConn) SetWriteDeadline(t time.Time) error {
	var dl int64
	if !t.IsZero() {
		dl = t.UnixNano()
	}
	f.wdl.Store(dl)
	f.wakeWriter()
	return nil
}

// shutdown ends the connection from any goroutine (closeTransport).
func (ec *eventConn) shutdown() error { return ec.fdc.shutdown(ec.c.cfg.closeTimeout) }

// pollWritable waits in ppoll(2) for room in the socket buffer, for at most
// 10 ms (or until the deadline), for a write made from the loop's own
// handler, or by a writer that holds omu: the loop cannot report room
// while it is the one waiting, or while it waits for omu. The caller
// checks the deadline and the descriptor again, so CloseNow and deadlines
// end the wait within 10 ms.
func (f *fdConn) pollWritable(dl int64) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}
	}
	d := 10 * time.Millisecond
	if dl != 0 {
		d = min(d, max(time.Until(time.Unix(0, dl)), 0))
	}
	type pollFd struct {
		fd      int32
		events  int16
		revents int16
	}
	const pollOut = 0x4
	p := pollFd{fd: int32(f.fd), events: pollOut}
	ts := syscall.NsecToTimespec(int64(d))
	_, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&p)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if errno != 0 && errno != syscall.EINTR {
		return &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("ppoll", errno)}
	}
	return nil
}
