package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Wiring of permessage-deflate (RFC 7692) into the connection: negotiation
// results become a compressor for what this side sends and a decompressor
// for what it reads; RSV1 marks the first frame of a compressed message.

// negotiateServer answers the client's permessage-deflate offers when o
// enables compression, and returns the Sec-WebSocket-Extensions response.
func (cfg *connConfig) negotiateServer(r *http.Request, o *CompressionOptions) (string, error) {
	if o == nil {
		return "", nil
	}
	if err := o.validate(); err != nil {
		return "", err
	}
	p, resp, ok := negotiateDeflateServer(r.Header.Values("Sec-WebSocket-Extensions"), o)
	if !ok {
		return "", nil
	}
	cfg.deflateOn, cfg.deflate, cfg.compression = true, p, o
	return resp, nil
}

// negotiateClient checks the server's answer to our offer.
func (cfg *connConfig) negotiateClient(answers []string, o *CompressionOptions) (string, error) {
	p, ok, err := acceptDeflateResponse(answers, o)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", nil
	}
	cfg.deflateOn, cfg.deflate, cfg.compression = true, p, o
	return headerJoin(answers), nil
}

func headerJoin(vs []string) string {
	s := ""
	for i, v := range vs {
		if i > 0 {
			s += ", "
		}
		s += v
	}
	return s
}

// setupDeflate creates the per-direction state after a successful
// negotiation.
func (c *Conn) setupDeflate() {
	if !c.cfg.deflateOn {
		return
	}
	c.compressor = c.cfg.deflate.newCompressor(!c.client, c.cfg.compression)
	c.decompressor = c.cfg.deflate.newDecompressor(!c.client)
	c.payloadSrc = &payloadSource{c: c}
}

// SetCompression turns compression of outgoing messages on or off for this
// connection, for example before sending data that is already compressed.
// It has no effect when compression was not negotiated.
func (c *Conn) SetCompression(enabled bool) { c.noCompress.Store(!enabled) }

// WriteUncompressed is like Write but sends p uncompressed even when
// compression is on: RFC 7692 lets every message choose.
func (c *Conn) WriteUncompressed(ctx context.Context, typ MessageType, p []byte) error {
	if typ != MessageText && typ != MessageBinary {
		return fmt.Errorf("websocket: cannot write a message of type %v", typ)
	}
	if err := c.acquire(ctx, &c.msem); err != nil {
		return err
	}
	defer release(&c.msem)
	return c.writeFrame(ctx, true, 0, opcode(typ), p)
}

// compressMessage reports whether a message of n bytes goes out compressed.
func (c *Conn) compressMessage(n int) bool {
	return c.compressor != nil && !c.noCompress.Load() && c.compressor.shouldCompress(n)
}

// zbufPool holds output buffers of compressed messages; they grow to the
// sizes in use, and very large ones are not kept.
var zbufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledZbuf = 1 << 20

// writeCompressed compresses p and sends it as one frame with RSV1. The
// caller holds msem, which also serialises the compressor.
func (c *Conn) writeCompressed(ctx context.Context, typ MessageType, p []byte) error {
	bp := zbufPool.Get().(*[]byte)
	z, err := c.compressor.compress((*bp)[:0], p)
	if err != nil {
		zbufPool.Put(bp)
		_ = c.writeClose(StatusInternalError, "compression failed")
		_ = c.closeTransport()
		return err
	}
	err = c.writeFrame(ctx, true, bitRSV1, opcode(typ), z)
	if n, ok := c.nc.(costlyWriteNoter); ok && err == nil {
		n.noteCostlyWrite()
	}
	if cap(z) <= maxPooledZbuf {
		*bp = z[:0]
		zbufPool.Put(bp)
	}
	return err
}

// costlyWriteNoter is a transport that holds frames back (an event loop's
// corked connection) and wants to hear when one took long to make.
type costlyWriteNoter interface{ noteCostlyWrite() }

// deflater is the compression state of a MessageWriter.
type deflater struct {
	dw io.WriteCloser
}

// startDeflate makes the writer compress: compressed bytes go through
// writeRaw into frames, the first of which carries RSV1.
func (w *MessageWriter) startDeflate() {
	w.rsv = bitRSV1
	w.dw = w.c.compressor.newWriter(rawSink{w})
}

type rawSink struct{ w *MessageWriter }

func (s rawSink) Write(p []byte) (int, error) { return s.w.writeRaw(p) }

func (w *MessageWriter) deflating() bool { return w.dw != nil }

func (w *MessageWriter) deflateWrite(p []byte) (int, error) {
	n, err := w.dw.Write(p)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

func (w *MessageWriter) deflateFinish() error {
	err := w.dw.Close()
	w.dw = nil
	if err != nil {
		w.err = err
	}
	return err
}

// payloadSource reads the raw payload of the current message for the
// decompressor.
type payloadSource struct{ c *Conn }

func (s *payloadSource) Read(p []byte) (int, error) { return s.c.readPayload(p) }

func (c *Conn) beginInflate() {
	if c.decompressor == nil {
		return
	}
	c.inflater = c.decompressor.reader(c.payloadSrc)
}

func (c *Conn) endInflate() { c.inflater = nil }

// inflate reads decompressed bytes of the current message. Corrupt data
// fails the connection with StatusInvalidFramePayloadData.
func (c *Conn) inflate(p []byte) (int, error) {
	if c.inflater == nil {
		return 0, c.fail(StatusProtocolError, fmt.Errorf("%w: compressed message without negotiated compression", ErrProtocol))
	}
	n, err := c.inflater.Read(p)
	if err != nil && err != io.EOF && errors.Is(err, errInvalidDeflateData) {
		return n, c.fail(StatusInvalidFramePayloadData, err)
	}
	return n, err
}

// releaseCompressor gives the compressor's state back once the connection
// is closed. The caller holds msem, which serialises the compressor.
func (c *Conn) releaseCompressor() {
	if c.compressor != nil && c.isClosed() {
		c.compressor.release()
		c.compressor = nil
	}
}

// releaseDecompressor does the same for the reading side; the caller holds
// readMu.
func (c *Conn) releaseDecompressor() {
	if c.decompressor != nil {
		c.decompressor.release()
		c.decompressor = nil
		c.inflater = nil
	}
}
