package websocket

import (
	"bufio"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// Pools of flate state shared by all connections. A flate writer costs
// about 1 MiB and a reader about 40 KiB (docs/compression.md), so a
// connection borrows one for the length of a message unless it negotiated
// context takeover for that direction.

// flateWriter is a pooled flate.Writer together with the sink it writes to,
// so that Reset never needs a new destination value and allocates nothing.
type flateWriter struct {
	fw         *flate.Writer
	sink       flateSink
	level      int
	windowBits int
}

// Writers at a 15-bit window are pooled per level; below 15 bits the level
// is not used (one windowed compressor exists) and they are pooled per size.
var (
	flateWriterPoolsByLevel  [10]sync.Pool // index: level 1..9
	flateWriterPoolsByWindow [16]sync.Pool // index: window bits 8..14
)

func flateWriterPool(level, windowBits int) *sync.Pool {
	if windowBits >= 15 {
		return &flateWriterPoolsByLevel[level]
	}
	return &flateWriterPoolsByWindow[windowBits]
}

// getFlateWriter returns a writer with an empty window. level must be 1..9
// and windowBits 8..15.
func getFlateWriter(level, windowBits int) *flateWriter {
	if w, ok := flateWriterPool(level, windowBits).Get().(*flateWriter); ok {
		w.fw.Reset(&w.sink)
		return w
	}
	w := &flateWriter{level: level, windowBits: windowBits}
	var err error
	if windowBits >= 15 {
		w.fw, err = flate.NewWriter(&w.sink, level)
	} else {
		w.fw, err = flate.NewWriterWindow(&w.sink, 1<<windowBits)
	}
	if err != nil {
		// Unreachable: level and window are clamped before they get here.
		panic("websocket: flate writer: " + err.Error())
	}
	return w
}

func putFlateWriter(w *flateWriter) {
	w.sink.reset()
	flateWriterPool(w.level, w.windowBits).Put(w)
}

// flateSink receives a flate writer's output. With w nil it appends to buf
// (whole messages); otherwise it passes bytes on to w and holds back the
// last four, which for a flushed message are the 00 00 ff ff that RFC 7692
// §7.2.1 strips.
type flateSink struct {
	buf   []byte
	w     io.Writer
	held  [4]byte
	nheld int
}

func (s *flateSink) reset() {
	s.buf, s.w, s.nheld = nil, nil, 0
}

func (s *flateSink) Write(p []byte) (int, error) {
	if s.w == nil {
		s.buf = append(s.buf, p...)
		return len(p), nil
	}
	total := s.nheld + len(p)
	if total <= len(s.held) {
		s.nheld += copy(s.held[s.nheld:], p)
		return len(p), nil
	}
	emit := total - len(s.held)
	if emit <= s.nheld {
		// p is shorter than four bytes: release the oldest held bytes.
		if _, err := s.w.Write(s.held[:emit]); err != nil {
			return 0, err
		}
		s.nheld = copy(s.held[:], s.held[emit:s.nheld])
		s.nheld += copy(s.held[s.nheld:], p)
		return len(p), nil
	}
	if s.nheld > 0 {
		if _, err := s.w.Write(s.held[:s.nheld]); err != nil {
			return 0, err
		}
	}
	cut := emit - s.nheld
	if _, err := s.w.Write(p[:cut]); err != nil {
		return 0, err
	}
	s.nheld = copy(s.held[:], p[cut:])
	return len(p), nil
}

// flateReader is a pooled decompressor: the flate reader, the bufio.Reader
// that gives it the fast byte-reading path, and the source adapter that
// appends 00 00 ff ff to a message (RFC 7692 §7.2.2).
type flateReader struct {
	fr  io.ReadCloser
	br  *bufio.Reader
	src tailSource
}

var flateReaderPool sync.Pool

// flateReaderBufferSize is the read-ahead of the compressed bytes. It only
// sets how often the frame reader is called, not how much is inflated at
// once.
const flateReaderBufferSize = 4096

// getFlateReader returns a reader positioned at the start of a message read
// from src, primed with dict (the peer's window, or nil).
func getFlateReader(src io.Reader, dict []byte) *flateReader {
	r, ok := flateReaderPool.Get().(*flateReader)
	if !ok {
		r = &flateReader{}
		r.br = bufio.NewReaderSize(&r.src, flateReaderBufferSize)
		r.src.reset(src)
		r.fr = flate.NewReaderDict(r.br, dict)
		return r
	}
	r.src.reset(src)
	r.br.Reset(&r.src)
	// The Resetter's error is always nil for this implementation.
	_ = r.fr.(flate.Resetter).Reset(r.br, dict)
	return r
}

func putFlateReader(r *flateReader) {
	r.src.reset(nil)
	r.br.Reset(&r.src)
	flateReaderPool.Put(r)
}

// deflateTail ends every compressed message on the wire's behalf (RFC 7692
// §7.2.2): an empty stored block that the sender stripped.
var deflateTail = [4]byte{0x00, 0x00, 0xff, 0xff}

// deflateEnd follows the tail: a final, empty block with fixed codes. A
// message that stops at a block boundary, as every sender's flush does,
// ends cleanly on it with io.EOF; one cut inside a block runs into it as
// data and fails. Without it the two look alike to the decoder.
var deflateEnd = [2]byte{0x03, 0x00}

// tailSource yields a message's compressed bytes, then deflateTail and
// deflateEnd, then io.EOF.
type tailSource struct {
	r       io.Reader
	srcDone bool
	srcLen  int64 // bytes the message had
	endPos  int   // bytes of deflateTail+deflateEnd handed out
}

func (t *tailSource) reset(r io.Reader) {
	t.r, t.srcDone, t.srcLen, t.endPos = r, false, 0, 0
}

func (t *tailSource) Read(p []byte) (int, error) {
	if !t.srcDone {
		if t.r == nil {
			return 0, io.ErrUnexpectedEOF
		}
		n, err := t.r.Read(p)
		t.srcLen += int64(n)
		switch {
		case err == io.EOF:
			t.srcDone = true
			if n > 0 {
				return n, nil
			}
		case err != nil:
			return n, err
		default:
			return n, nil
		}
	}
	n := 0
	if t.endPos < len(deflateTail) {
		n = copy(p, deflateTail[t.endPos:])
	}
	n += copy(p[n:], deflateEnd[max(0, t.endPos+n-len(deflateTail)):])
	t.endPos += n
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}
