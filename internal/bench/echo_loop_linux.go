//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/duplexws/duplex/internal/rawsys"
	"github.com/duplexws/duplex/internal/uring"
)

// The echo mode's loops: connections are driven by a few goroutines
// (one per processor), each waiting on its own epoll set, instead of one
// goroutine each. A goroutine per connection reads until EAGAIN (Go's
// poller needs it) and is woken through the scheduler for every echo:
// three system calls and a goroutine switch a message. A loop shares one
// epoll_wait among every connection ready at once, and with io_uring
// reads them all in one call and sends their next messages in another
// (echo_round_linux.go), so the generator costs less than the servers it
// measures and they, not it, set the pace (docs/performance.md).

// loopsUsable reports whether the loops can drive these connections:
// plain TCP (a TLS connection's bytes must go through crypto/tls) and a
// closed loop (the open loop's timers stay with the goroutines).
func loopsUsable(t *Target, cfg *EchoConfig) bool {
	return !cfg.Goroutines && cfg.Rate == 0 && t.URL.Scheme != "wss"
}

// loopCheckEvery is how often a loop looks for echoes overdue and for
// cancellation when nothing wakes it.
const loopCheckEvery = 100 * time.Millisecond

// runLoops drives ecs until Stop or their quotas are done, and returns
// when every connection has ended (its close handshake included). It
// says how: "loops", or "loops+io_uring" when the loops had rings.
func runLoops(ctx context.Context, ctl *Control, ecs []*echoConn, measureFrom int64, errs *errorLog, open *atomic.Int64) string {
	n := min(runtime.GOMAXPROCS(0), len(ecs))
	loops := make([]*echoLoop, 0, n)
	for range n {
		l, err := newEchoLoop()
		if err != nil {
			// Without a loop (descriptors exhausted?) the connections
			// run on goroutines of their own, as before.
			break
		}
		if !ecs[0].cfg.NoIOUring {
			l.startRing()
		}
		loops = append(loops, l)
	}
	engine := "goroutines"
	switch {
	case len(loops) > 0 && loops[0].ring != nil:
		engine = "loops+io_uring"
	case len(loops) > 0:
		engine = "loops"
	}
	var wg sync.WaitGroup
	closing := &sync.WaitGroup{}
	end := func(c *echoConn, err error) {
		if err != nil && ctx.Err() == nil {
			errs.add(err)
		}
		open.Add(-1)
	}
	var byLoop = make([][]*echoConn, len(loops))
	for i, c := range ecs {
		if len(loops) == 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				end(c, c.run(ctl, measureFrom))
			}()
			continue
		}
		byLoop[i%len(loops)] = append(byLoop[i%len(loops)], c)
	}
	for i, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer l.close()
			l.run(ctx, ctl, byLoop[i], measureFrom, end, closing)
		}()
	}
	wg.Wait()
	closing.Wait()
	return engine
}

// echoLoop is one loop's epoll set and the connections it drives.
type echoLoop struct {
	epfd    int
	pfile   *os.File        // epfd, for parking on Go's poller
	park    syscall.RawConn // pfile's
	pollFn  func(fd uintptr) bool
	events  []syscall.EpollEvent
	nev     int
	pollErr error

	conns    []*loopConn // by the index in their epoll events
	deadline time.Time   // pfile's read deadline

	// ring, when the kernel has io_uring, reads a round's connections in
	// one call and sends their next messages in another.
	ring  *uring.Ring
	round []*loopConn // the connections with events in this round
	batch []*loopConn // those of the ring call being prepared
	fds   []int32
	bufs  [][]byte
	res   []int32
}

// loopConn is a connection driven by a loop.
type loopConn struct {
	*echoConn
	loop     *echoLoop
	idx      int32
	fd       int
	out      []byte // frames accepted but not written yet
	watchOut bool   // registered for EPOLLOUT
	lastRead int64  // nanotime of the last bytes read (or of the start)
	ended    bool

	readable bool  // this round: EPOLLIN (or an error) was reported
	err      error // this round: what ends the connection
}

func newEchoLoop() (*echoLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	// An epoll descriptor is readable when it has events to report, so
	// the loop waits on Go's poller like for a socket: it then holds no
	// processor while it waits, and its own epoll_wait never blocks.
	l := &echoLoop{epfd: epfd, pfile: os.NewFile(uintptr(epfd), "epoll"), events: make([]syscall.EpollEvent, 256)}
	rc, err := l.pfile.SyscallConn()
	if err != nil {
		l.pfile.Close()
		return nil, err
	}
	l.park = rc
	l.pollFn = l.pollOnce
	return l, nil
}

func (l *echoLoop) close() {
	l.dropRing()
	l.pfile.Close()
}

// run drives cs until each has ended.
func (l *echoLoop) run(ctx context.Context, ctl *Control, cs []*echoConn, measureFrom int64, end func(*echoConn, error), closing *sync.WaitGroup) {
	live := 0
	finish := func(lc *loopConn, err error) {
		lc.ended = true
		live--
		_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, lc.fd, nil)
		if err != nil {
			lc.nc.Close()
			end(lc.echoConn, err)
			return
		}
		// The close handshake waits for the server's close frame: on a
		// goroutine of its own, through Go's poller, so that a server
		// slow to close holds up no other connection.
		closing.Add(1)
		go func() {
			defer closing.Done()
			defer lc.nc.Close()
			lc.closeHandshake()
			end(lc.echoConn, nil)
		}()
	}
	now := nanotime()
	for _, c := range cs {
		lc := &loopConn{echoConn: c, loop: l, idx: int32(len(l.conns)), lastRead: now}
		l.conns = append(l.conns, lc)
		live++
		fd, err := rawFd(c.nc)
		if err == nil {
			lc.fd = fd
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: lc.idx}
			err = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
		}
		if err != nil {
			lc.ended = true
			live--
			lc.nc.Close()
			end(c, fmt.Errorf("echo loop: %w", err))
			continue
		}
		c.ctlOut = lc.queue
		if err := l.fill(lc, ctl.isStopped(), measureFrom); err != nil {
			finish(lc, err)
		} else if lc.done(ctl.isStopped()) {
			finish(lc, nil)
		}
	}
	nextCheck := now + int64(loopCheckEvery)
	for live > 0 {
		if err := l.wait(); err != nil {
			for _, lc := range l.conns {
				if !lc.ended {
					finish(lc, fmt.Errorf("echo loop: %w", err))
				}
			}
			return
		}
		stopping := ctl.isStopped()
		now := nanotime()
		l.round = l.round[:0]
		for _, ev := range l.events[:l.nev] {
			lc := l.conns[ev.Fd]
			if lc.ended {
				continue
			}
			lc.err = nil
			lc.readable = ev.Events&(syscall.EPOLLIN|syscall.EPOLLERR|syscall.EPOLLHUP) != 0
			if ev.Events&syscall.EPOLLOUT != 0 {
				lc.err = l.flush(lc)
			}
			l.round = append(l.round, lc)
		}
		l.receive(now, measureFrom)
		l.sendRound(stopping, measureFrom)
		for _, lc := range l.round {
			if lc.err != nil {
				finish(lc, lc.err)
			} else if lc.done(stopping) {
				finish(lc, nil)
			}
		}
		if now < nextCheck {
			continue
		}
		nextCheck = now + int64(loopCheckEvery)
		cancelled := ctx.Err() != nil
		for _, lc := range l.conns {
			switch {
			case lc.ended:
			case cancelled:
				finish(lc, ctx.Err())
			case lc.done(stopping):
				finish(lc, nil)
			case lc.count > 0 && now-lc.lastRead > int64(lc.cfg.Timeout):
				finish(lc, fmt.Errorf("%w within %v", errNoEcho, lc.cfg.Timeout))
			}
		}
	}
}

// wait parks on Go's poller until the epoll set has events, or until
// loopCheckEvery has passed (then with no events).
func (l *echoLoop) wait() error {
	l.nev, l.pollErr = 0, nil
	if t := time.Now(); l.deadline.Sub(t) < loopCheckEvery/2 {
		// Moving the deadline costs a timer update: only once in a while.
		l.deadline = t.Add(loopCheckEvery)
		if err := l.pfile.SetReadDeadline(l.deadline); err != nil {
			return err
		}
	}
	err := l.park.Read(l.pollFn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		l.deadline = time.Time{}
		return nil
	}
	if err != nil {
		return err
	}
	return l.pollErr
}

// pollOnce is wait's look at the epoll set: done when it has events.
func (l *echoLoop) pollOnce(fd uintptr) bool {
	l.nev, l.pollErr = rawsys.Nonblocking(syscall.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(unsafe.SliceData(l.events))), uintptr(len(l.events)), 0)
	if l.pollErr == syscall.EAGAIN {
		l.nev, l.pollErr = 0, nil
	}
	return l.nev > 0 || l.pollErr != nil
}

// done reports whether the connection has nothing more to do.
func (lc *loopConn) done(stopping bool) bool {
	return lc.count == 0 && len(lc.out) == 0 && (stopping || lc.quota == 0)
}

// fill sends the next messages when the connection's echoes have made
// room for them, as echoConn.run does.
func (l *echoLoop) fill(lc *loopConn, stopping bool, measureFrom int64) error {
	if p := lc.next(stopping, measureFrom); p != nil {
		return l.send(lc, p)
	}
	return nil
}

// next returns the frames to send now (nil if none), counted as sent.
func (lc *loopConn) next(stopping bool, measureFrom int64) []byte {
	c := lc.echoConn
	if stopping || c.count > c.refillAt || c.quota == 0 || len(lc.out) > 0 {
		return nil
	}
	w := c.cfg.InFlight
	k := w - c.count
	if c.quota > 0 {
		k = int(min(int64(k), c.quota))
		c.quota -= int64(k)
	}
	now := nanotime()
	c.seq += int64(k)
	for range k {
		c.ring[(c.head+c.count)%w] = now
		c.count++
	}
	if now >= measureFrom {
		c.sent += int64(k)
	}
	return c.bank.frames(c.seq-int64(k), k)
}

// send writes p, or as much of it as the socket takes now and the rest
// when it has room (EPOLLOUT).
func (l *echoLoop) send(lc *loopConn, p []byte) error {
	n, err := rawsys.Nonblocking(syscall.SYS_WRITE, uintptr(lc.fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), 0)
	switch {
	case err == syscall.EAGAIN:
		n = 0
	case err != nil:
		return fmt.Errorf("send: %w", err)
	}
	return l.sent(lc, p, n)
}

// sent notes that n bytes of p were written: the rest waits for room.
func (l *echoLoop) sent(lc *loopConn, p []byte, n int) error {
	if n < len(p) {
		loopShortWrites.Add(1)
	}
	lc.out = p[n:]
	return l.watch(lc)
}

// loopShortWrites counts writes the socket took only part of (for the
// tests: the EPOLLOUT path).
var loopShortWrites atomic.Int64

// loopPongsBehind counts control frames queued behind frames not yet
// written (for the tests).
var loopPongsBehind atomic.Int64

// flush writes what the socket did not take before.
func (l *echoLoop) flush(lc *loopConn) error {
	if len(lc.out) == 0 {
		return l.watch(lc)
	}
	return l.send(lc, lc.out)
}

// watch asks for EPOLLOUT while bytes wait to be written, and only then.
func (l *echoLoop) watch(lc *loopConn) error {
	want := len(lc.out) > 0
	if want == lc.watchOut {
		return nil
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: lc.idx}
	if want {
		ev.Events |= syscall.EPOLLOUT
	}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, lc.fd, &ev); err != nil {
		return fmt.Errorf("echo loop: %w", err)
	}
	lc.watchOut = want
	return nil
}

// queue is the connection's ctlOut: a control frame goes after the
// frames still to be written, never into the middle of one.
func (lc *loopConn) queue(frame []byte) error {
	if len(lc.out) > 0 {
		// lc.out may be the frame bank's memory: append to a copy.
		loopPongsBehind.Add(1)
		lc.out = append(append(make([]byte, 0, len(lc.out)+len(frame)), lc.out...), frame...)
		return nil // EPOLLOUT is watched: the rest goes when there is room
	}
	// Write now: nothing else may be sent until the server answers.
	return lc.loop.send(lc, frame)
}

// readReady reads once and handles the frames that completed.
func (lc *loopConn) readReady(now, measureFrom int64) error {
	p := lc.readSpace()
	n, err := rawsys.Nonblocking(syscall.SYS_READ, uintptr(lc.fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), 0)
	return lc.received(n, err, now, measureFrom)
}

// received handles what a read into readSpace returned.
func (lc *loopConn) received(n int, err error, now, measureFrom int64) error {
	c := lc.echoConn
	switch {
	case err == syscall.EAGAIN:
		return nil
	case err != nil:
		return fmt.Errorf("receive: %w", err)
	case n == 0:
		return errors.New("the server closed the TCP connection without a close frame")
	}
	c.w += n
	lc.lastRead = now
	return c.consume(now, measureFrom)
}

// rawFd is the socket's descriptor. The loop reads and writes it itself;
// the net.Conn stays open (and is used only for the close handshake) so
// that the descriptor is not closed or reused under the loop.
func rawFd(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return 0, fmt.Errorf("%T has no descriptor", nc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return 0, err
	}
	return fd, nil
}
