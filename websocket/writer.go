package websocket

import (
	"context"
	"errors"
	"fmt"
)

// Writer starts a message of type typ and returns a writer for its payload;
// Close on the writer ends the message (CloseWith ends it with its last
// bytes). The payload goes out in frames of up to the write buffer size as
// it is written, so a message of any length streams in bounded memory. No
// other message can be written until the writer is closed; control frames
// still can.
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
		return 0, errWriterClosed
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

// errWriterClosed is returned by a write to a MessageWriter after Close.
var errWriterClosed = errors.New("websocket: write to a closed message writer")

// Close sends what is left of the message as its final frame. It does not
// close the connection.
func (w *MessageWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	defer w.release()
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

// CloseWith adds p to the message and ends it: Write(p) then Close, except
// that p and the end of the message travel together. After a Write of at
// least the write buffer's size, which goes out at once as a frame of its
// own, Close has nothing left to send but an empty final frame: one more
// frame and one more system call a message. CloseWith sends such a p as
// the final frame itself, which suits a handler that passes a message on
// in parts and knows which part is the last (EventHandler's OnMessagePart).
func (w *MessageWriter) CloseWith(p []byte) error {
	if w.closed {
		if len(p) == 0 {
			return nil
		}
		return errWriterClosed
	}
	if w.err != nil || w.deflating() {
		// Compressed output is held back until Close anyway, so the
		// final frame is never empty.
		if _, err := w.Write(p); err != nil {
			_ = w.Close()
			return err
		}
		return w.Close()
	}
	w.closed = true
	defer w.release()
	for {
		if len(w.buf) == 0 && len(p) >= cap(w.buf) {
			return w.sendFrame(true, p)
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		if len(p) == 0 {
			return w.flushFrame(true)
		}
		if err := w.flushFrame(false); err != nil {
			return err
		}
	}
}

// release gives back the writer's buffer and the connection's message
// slot once the message has ended.
func (w *MessageWriter) release() {
	putBuf(w.bp)
	w.bp, w.buf = nil, nil
	release(&w.c.msem)
}
