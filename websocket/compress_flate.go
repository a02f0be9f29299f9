package websocket

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// deflateCompressor compresses the messages of one direction of one
// connection (RFC 7692 §7.2.1). It handles one message at a time; the
// connection's write lock serialises calls.
//
// With takeover it keeps a flate writer from its first message until
// release, so each message may refer back into the previous ones (up to
// 2^windowBits bytes). Without takeover it borrows a writer from a pool for
// each message and holds nothing in between.
type deflateCompressor struct {
	level      int
	windowBits int
	takeover   bool
	threshold  int // smallest message worth compressing

	own    *flateWriter // takeover only, from the first message on
	stream deflateStreamWriter
	err    error // sticky: after a failure the peer's window no longer matches ours
}

// errDeflateFlush reports a flate writer whose flush did not end with the
// empty stored block; it would mean a broken compressor, not bad input.
var errDeflateFlush = errors.New("websocket: compressor produced no sync flush marker; this is a bug, please report it")

// newDeflateCompressor returns a compressor. level is 1..9 (0 means the
// default), windowBits 8..15 (out-of-range values are clamped).
func newDeflateCompressor(level, windowBits int, takeover bool) *deflateCompressor {
	if level < 1 || level > 9 {
		level = DefaultCompressionLevel
	}
	return &deflateCompressor{
		level:      level,
		windowBits: clampWindowBits(windowBits),
		takeover:   takeover,
		threshold:  deflateConfig{threshold: -1}.thresholdFor(takeover),
	}
}

// shouldCompress reports whether a message of n bytes is worth compressing.
// The caller sends smaller ones as they are, with RSV1 clear; that leaves
// the takeover window untouched on both sides.
func (c *deflateCompressor) shouldCompress(n int) bool {
	return n >= c.threshold
}

// writer returns the flate writer for the next message: the connection's
// own under takeover, a pooled one otherwise (given back by done).
func (c *deflateCompressor) writer() *flateWriter {
	if !c.takeover {
		return getFlateWriter(c.level, c.windowBits)
	}
	if c.own == nil {
		c.own = getFlateWriter(c.level, c.windowBits)
	}
	return c.own
}

func (c *deflateCompressor) done(w *flateWriter) {
	if w != c.own {
		putFlateWriter(w)
		return
	}
	w.sink.reset()
}

// compress appends the compressed form of the message p to dst: deflate
// with a sync flush, minus the trailing 00 00 ff ff. The caller sends it
// with RSV1 set on the first frame.
func (c *deflateCompressor) compress(dst, p []byte) ([]byte, error) {
	if c.err != nil {
		return dst, c.err
	}
	w := c.writer()
	w.sink.buf = dst
	_, err := w.fw.Write(p)
	if err == nil {
		err = w.fw.Flush()
	}
	out := w.sink.buf
	c.done(w)
	if err == nil {
		if !bytes.HasSuffix(out[len(dst):], deflateTail[:]) {
			err = errDeflateFlush
		} else {
			out = out[:len(out)-len(deflateTail)]
		}
	}
	if err != nil {
		c.fail(err)
		return dst, c.err
	}
	return out, nil
}

// fail makes the compressor unusable: under takeover the peer's window now
// differs from ours, so the connection must be closed.
func (c *deflateCompressor) fail(err error) {
	if c.err == nil {
		c.err = fmt.Errorf("websocket: compressing a message: %w", err)
	}
	c.releaseWriter()
}

func (c *deflateCompressor) releaseWriter() {
	if c.own != nil {
		putFlateWriter(c.own)
		c.own = nil
	}
}

// newWriter starts a message written in pieces. Compressed bytes go to
// sink as they are produced, except the last four, held back so that Close
// can drop the 00 00 ff ff of the final sync flush. Close ends the message
// but not the sink. The returned writer is reused by the next call, so a
// message must be closed before the next one starts.
func (c *deflateCompressor) newWriter(sink io.Writer) io.WriteCloser {
	s := &c.stream
	*s = deflateStreamWriter{c: c}
	if c.err != nil {
		s.err = c.err
		return s
	}
	s.w = c.writer()
	s.w.sink.w = sink
	return s
}

// deflateStreamWriter is the io.WriteCloser of newWriter.
type deflateStreamWriter struct {
	c   *deflateCompressor
	w   *flateWriter
	err error
}

var errDeflateWriterClosed = errors.New("websocket: write to a compressed message writer after Close; start a new message")

func (s *deflateStreamWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.w == nil {
		return 0, errDeflateWriterClosed
	}
	n, err := s.w.fw.Write(p)
	if err != nil {
		s.abort(err)
		return n, s.err
	}
	return n, nil
}

// Close flushes the message and checks that what is held back is exactly
// the sync flush marker.
func (s *deflateStreamWriter) Close() error {
	if s.err != nil {
		return s.err
	}
	if s.w == nil {
		return nil
	}
	if err := s.w.fw.Flush(); err != nil {
		s.abort(err)
		return s.err
	}
	if s.w.sink.nheld != len(deflateTail) || s.w.sink.held != deflateTail {
		s.abort(errDeflateFlush)
		return s.err
	}
	s.c.done(s.w)
	s.w = nil
	return nil
}

func (s *deflateStreamWriter) abort(err error) {
	if s.w != nil && s.w != s.c.own {
		putFlateWriter(s.w)
	}
	s.w = nil
	s.c.fail(err)
	s.err = s.c.err
}

// release frees the compressor's state; the connection is done with it.
// A message left half-written is abandoned.
func (c *deflateCompressor) release() {
	if w := c.stream.w; w != nil && w != c.own {
		putFlateWriter(w)
	}
	c.stream = deflateStreamWriter{}
	c.releaseWriter()
	c.err = errors.New("websocket: compressor used after release")
}

// shareable reports whether this compressor's output may be replaced by a
// message compressed once for many connections (see preparedDeflate): only
// without takeover, since a takeover window must see every message.
func (c *deflateCompressor) shareable() (windowBits int, ok bool) {
	return c.windowBits, !c.takeover && c.err == nil
}
