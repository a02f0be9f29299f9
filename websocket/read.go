package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
	"unsafe"
)

// Read reads the next data message and returns its type and payload in a new
// slice. Ping, pong and close frames that arrive meanwhile are handled. After
// the peer closes the connection, Read returns an error that CloseStatus
// decodes.
//
// Cancelling ctx while Read waits for a message leaves the connection usable;
// cancelling it in the middle of a message closes the connection, since the
// part already read cannot be given back.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	return c.ReadInto(ctx, nil)
}

// ReadInto is like Read but appends the payload to buf[:0] and returns the
// result, so that a caller who reuses its buffer reads without allocating.
func (c *Conn) ReadInto(ctx context.Context, buf []byte) (MessageType, []byte, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.pending != nil {
		m := c.popPending()
		return m.typ, append(buf[:0], m.data...), nil
	}
	if c.ev.Load() != nil {
		return 0, buf[:0], errServed // event mode: messages go to the handler
	}
	w := c.watch(ctx, true)
	var err error
	if c.rbuf == nil && c.readErr == nil && !c.inMsg {
		// Wait for data here, at the top of the call chain: a goroutine
		// parked this shallow fits the smallest stack the runtime gives,
		// which is most of the memory of an idle connection.
		err = c.fill()
	}
	var typ MessageType
	if err == nil {
		typ, buf, err = c.readMessage(buf[:0])
	}
	if w.stop() {
		err = c.afterCancel(ctx, err, true)
	}
	if err != nil {
		return 0, buf[:0], c.readFailed(err)
	}
	if c.raw != nil {
		c.sizeReadBuffer(len(buf))
	}
	if c.rpos < c.rend || c.io.Load() != 0 {
		c.afterMessage() // writes meanwhile may wait for the next (cork.go)
	}
	return typ, buf, nil
}

// sizeReadBuffer grows the next read buffer after a message of n bytes
// when a larger one would have saved a read: the buffer was full and held
// more than the message (more are waiting), or the message missed it by
// less than its size (one read next time instead of two). A message longer
// than that is read mostly straight into the caller's buffer, and a larger
// read buffer would only add a copy (rawGrowMax).
func (c *Conn) sizeReadBuffer(n int) {
	size := int(c.raw.size)
	wire := n + maxHeaderSize
	if c.rpos < c.rend && c.rend == len(c.rbuf) || !c.msgRSV1 && wire > size && wire <= 2*size {
		c.raw.grow()
	}
}

// Reader waits for the next data message and returns its type and a reader
// of its payload, which returns io.EOF at the end of the message. The reader
// is valid until the next call to Reader, Read or ReadInto; a message not read
// to its end is discarded by that call. ctx applies to the reader's reads too.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.pending != nil {
		m := c.popPending()
		return m.typ, bytes.NewReader(m.data), nil
	}
	if c.ev.Load() != nil {
		return 0, nil, errServed // event mode: messages go to the handler
	}
	w := c.watch(ctx, true)
	err := c.beginMessage()
	if w.stop() {
		err = c.afterCancel(ctx, err, false)
	}
	if err != nil {
		return 0, nil, c.readFailed(err)
	}
	c.msgGen++
	return c.msgType, &messageReader{c: c, ctx: ctx, gen: c.msgGen}, nil
}

// messageReader streams the payload of one message.
type messageReader struct {
	c   *Conn
	ctx context.Context
	gen uint64
	eof bool
}

func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if r.eof {
		return 0, io.EOF
	}
	if r.gen != c.msgGen {
		return 0, errors.New("websocket: message reader used after the next message was requested")
	}
	if c.readErr != nil {
		return 0, c.readErr
	}
	w := c.watch(r.ctx, true)
	n, err := c.readMsgData(p)
	if w.stop() {
		err = c.afterCancel(r.ctx, err, false)
	}
	if err == io.EOF {
		r.eof = true
		return n, io.EOF
	}
	if err != nil {
		if isTimeout(err) && !c.msgRSV1 {
			// The message state is kept in the Conn, so a read that
			// timed out can be retried (as net.Conn allows).
			return n, err
		}
		return n, c.readFailed(err)
	}
	return n, nil
}

// readMessage reads a whole message, appending its payload to buf.
func (c *Conn) readMessage(buf []byte) (MessageType, []byte, error) {
	if err := c.beginMessage(); err != nil {
		return 0, buf, err
	}
	typ := c.msgType
	for {
		if len(buf) == cap(buf) && (c.msgRSV1 || c.frameLeft > 0 || !c.frame.fin) {
			grow := max(cap(buf), 512)
			if !c.msgRSV1 && c.frameLeft > 0 {
				// The frame's length is known and within the read
				// limit: make room for all of it at once.
				grow = int(min(c.frameLeft, int64(1<<30)))
			}
			buf = append(buf[:cap(buf)], make([]byte, grow)...)[:len(buf)]
		}
		n, err := c.readMsgData(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return typ, buf, nil
		}
		if err != nil {
			return typ, buf, err
		}
	}
}

// beginMessage discards what is left of the previous message and reads
// frames until a new data message starts.
func (c *Conn) beginMessage() error {
	if c.readErr != nil {
		return c.readErr
	}
	if c.inMsg {
		if err := c.discardMessage(); err != nil {
			return err
		}
	}
	return c.nextFrame()
}

// discardMessage reads the rest of the current message and drops it. Text is
// still validated: invalid UTF-8 fails the connection even when unread.
func (c *Conn) discardMessage() error {
	var scratch [512]byte
	for {
		_, err := c.readMsgData(scratch[:])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readMsgData reads payload bytes of the current message, inflated when the
// message is compressed, checking the read limit and UTF-8 as they come.
func (c *Conn) readMsgData(p []byte) (int, error) {
	var n int
	var err error
	if c.msgRSV1 {
		n, err = c.inflate(p)
		if n > 0 {
			c.msgLen += int64(n)
			if c.msgLen > c.readLimit.Load() {
				return 0, c.fail(StatusMessageTooBig, fmt.Errorf("%w: inflated message is over %d bytes", ErrReadLimit, c.readLimit.Load()))
			}
		}
	} else {
		n, err = c.readPayload(p)
		c.msgLen += int64(n)
	}
	if c.msgType == MessageText {
		if n > 0 && !c.utf8.write(p[:n]) {
			return 0, c.fail(StatusInvalidFramePayloadData, ErrInvalidUTF8)
		}
		if err == io.EOF && !c.utf8.complete() {
			return 0, c.fail(StatusInvalidFramePayloadData, fmt.Errorf("%w: message ends inside a character", ErrInvalidUTF8))
		}
	}
	if err == io.EOF {
		c.inMsg = false
		c.endInflate()
		if c.raw != nil {
			c.releaseReadBuf()
		}
	}
	return n, err
}

// readPayload reads raw payload bytes of the current message, frame after
// frame, unmasked; io.EOF marks the end of the message.
func (c *Conn) readPayload(p []byte) (int, error) {
	for c.frameLeft == 0 {
		if c.frame.fin {
			return 0, io.EOF
		}
		if err := c.nextFrame(); err != nil {
			return 0, midMessage(err)
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > c.frameLeft {
		p = p[:c.frameLeft]
	}
	var n int
	switch {
	case c.rpos < c.rend:
		src := c.rbuf[c.rpos:c.rend]
		n = min(len(p), len(src))
		// Event mode parses long payloads where they were read, so p and
		// src can be the same bytes: copying them onto themselves would
		// cost a whole pass over a large message.
		if unsafe.SliceData(p) != unsafe.SliceData(src) {
			copy(p, src[:n])
		}
		c.rpos += n
	case len(p) >= c.cfg.readBufferSize && c.ev.Load() == nil:
		// Large reads go straight to the caller's buffer: no extra copy.
		// (Not in event mode, where only the loop reads the socket.)
		var err error
		n, err = c.nc.Read(p)
		if n == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return 0, midMessage(err)
		}
	default:
		if err := c.fill(); err != nil {
			return 0, midMessage(err)
		}
		n = copy(p, c.rbuf[c.rpos:c.rend])
		c.rpos += n
	}
	if c.frame.masked {
		c.maskPos = maskBytes(c.frame.key, c.maskPos, p[:n])
	}
	c.frameLeft -= int64(n)
	return n, nil
}

// midMessage turns the end of the transport inside a message into
// io.ErrUnexpectedEOF: readPayload's io.EOF means "end of the message", and
// a bare transport EOF would deliver a truncated message as if complete.
func midMessage(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// nextFrame reads frames, handling control frames, until the header of a
// data frame is read; it checks every rule of RFC 6455 §5 that a header can
// break.
func (c *Conn) nextFrame() error {
	// The checks live in functions of their own: their error messages
	// need large stack frames, and this function is on the stack of
	// every connection that waits for its next frame, which is what
	// decides whether a waiting goroutine fits in the smallest stack.
	for {
		h, err := c.readHeader()
		if err != nil {
			return err
		}
		if err := c.checkFrame(&h); err != nil {
			return err
		}
		if h.op.isControl() {
			if err := c.handleControl(&h); err != nil {
				return err
			}
			continue
		}
		return c.startFrame(&h)
	}
}

// checkFrame applies the rules every frame header must follow (RFC 6455
// §5.2, §5.5).
func (c *Conn) checkFrame(h *frameHeader) error {
	allowed := byte(0)
	if c.cfg.deflateOn {
		allowed = bitRSV1
	}
	switch {
	case h.rsv&^allowed != 0:
		return c.fail(StatusProtocolError, fmt.Errorf("%w: reserved bits %#x set without an extension that defines them", ErrProtocol, h.rsv))
	case h.masked == c.client:
		if c.client {
			return c.fail(StatusProtocolError, fmt.Errorf("%w: the server sent a masked frame", ErrProtocol))
		}
		return c.fail(StatusProtocolError, fmt.Errorf("%w: the client sent an unmasked frame", ErrProtocol))
	}
	if h.op.isControl() {
		switch {
		case h.op != opClose && h.op != opPing && h.op != opPong:
			return c.fail(StatusProtocolError, fmt.Errorf("%w: %v", ErrProtocol, h.op))
		case !h.fin:
			return c.fail(StatusProtocolError, fmt.Errorf("%w: fragmented %v frame", ErrProtocol, h.op))
		case h.length > maxControlPayload:
			return c.fail(StatusProtocolError, fmt.Errorf("%w: %v frame of %d bytes; control frames carry at most 125", ErrProtocol, h.op, h.length))
		case h.rsv != 0:
			return c.fail(StatusProtocolError, fmt.Errorf("%w: compressed %v frame", ErrProtocol, h.op))
		}
	}
	return nil
}

// startFrame takes a data frame's header: it starts a message or
// continues one, and checks the read limit.
func (c *Conn) startFrame(h *frameHeader) error {
	switch h.op {
	case opContinuation:
		if !c.inMsg {
			return c.fail(StatusProtocolError, fmt.Errorf("%w: continuation frame with no message to continue", ErrProtocol))
		}
		if h.rsv != 0 {
			return c.fail(StatusProtocolError, fmt.Errorf("%w: RSV1 set on a continuation frame", ErrProtocol))
		}
	case opText, opBinary:
		if c.inMsg {
			return c.fail(StatusProtocolError, fmt.Errorf("%w: new %v message before the fragmented one ended", ErrProtocol, h.op))
		}
		c.inMsg = true
		c.msgType = MessageType(h.op)
		c.msgRSV1 = h.rsv&bitRSV1 != 0
		c.msgLen = 0
		c.utf8.reset()
		if c.msgRSV1 {
			c.beginInflate()
		}
	default:
		return c.fail(StatusProtocolError, fmt.Errorf("%w: %v", ErrProtocol, h.op))
	}
	if !c.msgRSV1 {
		if limit := c.readLimit.Load(); h.length > limit-c.msgLen {
			return c.fail(StatusMessageTooBig, fmt.Errorf("%w: message of at least %d bytes, limit %d", ErrReadLimit, c.msgLen+h.length, limit))
		}
	}
	c.frame = *h
	c.frameLeft = h.length
	c.maskPos = 0
	return nil
}

// readHeader reads and decodes one frame header.
func (c *Conn) readHeader() (frameHeader, error) {
	if err := c.ensure(2); err != nil {
		return frameHeader{}, err
	}
	n := headerSize(c.rbuf[c.rpos+1])
	need := n
	if c.rbuf[c.rpos]&0x08 != 0 && c.rbuf[c.rpos+1]&0x7F <= maxControlPayload && c.ev.Load() != nil {
		// Event mode: a control frame is buffered whole before its header
		// is consumed, so that parsing can stop here when the input runs
		// out and resume at the same place.
		need += int(c.rbuf[c.rpos+1] & 0x7F)
	}
	if err := c.ensure(need); err != nil {
		return frameHeader{}, err
	}
	h, _, err := parseHeader(c.rbuf[c.rpos:c.rend])
	if err != nil {
		return h, c.fail(StatusProtocolError, fmt.Errorf("%w: %w", ErrProtocol, err))
	}
	c.rpos += n
	return h, nil
}

// handleControl reads a control frame's payload and acts on it.
func (c *Conn) handleControl(h *frameHeader) error {
	n := int(h.length)
	if err := c.ensure(n); err != nil {
		return err
	}
	// The payload is unmasked in place in the read buffer: control frames
	// need no buffer of their own.
	p := c.rbuf[c.rpos : c.rpos+n : c.rpos+n]
	c.rpos += n
	if h.masked {
		maskBytes(h.key, 0, p)
	}
	switch h.op {
	case opPing:
		if c.cfg.onPing != nil {
			c.cfg.onPing(p)
		}
		// No frame may follow our close frame; Close can send it between
		// this check and the pong's write, which then finds it sent and
		// drops the pong, and reading goes on to the peer's close.
		if c.closeSent.Load() {
			return nil
		}
		if err := c.writeControl(context.Background(), opPong, p); err != nil && err != errCloseSent {
			return err
		}
		return nil
	case opPong:
		c.gotPong(p)
		if c.cfg.onPong != nil {
			c.cfg.onPong(p)
		}
		return nil
	}
	return c.handleClose(p)
}

// handleClose answers the peer's close frame and ends the connection.
func (c *Conn) handleClose(p []byte) error {
	ce, failCode, err := parseClosePayload(p)
	if err != nil {
		return c.fail(failCode, fmt.Errorf("%w: %w", ErrProtocol, err))
	}
	c.closeRecvd.fire()
	if !c.closeSent.Load() {
		// Echo the code, as RFC 6455 §5.5.1 suggests; an empty close
		// frame is answered with an empty one.
		_ = c.writeClose(ce.Code, "")
	}
	perr := &CloseError{Code: ce.Code, Reason: ce.Reason}
	c.readErr = perr
	if c.client {
		// The server closes the TCP connection first (RFC 6455 §7.1.1):
		// wait for it, for a while, before closing ours.
		_ = c.nc.SetReadDeadline(time.Now().Add(c.cfg.closeTimeout))
		var scratch [64]byte
		for {
			if _, err := c.nc.Read(scratch[:]); err != nil {
				break
			}
		}
	}
	_ = c.closeTransport()
	c.releaseDecompressor()
	c.releaseReadBuf()
	return perr
}

// fail sends a close frame with code, closes the connection and returns err,
// which becomes the error of every later read.
func (c *Conn) fail(code StatusCode, err error) error {
	if c.readErr != nil {
		return c.readErr
	}
	reason := err.Error()
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
		for len(reason) > 0 && !utf8RuneStart(reason[len(reason)-1]) {
			reason = reason[:len(reason)-1]
		}
	}
	_ = c.writeClose(code, reason)
	_ = c.closeTransport()
	c.readErr = err
	return err
}

func utf8RuneStart(b byte) bool { return b < 0x80 }

// ensure buffers at least n bytes; n is at most maxControlPayload.
func (c *Conn) ensure(n int) error {
	for c.rend-c.rpos < n {
		if err := c.fill(); err != nil {
			return err
		}
	}
	return nil
}

// fill reads more bytes into the read buffer.
func (c *Conn) fill() error {
	if c.ev.Load() != nil {
		// Event mode: the loop has put all the bytes it has in rbuf;
		// parsing stops here and resumes when more arrive.
		return errWouldBlock
	}
	if c.io.Load() != 0 {
		c.inputUsedUp() // what is corked goes out before we wait
	}
	if c.rbuf == nil {
		if c.raw != nil {
			// Nothing buffered: wait without holding a buffer.
			bp, n, err := c.raw.read()
			if err != nil {
				return err
			}
			c.rbufp, c.rbuf = bp, *bp
			c.rpos, c.rend = 0, n
			return nil
		}
		c.rbufp = getBuf(c.cfg.readBufferSize)
		c.rbuf = *c.rbufp
	}
	if c.rpos == c.rend {
		c.rpos, c.rend = 0, 0
	} else if c.rend == len(c.rbuf) || len(c.rbuf)-c.rpos < maxHeaderSize+maxControlPayload {
		c.rend = copy(c.rbuf, c.rbuf[c.rpos:c.rend])
		c.rpos = 0
	}
	for {
		n, err := c.nc.Read(c.rbuf[c.rend:])
		c.rend += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// releaseReadBuf gives the read buffer back to the pool when nothing in it
// is waiting to be read.
func (c *Conn) releaseReadBuf() {
	if c.rbufp != nil && c.rpos == c.rend {
		putBuf(c.rbufp)
		c.rbufp, c.rbuf = nil, nil
		c.rpos, c.rend = 0, 0
	}
}

// afterCancel sorts out a read that ctx interrupted. At a message boundary
// the connection stays usable; in the middle of a whole-message read it does
// not.
func (c *Conn) afterCancel(ctx context.Context, err error, whole bool) error {
	_ = c.nc.SetReadDeadline(time.Time{})
	if err == nil || !isTimeout(err) {
		return err
	}
	if !c.inMsg && c.frameLeft == 0 {
		return fmt.Errorf("websocket: read: %w", ctx.Err())
	}
	if !whole && !c.msgRSV1 {
		return fmt.Errorf("websocket: read: %w", ctx.Err())
	}
	_ = c.closeTransport()
	c.readErr = errCancelledMidMessage
	return c.readErr
}

// readFailed turns an error of the transport into the error the caller sees
// and makes it stick, unless it was a timeout that left the state intact.
func (c *Conn) readFailed(err error) error {
	if c.readErr != nil {
		if c.isClosed() {
			c.releaseDecompressor()
			c.releaseReadBuf()
		}
		return c.readErr
	}
	if isTimeout(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	switch {
	case c.isClosed():
		err = fmt.Errorf("websocket: read: %w", ErrClosed)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("websocket: the peer closed the connection without a close frame: %w", io.ErrUnexpectedEOF)
	default:
		err = fmt.Errorf("websocket: read: %w", err)
	}
	c.readErr = err
	_ = c.closeTransport()
	c.releaseDecompressor()
	c.releaseReadBuf()
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
