package websocket

import (
	"context"
	"time"
)

// Write coalescing in the default mode. When the reader still has input
// buffered, it will hand over the next message without a system call, and
// whatever is written meanwhile (the echo of a message, the answer to a
// request) can wait for it and leave in one write with the answers to the
// messages behind it. So a small frame written while the reader has more
// input is added to a cork buffer, and the buffer goes out when the reader
// has used up its input and is about to read from the network again, when
// it is full, with the next frame that cannot wait, or after corkDelay at
// the latest, should the reader not come back for its next message.
//
// Measured with 100 connections each keeping 16 messages of 64 B in
// flight, an echo loop of ReadInto and Write: one write(2) per read
// instead of one per message (docs/performance.md). A connection that
// gets one message at a time never corks: its reader has nothing more
// buffered.

// The bits of Conn.io, shared by the reader and the writers.
const (
	ioMoreInput = 1 << iota // the reader has input buffered; set and cleared by the reader
	ioCorked                // frames wait in the cork buffer; set and cleared under wsem
)

// corkDelay bounds how long a frame waits in the cork buffer when the
// reader does not come back for the input it has.
const corkDelay = 100 * time.Microsecond

// corkMax is the longest frame that is corked, and corkBufSize the cork
// buffer's size: longer frames go out at once, with what is corked.
const (
	corkMax     = 8 << 10
	corkBufSize = 32 << 10
)

// cork holds the frames waiting; made on the first, guarded by wsem.
type cork struct {
	bp    *[]byte // nil when empty
	n     int
	timer *time.Timer
}

// corkFrame adds a small frame to the cork buffer, or sends it with what
// is there when the reader has used up its input. The caller holds wsem.
func (c *Conn) corkFrame(hdr []byte, key [4]byte, p []byte) error {
	ck := c.ck
	if ck == nil {
		ck = new(cork)
		c.ck = ck
	}
	if ck.bp != nil && ck.n+len(hdr)+len(p) > cap(*ck.bp) {
		if err := c.flushCorkLocked(); err != nil {
			return err
		}
	}
	if ck.bp == nil {
		ck.bp = getBuf(corkBufSize)
		if ck.timer == nil {
			ck.timer = time.AfterFunc(corkDelay, c.corkExpired)
		} else {
			ck.timer.Reset(corkDelay)
		}
	}
	b := append(append((*ck.bp)[:ck.n], hdr...), p...)
	if c.client {
		maskBytes(key, 0, b[len(b)-len(p):])
	}
	ck.n = len(b)
	// Set ioCorked, then look at ioMoreInput: the reader clears that bit,
	// then looks at this one (inputUsedUp), so one of the two sees both
	// and sends.
	if c.io.Or(ioCorked)&ioMoreInput == 0 {
		return c.flushCorkLocked()
	}
	return nil
}

// flushCorkLocked sends the corked frames. The caller holds wsem.
func (c *Conn) flushCorkLocked() error {
	c.io.And(^uint32(ioCorked))
	ck := c.ck
	if ck == nil || ck.bp == nil {
		return nil
	}
	bp, n := ck.bp, ck.n
	ck.bp, ck.n = nil, 0
	ck.timer.Stop()
	var err error
	if c.writeErr != nil {
		err = c.writeErr
	} else if _, werr := c.nc.Write((*bp)[:n]); werr != nil {
		err = c.writeFailed(werr)
	}
	putBuf(bp)
	return err
}

// uncorkLocked sends the corked frames, if any, before a frame that cannot
// be corked. The caller holds wsem.
func (c *Conn) uncorkLocked() error {
	if c.io.Load()&ioCorked == 0 {
		return nil
	}
	return c.flushCorkLocked()
}

// inputUsedUp is called by the reader before it reads from the network:
// what is corked goes out first. If a writer holds wsem, that writer sends
// it when it lets go (releaseWrite), so the reader never waits for one.
func (c *Conn) inputUsedUp() {
	if c.io.And(^uint32(ioMoreInput))&ioCorked != 0 {
		c.flushCork()
	}
}

// flushCork sends the corked frames unless another goroutine holds wsem.
func (c *Conn) flushCork() {
	if !c.wsem.tryAcquire() {
		return
	}
	err := c.uncorkLocked()
	release(&c.wsem)
	_ = err // recorded in writeErr: the next write reports it
}

// releaseWrite lets go of wsem, then sends what is corked if the reader
// has used up its input meanwhile and could not take wsem to send it.
func (c *Conn) releaseWrite() {
	release(&c.wsem)
	if c.io.Load() == ioCorked {
		c.flushCork()
	}
}

// corkExpired sends what is corked when the reader has not come back for
// its buffered input within corkDelay. It runs on its own goroutine.
func (c *Conn) corkExpired() {
	if c.acquire(context.Background(), &c.wsem) != nil {
		return // closed
	}
	err := c.uncorkLocked()
	release(&c.wsem)
	_ = err
}

// afterMessage records, once the reader has a message, whether a whole
// frame is buffered behind it: only then will the next read need no
// system call, and writes meanwhile wait for it.
func (c *Conn) afterMessage() {
	if c.rpos < c.rend {
		if h, n, err := parseHeader(c.rbuf[c.rpos:c.rend]); err == nil && h.length <= int64(c.rend-c.rpos-n) {
			if c.io.Load()&ioMoreInput == 0 {
				c.io.Or(ioMoreInput)
			}
			return
		}
	}
	if c.io.Load()&ioMoreInput != 0 {
		// What is corked goes out with the next write, or before the
		// reader waits (fill).
		c.io.And(^uint32(ioMoreInput))
	}
}
