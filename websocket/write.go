package websocket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// errCloseSent is returned for writes after our close frame went out.
var errCloseSent = fmt.Errorf("websocket: write after the close frame was sent: %w", ErrClosed)

// Write sends p as one message of type typ. A text message must be valid
// UTF-8; Write does not check it, as the peer will.
//
// While the reader has further input buffered (a client that sent several
// messages at once), a message of up to 8 KiB written meanwhile may wait
// for the reader to use that input up, so that the answers to all of it
// leave in one system call; it waits 100 µs at most, should the reader not
// come back for its next message. Write returns once the message is
// queued or handed to the kernel; a later error is returned by the next
// Write.
//
// Cancelling ctx while the message is being written closes the connection,
// since a partly written frame cannot be taken back.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	// The write path is kept shallow (no defer, the rare branches in
	// functions of their own): a goroutine that echoes with ReadInto and
	// Write then never needs more than the smallest stack, which halves
	// what an idle connection costs in the default mode
	// (docs/performance.md).
	if typ != MessageText && typ != MessageBinary {
		return badMessageType(typ)
	}
	if err := c.acquire(ctx, &c.msem); err != nil {
		return err
	}
	err := c.writeData(ctx, typ, p)
	if err != nil {
		c.releaseCompressor()
	}
	release(&c.msem)
	return err
}

func badMessageType(typ MessageType) error {
	return fmt.Errorf("websocket: cannot write a message of type %v", typ)
}

// writeData writes one whole message; the caller holds msem.
func (c *Conn) writeData(ctx context.Context, typ MessageType, p []byte) error {
	if c.compressMessage(len(p)) {
		return c.writeCompressed(ctx, typ, p)
	}
	return c.writeFrame(ctx, true, 0, opcode(typ), p)
}

// writeFrame writes one frame, serialised with every other frame.
func (c *Conn) writeFrame(ctx context.Context, fin bool, rsv byte, op opcode, p []byte) error {
	if err := c.acquire(ctx, &c.wsem); err != nil {
		return err
	}
	if c.closeSent.Load() && op != opClose {
		c.releaseWrite()
		return errCloseSent
	}
	if ctx.Done() == nil {
		err := c.writeFrameLocked(fin, rsv, op, p)
		c.releaseWrite()
		return err
	}
	err := c.writeFrameWatched(ctx, fin, rsv, op, p)
	c.releaseWrite()
	return err
}

// writeFrameWatched is writeFrameLocked under a context that can be
// cancelled: cancelling it sets a past write deadline, which ends the write.
func (c *Conn) writeFrameWatched(ctx context.Context, fin bool, rsv byte, op opcode, p []byte) error {
	w := c.watch(ctx, false)
	err := c.writeFrameLocked(fin, rsv, op, p)
	if w.stop() {
		if err == nil {
			c.resetWriteDeadline()
		} else {
			err = fmt.Errorf("websocket: write: %w", ctx.Err())
			c.writeErr = err
		}
	}
	return err
}

// writeFrameLocked encodes and sends one frame; the caller holds wsem. A
// server frame goes out in one write (header and payload copied together
// when small, writev when large); a client frame is masked into the pooled
// buffer, chunk by chunk, leaving the caller's p untouched.
func (c *Conn) writeFrameLocked(fin bool, rsv byte, op opcode, p []byte) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	var key [4]byte
	if c.client {
		key = c.maskKey()
	}
	hdr := appendHeader(c.hdr[:0], fin, rsv, op, int64(len(p)), c.client, key)
	if c.io.Load() != 0 {
		if len(p) <= corkMax && op != opClose {
			return c.corkFrame(hdr, key, p)
		}
		if err := c.uncorkLocked(); err != nil {
			return err
		}
	}
	var err error
	size := c.cfg.writeBufferSize
	if len(hdr)+len(p) <= size {
		bp := getBuf(size)
		b := append(append((*bp)[:0], hdr...), p...)
		if c.client {
			maskBytes(key, 0, b[len(hdr):])
		}
		_, err = c.nc.Write(b)
		putBuf(bp)
	} else {
		err = c.writeLarge(hdr, key, p)
	}
	if err != nil {
		return c.writeFailed(err)
	}
	return nil
}

// writeLarge sends a frame larger than the write buffer: a server's with
// one writev, a client's masked chunk by chunk.
func (c *Conn) writeLarge(hdr []byte, key [4]byte, p []byte) error {
	if c.client {
		return c.writeMasked(hdr, key, p)
	}
	if c.wv == nil {
		c.wv = new(writev)
	}
	c.wv.arr[0], c.wv.arr[1] = hdr, p
	c.wv.bufs = c.wv.arr[:]
	_, err := writeVectored(c.nc, &c.wv.bufs) // one writev in event mode too
	c.wv.arr[0], c.wv.arr[1] = nil, nil
	return err
}

// writeFailed records a transport write error: the frame may be cut, so the
// connection cannot go on.
func (c *Conn) writeFailed(err error) error {
	c.writeErr = fmt.Errorf("websocket: write: %w", err)
	if c.isClosed() {
		c.writeErr = fmt.Errorf("websocket: write: %w", ErrClosed)
	}
	_ = c.closeTransport()
	return c.writeErr
}

func (c *Conn) resetWriteDeadline() { _ = c.nc.SetWriteDeadline(time.Time{}) }

// maskChunk is the buffer size for masking large client messages: large
// enough that a megabyte goes out in a few dozen writes.
const maskChunk = 32 << 10

func (c *Conn) writeMasked(hdr []byte, key [4]byte, p []byte) error {
	bp := getBuf(maskChunk)
	defer putBuf(bp)
	b := append((*bp)[:0], hdr...)
	pos := 0
	for len(p) > 0 {
		n := min(len(p), maskChunk-len(b))
		start := len(b)
		b = append(b, p[:n]...)
		pos = maskBytes(key, pos, b[start:])
		if _, err := c.nc.Write(b); err != nil {
			return err
		}
		p = p[n:]
		b = b[:0]
	}
	if len(b) > 0 { // header of an empty payload
		_, err := c.nc.Write(b)
		return err
	}
	return nil
}

// writeControl sends a control frame.
func (c *Conn) writeControl(ctx context.Context, op opcode, p []byte) error {
	return c.writeFrame(ctx, true, 0, op, p)
}

// writeClose sends our close frame once; later calls do nothing. The write
// is bounded by the close timeout so that a peer that reads nothing cannot
// hold it.
func (c *Conn) writeClose(code StatusCode, reason string) error {
	if err := c.acquireTimeout(&c.wsem, c.cfg.closeTimeout); err != nil {
		return err
	}
	defer c.releaseWrite()
	if !c.closeSent.CompareAndSwap(false, true) {
		return nil
	}
	var buf [maxControlPayload]byte
	p := appendClosePayload(buf[:0], code, reason)
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.cfg.closeTimeout))
	err := c.writeFrameLocked(true, 0, opClose, p)
	_ = c.nc.SetWriteDeadline(time.Time{})
	return err
}

// acquire takes a one-slot semaphore, giving up when ctx is done or the
// connection is closed.
func (c *Conn) acquire(ctx context.Context, sem *slot) error {
	for {
		free := sem.waitFree()
		if free == nil {
			return nil
		}
		select {
		case <-free:
		case <-ctx.Done():
			return fmt.Errorf("websocket: write: %w", ctx.Err())
		case <-c.closed.wait():
			return fmt.Errorf("websocket: write: %w", ErrClosed)
		}
	}
}

func (c *Conn) acquireTimeout(sem *slot, d time.Duration) error {
	if sem.tryAcquire() {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		free := sem.waitFree()
		if free == nil {
			return nil
		}
		select {
		case <-free:
		case <-t.C:
			return errors.New("websocket: timed out waiting for a write in progress to send the close frame")
		case <-c.closed.wait():
			return ErrClosed
		}
	}
}

func release(sem *slot) { sem.release() }

// writev holds what net.Buffers needs for a vectored write without
// allocating on each one.
type writev struct {
	arr  [2][]byte
	bufs net.Buffers
}
