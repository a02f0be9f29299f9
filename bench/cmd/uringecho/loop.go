//go:build linux && amd64

package main

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Buffers provided to the kernel for multishot receives: 2048 × 16 KiB
// (32 MiB of address space, touched only as used), shared by all
// connections and given back as soon as a completion's bytes are parsed.
const (
	numBufs = 2048
	bufSize = 16 << 10
)

// Connection states.
const (
	stOpen    = iota
	stClosing // close frame queued: flush, then shut down
	stDead    // peer gone or error: drop output, shut down
)

// What a completion is for: the low byte of user_data; the connection's
// slot is above it.
const (
	kindWake = 1 // read on the eventfd
	kindRecv = 2
	kindSend = 3
)

type conn struct {
	slot      int32
	fd        int
	state     uint8
	recvArmed bool // a multishot recv is in the kernel
	sending   bool // sendBuf is in the kernel
	dirty     bool // on loop.dirty
	shut      bool // shutdown(2) done
	out       []byte
	sendBuf   []byte // in flight; not touched until its completion
	sendOff   int
	p         parser
}

// newConn is a connection after its handshake, handed to the ring loop.
type newConn struct {
	fd   int
	rest []byte // bytes that followed the handshake request
}

// loop owns the ring. Everything but wake and the channel belongs to the
// ring's thread.
type loop struct {
	r       *ring
	br      *bufRing
	efd     int     // eventfd: new connections or stop
	efdBuf  [8]byte // eventfd read target (heap, stable address)
	incom   chan newConn
	stop    atomic.Bool
	conns   []*conn // by slot
	free    []int32
	dirty   []*conn
	open    int
	entries uint32

	// batchWait > 0: wait for the completions of the sends just
	// submitted plus one more, for this long at most (see serve).
	batchWait time.Duration
}

// wake makes the ring loop look at the channel and the stop flag.
func (l *loop) wake() {
	var one [8]byte
	one[0] = 1
	unix.Write(l.efd, one[:])
}

// run sets up the ring on the calling goroutine's locked thread, reports
// the outcome on ready, and serves until stop is set.
func (l *loop) run(ready chan<- error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := newRing(l.entries)
	if err != nil {
		ready <- err
		return err
	}
	l.r = r
	defer func() {
		// Connections, then the ring (which ends every request), then
		// the buffers the requests wrote into.
		for _, c := range l.conns {
			if c.fd >= 0 {
				unix.Close(c.fd)
			}
		}
		r.close()
		if l.br != nil {
			l.br.free()
		}
	}()
	if l.batchWait > 0 && r.features&featMinTimeout == 0 {
		err := errors.New("-batchwait needs IORING_FEAT_MIN_TIMEOUT (Linux 6.12)")
		ready <- err
		return err
	}
	if l.br, err = newBufRing(r, numBufs, bufSize); err != nil {
		ready <- err
		return err
	}
	if err := l.armWake(); err != nil {
		ready <- err
		return err
	}
	ready <- nil
	return l.serve()
}

func (l *loop) serve() error {
	var failed error
	handle := func(e cqe) {
		if failed == nil {
			failed = l.complete(e)
		}
	}
	for turn := 0; !l.stop.Load(); turn++ {
		if turn%256 == 0 {
			// Let the scheduler see this goroutine make progress: one that
			// never yields is taken for a long runner every 10 ms, which
			// keeps sysmon waking every 20 µs (see main).
			runtime.Gosched()
		}
		sent, err := l.flush()
		if err != nil {
			return err
		}
		l.br.publish()
		// Sends to a socket with room complete while being submitted, so
		// with min_complete 1 their completions end the wait at once and
		// the next turn is one more io_uring_enter just to wait. With
		// -batchwait, wait for those sends plus one more completion, but
		// no longer than batchWait once any completion is there.
		want, minWait := uint32(1), time.Duration(0)
		if l.batchWait > 0 && sent > 0 {
			want += uint32(min(sent, int(l.r.cqEntries/2)))
			minWait = l.batchWait
		}
		if _, err := l.r.enter(want, minWait); err != nil {
			return err
		}
		l.r.forEachCQE(handle)
		if failed != nil {
			return failed
		}
	}
	return nil
}

func (l *loop) complete(e cqe) error {
	slot := int32(e.userData >> 8)
	switch e.userData & 0xff {
	case kindWake:
		return l.onWake(e.res)
	case kindRecv:
		return l.onRecv(l.conns[slot], e.res, e.flags)
	case kindSend:
		return l.onSend(l.conns[slot], e.res)
	}
	return fmt.Errorf("unexpected completion user_data %#x res %d", e.userData, e.res)
}

func (l *loop) armWake() error {
	s, err := l.r.getSQE()
	if err != nil {
		return err
	}
	s.opcode = opRead
	s.fd = int32(l.efd)
	s.addr = uint64(uintptr(unsafe.Pointer(&l.efdBuf[0])))
	s.len = 8
	s.userData = kindWake
	return nil
}

func (l *loop) onWake(res int32) error {
	if res < 0 && res != -int32(syscall.EINTR) {
		return fmt.Errorf("eventfd read: %w", syscall.Errno(-res))
	}
	for {
		select {
		case nc := <-l.incom:
			if err := l.add(nc); err != nil {
				return err
			}
			continue
		default:
		}
		break
	}
	return l.armWake()
}

func (l *loop) add(nc newConn) error {
	var c *conn
	if n := len(l.free); n > 0 {
		c = l.conns[l.free[n-1]]
		l.free = l.free[:n-1]
		out, sb := c.out[:0], c.sendBuf[:0]
		*c = conn{slot: c.slot, out: out, sendBuf: sb}
	} else {
		c = &conn{slot: int32(len(l.conns))}
		l.conns = append(l.conns, c)
	}
	c.fd = nc.fd
	l.open++
	if len(nc.rest) > 0 {
		c.consume(nc.rest)
		l.markDirty(c)
	}
	if c.state != stOpen {
		return l.settle(c)
	}
	return l.armRecv(c)
}

func (l *loop) armRecv(c *conn) error {
	s, err := l.r.getSQE()
	if err != nil {
		return err
	}
	s.opcode = opRecv
	s.flags = iosqeBufferSelect
	s.ioprio = recvMultishot
	s.fd = int32(c.fd)
	s.bufGroup = bufGroup
	s.userData = uint64(c.slot)<<8 | kindRecv
	c.recvArmed = true
	return nil
}

func (l *loop) onRecv(c *conn, res int32, flags uint32) error {
	c.recvArmed = flags&cqeFMore != 0
	if flags&cqeFBuffer != 0 {
		bid := uint16(flags >> cqeBufferShift)
		if res > 0 && c.state == stOpen {
			c.consume(l.br.buf(bid, int(res)))
			if len(c.out) > 0 {
				l.markDirty(c)
			}
		}
		l.br.recycle(bid) // the bytes are parsed or copied: reuse now
	}
	switch {
	case res == -int32(syscall.ENOBUFS):
		// Out of buffers: the ones recycled this round are published
		// before the re-arm is submitted.
	case res <= 0: // 0: the peer is gone (or we shut down); < 0: error
		if c.state == stOpen {
			c.state = stDead
		}
	}
	if c.state != stOpen {
		if c.state == stDead {
			c.out = c.out[:0]
		}
		return l.settle(c)
	}
	if !c.recvArmed {
		return l.armRecv(c)
	}
	return nil
}

func (l *loop) onSend(c *conn, res int32) error {
	c.sending = false
	if res <= 0 {
		c.state = stDead
		c.out = c.out[:0]
		return l.settle(c)
	}
	c.sendOff += int(res)
	if c.sendOff < len(c.sendBuf) || len(c.out) > 0 {
		l.markDirty(c) // short send, or more to say: next round
	} else {
		c.sendBuf = c.sendBuf[:0]
	}
	if c.state != stOpen {
		return l.settle(c)
	}
	return nil
}

func (l *loop) markDirty(c *conn) {
	if !c.dirty {
		c.dirty = true
		l.dirty = append(l.dirty, c)
	}
}

// flush queues one send per connection that has something to send and no
// send in flight: first what is left of sendBuf after a short send, else
// everything gathered in out.
func (l *loop) flush() (sent int, err error) {
	for _, c := range l.dirty {
		c.dirty = false
		if c.sending || c.state == stDead || c.fd < 0 {
			continue
		}
		if c.sendOff >= len(c.sendBuf) {
			if len(c.out) == 0 {
				continue
			}
			c.sendBuf, c.out = c.out, c.sendBuf[:0]
			c.sendOff = 0
		}
		s, err := l.r.getSQE()
		if err != nil {
			return sent, err
		}
		s.opcode = opSend
		s.fd = int32(c.fd)
		s.addr = uint64(uintptr(unsafe.Pointer(&c.sendBuf[c.sendOff])))
		s.len = uint32(len(c.sendBuf) - c.sendOff)
		// MSG_WAITALL: the kernel itself finishes a partial send.
		s.opFlags = unix.MSG_NOSIGNAL | unix.MSG_WAITALL
		s.userData = uint64(c.slot)<<8 | kindSend
		c.sending = true
		sent++
	}
	clear(l.dirty)
	l.dirty = l.dirty[:0]
	return sent, nil
}

// settle moves a closing or dead connection along: once its output is out
// (closing) and no send is in flight, shut the socket down, which ends the
// multishot recv; once that recv is over too, close and free it.
func (l *loop) settle(c *conn) error {
	if c.sending || c.fd < 0 {
		return nil
	}
	if c.state == stClosing && (len(c.out) > 0 || c.sendOff < len(c.sendBuf)) {
		l.markDirty(c)
		return nil
	}
	if !c.shut {
		c.shut = true
		unix.Shutdown(c.fd, unix.SHUT_RDWR) // ENOTCONN after a reset is fine
	}
	if c.recvArmed {
		return nil
	}
	unix.Close(c.fd)
	c.fd = -1
	l.open--
	l.free = append(l.free, c.slot)
	return nil
}
