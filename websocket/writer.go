package websocket

import (
	"context"
	"errors"
	"fmt"
)

// Writer starts a message of type typ and returns a writer for its payload;
// Close on the writer ends the message. The payload goes out in frames of up
// to the write buffer size as it is written, so a message of any length
// streams in bounded memory. No other message can be written until the
// writer is closed; control frames still can.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (*MessageWriter, error) {
	if typ != MessageText && typ != MessageBinary {
		return nil, fmt.Errorf("websocket: cannot write a message of type %v", typ)
	}
	if err := c.acquire(ctx, &c.msem); err != nil {
		return nil, err
	}
	w := &MessageWriter{c: c, ctx: ctx, op: opcode(typ)}
	w.bp = getBuf(c.cfg.writeBufferSize)
	w.buf = (*w.bp)[:0]
	if c.cfg.deflateOn && !c.noCompress.Load() {
		w.startDeflate()
	}
	return w, nil
}

// MessageWriter writes one message in pieces. It is returned by Conn.Writer.
type MessageWriter struct {
	c      *Conn
	ctx    context.Context
	op     opcode // opcode of the next frame: the message type, then continuation
	rsv    byte
	bp     *[]byte
	buf    []byte
	closed bool
	err    error
	deflater
}

// Write adds p to the message.
func (w *MessageWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("websocket: write to a closed message writer")
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.deflating() {
		return w.deflateWrite(p)
	}
	return w.writeRaw(p)
}

// writeRaw buffers p and sends full buffers as non-final frames. Bytes
// that would fill the buffer with nothing buffered go out as a frame of
// their own, where they lie: a long write is one frame and no copy.
func (w *MessageWriter) writeRaw(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if len(w.buf) == cap(w.buf) {
			if err := w.flushFrame(false); err != nil {
				return n, err
			}
		}
		if len(w.buf) == 0 && len(p) >= cap(w.buf) {
			if err := w.sendFrame(false, p); err != nil {
				return n, err
			}
			return n + len(p), nil
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

// flushFrame sends the buffered bytes as a frame.
func (w *MessageWriter) flushFrame(fin bool) error {
	err := w.sendFrame(fin, w.buf)
	w.buf = w.buf[:0]
	return err
}

// sendFrame sends p as the message's next frame.
func (w *MessageWriter) sendFrame(fin bool, p []byte) error {
	err := w.c.writeFrame(w.ctx, fin, w.rsv, w.op, p)
	w.op = opContinuation
	w.rsv = 0
	if err != nil {
		w.err = err
	}
	return err
}

// Close sends what is left of the message as its final frame. It does not
// close the connection.
func (w *MessageWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	defer func() {
		putBuf(w.bp)
		w.bp, w.buf = nil, nil
		release(&w.c.msem)
	}()
	if w.err != nil {
		return w.err
	}
	if w.deflating() {
		if err := w.deflateFinish(); err != nil {
			return err
		}
	}
	return w.flushFrame(true)
}
