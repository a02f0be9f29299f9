//go:build linux

package bench

import (
	"fmt"
	"syscall"

	"github.com/duplexws/duplex/internal/uring"
)

// A loop's round: the connections with events are read, then sent their
// next messages; with io_uring each of the two in one system call.

// loopRingEntries is how many reads or sends one ring call takes at most.
const loopRingEntries = 256

// startRing gives the loop a ring, where the kernel has io_uring.
func (l *echoLoop) startRing() {
	r, err := uring.New(loopRingEntries)
	if err != nil {
		return // a read and a write each, as without io_uring
	}
	l.ring = r
	l.fds = make([]int32, 0, loopRingEntries)
	l.bufs = make([][]byte, 0, loopRingEntries)
	l.res = make([]int32, loopRingEntries)
}

// dropRing closes a ring that failed; the loop goes on without it.
func (l *echoLoop) dropRing() {
	if l.ring != nil {
		l.ring.Close()
		l.ring = nil
	}
}

// receive reads every connection of the round that has something to read:
// with the ring in one call (per loopRingEntries), else one read each.
func (l *echoLoop) receive(now, measureFrom int64) {
	for _, lc := range l.round {
		if !lc.readable || lc.err != nil {
			continue
		}
		if l.ring == nil {
			lc.err = lc.readReady(now, measureFrom)
			continue
		}
		l.add(lc, lc.readSpace())
		if len(l.fds) == cap(l.fds) {
			l.recvBatch(now, measureFrom)
		}
	}
	l.recvBatch(now, measureFrom)
}

func (l *echoLoop) add(lc *loopConn, p []byte) {
	l.batch = append(l.batch, lc)
	l.fds = append(l.fds, int32(lc.fd))
	l.bufs = append(l.bufs, p)
}

func (l *echoLoop) recvBatch(now, measureFrom int64) {
	if len(l.batch) == 0 {
		return
	}
	res := l.res[:len(l.batch)]
	if err := l.ring.RecvAll(l.fds, l.bufs, res); err != nil {
		l.dropRing() // res still says what became of each read
	}
	for i, lc := range l.batch {
		switch r := res[i]; {
		case r == uring.Unsent:
			lc.err = lc.readReady(now, measureFrom)
		case r < 0:
			lc.err = lc.received(0, syscall.Errno(-r), now, measureFrom)
		default:
			lc.err = lc.received(int(r), nil, now, measureFrom)
		}
	}
	l.clearBatch()
}

func (l *echoLoop) clearBatch() {
	clear(l.batch)
	clear(l.bufs)
	l.batch, l.fds, l.bufs = l.batch[:0], l.fds[:0], l.bufs[:0]
}

// sendRound sends the next messages of every connection of the round
// whose echoes made room for them: with the ring in one call, else one
// write each.
func (l *echoLoop) sendRound(stopping bool, measureFrom int64) {
	for _, lc := range l.round {
		if lc.err != nil {
			continue
		}
		p := lc.next(stopping, measureFrom)
		switch {
		case p == nil:
		case l.ring == nil:
			lc.err = l.send(lc, p)
		default:
			l.add(lc, p)
			if len(l.fds) == cap(l.fds) {
				l.sendBatch()
			}
		}
	}
	l.sendBatch()
}

func (l *echoLoop) sendBatch() {
	if len(l.batch) == 0 {
		return
	}
	res := l.res[:len(l.batch)]
	if err := l.ring.SendAll(l.fds, l.bufs, res); err != nil {
		l.dropRing() // res still says what became of each send
	}
	for i, lc := range l.batch {
		p := l.bufs[i]
		switch r := res[i]; {
		case r == uring.Unsent:
			lc.err = l.send(lc, p)
		case r == -int32(syscall.EAGAIN):
			lc.err = l.sent(lc, p, 0)
		case r < 0:
			lc.err = fmt.Errorf("send: %w", syscall.Errno(-r))
		default:
			lc.err = l.sent(lc, p, int(r))
		}
	}
	l.clearBatch()
}
