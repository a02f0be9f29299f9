package websocket

import (
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/flate"
)

// deflateDecompressor reads the compressed messages of one direction of one
// connection (RFC 7692 §7.2.2). One message at a time; the connection's
// single reader serialises calls.
//
// The flate reader itself is always borrowed from a pool for one message.
// Under takeover the connection keeps only a copy of the last
// 2^windowBits bytes of output (the peer's window) and hands it to the
// borrowed reader as its dictionary, so an idle connection costs its window
// and no more.
type deflateDecompressor struct {
	takeover bool
	window   int    // bytes of history the peer may refer to
	hist     []byte // takeover only: the most recent output, at most window bytes once a message ends

	cur *flateReader // borrowed for the message being read
	msg deflateMessageReader
}

// newDeflateDecompressor returns a decompressor for messages compressed
// with at most 2^windowBits bytes of window.
//
// A peer told to use 8 bits may use 9: zlib, under Chromium, Node and many
// others, cannot compress raw deflate with a 256-byte window and silently
// uses 512 bytes. The kept window is therefore at least 512 bytes.
func newDeflateDecompressor(windowBits int, takeover bool) *deflateDecompressor {
	bits := clampWindowBits(windowBits)
	if bits < 9 {
		bits = 9
	}
	return &deflateDecompressor{takeover: takeover, window: 1 << bits}
}

// errInvalidDeflateData wraps corrupt compressed input. The connection
// should be closed with StatusInvalidFramePayloadData (1007), as Node's ws
// does.
var errInvalidDeflateData = errors.New("websocket: invalid compressed message data")

// reader returns a reader of the decompressed bytes of the message whose
// compressed bytes src yields (the payloads of its frames, then io.EOF). The
// returned reader yields data as it is inflated, at most the size of each
// Read's buffer at a time, and io.EOF at the end of the message; it is
// reused by the next call, so read each message to its end (or call
// release) before starting the next one.
func (d *deflateDecompressor) reader(src io.Reader) io.Reader {
	d.endMessage()
	var dict []byte
	if d.takeover {
		dict = d.hist
	}
	d.cur = getFlateReader(src, dict)
	d.msg = deflateMessageReader{d: d}
	return &d.msg
}

// endMessage gives the borrowed reader back.
func (d *deflateDecompressor) endMessage() {
	if d.cur != nil {
		putFlateReader(d.cur)
		d.cur = nil
	}
}

// remember appends output to the takeover window. The buffer has a quarter
// of a window of slack so that small messages shift it rarely.
func (d *deflateDecompressor) remember(b []byte) {
	if d.hist == nil {
		d.hist = make([]byte, 0, d.window+max(d.window/4, 256))
	}
	if len(b) >= d.window {
		d.hist = append(d.hist[:0], b[len(b)-d.window:]...)
		return
	}
	if len(d.hist)+len(b) > cap(d.hist) {
		keep := min(d.window-len(b), len(d.hist))
		d.hist = d.hist[:copy(d.hist, d.hist[len(d.hist)-keep:])]
	}
	d.hist = append(d.hist, b...)
}

// trimHistory keeps exactly the window once a message ends, so the
// dictionary of the next one is never larger than the peer may address.
func (d *deflateDecompressor) trimHistory() {
	if len(d.hist) > d.window {
		d.hist = d.hist[:copy(d.hist, d.hist[len(d.hist)-d.window:])]
	}
}

// release frees everything; the connection is done with the decompressor.
func (d *deflateDecompressor) release() {
	d.endMessage()
	d.hist = nil
	d.msg = deflateMessageReader{err: errors.New("websocket: decompressor used after release")}
}

// deflateMessageReader is the io.Reader of one message.
type deflateMessageReader struct {
	d   *deflateDecompressor
	err error // io.EOF after the message, or the failure
}

func (m *deflateMessageReader) Read(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	d := m.d
	if len(p) == 0 {
		return 0, nil
	}
	n, err := d.cur.fr.Read(p)
	if n > 0 && d.takeover {
		d.remember(p[:n])
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		// Either our closing block (the message ended at a block
		// boundary) or a final block of the sender's own (RFC 7692
		// §7.2.3.4 allows one). After the latter, skip whatever follows,
		// our tail included, so the frame reader reaches the end of the
		// message.
		if _, derr := d.cur.br.WriteTo(io.Discard); derr != nil {
			return n, m.fail(derr)
		}
	case d.cur.src.srcDone && d.cur.src.srcLen == 0:
		// An empty payload is not deflate data (an empty message
		// compresses to 00), but a frame with RSV1 and nothing in it can
		// only mean an empty message.
	default:
		return n, m.fail(err)
	}
	if d.takeover {
		d.trimHistory()
	}
	d.endMessage()
	m.err = io.EOF
	if n > 0 {
		return n, nil
	}
	return 0, io.EOF
}

// fail ends the message with err, marking corrupt data so the caller can
// pick the close code. Errors of the source (the network) pass unchanged.
func (m *deflateMessageReader) fail(err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.As(err, &corrupt):
		err = fmt.Errorf("%w: %w", errInvalidDeflateData, err)
	case err == io.ErrUnexpectedEOF && m.d.cur.src.srcDone:
		err = fmt.Errorf("%w: the message ends inside a deflate block", errInvalidDeflateData)
	}
	m.d.endMessage()
	m.err = err
	return err
}
