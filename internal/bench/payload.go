package bench

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Payload returns size bytes of JSON-like ASCII text with varying numbers:
// what real-time applications send, and what deflate shrinks three to five
// times, so that runs with compression measure something realistic. It is
// valid UTF-8 and may be sent as text.
func Payload(size int) []byte {
	out := make([]byte, 0, size+64)
	x := uint32(2463534242) // xorshift state: the same payload every run
	next := func() uint32 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		return x
	}
	for i := 0; len(out) < size; i++ {
		out = append(out, `{"id":`...)
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, `,"user":"u`...)
		out = strconv.AppendUint(out, uint64(next()%10000), 10)
		out = append(out, `","price":`...)
		out = strconv.AppendUint(out, uint64(next()%100000), 10)
		out = append(out, `,"side":"`...)
		if next()&1 == 0 {
			out = append(out, "buy"...)
		} else {
			out = append(out, "sell"...)
		}
		out = append(out, `"},`...)
	}
	return out[:size]
}

// frameBank holds the frames of one message masked under several keys,
// laid end to end, so that writing k messages is one write of a slice.
type frameBank struct {
	data     []byte
	frameLen int
	keys     int    // distinct masked copies; frame j uses key j%keys
	payload  []byte // the message, to compare echoes with
	op       byte
}

// newFrameBank builds keys+inflight frames of payload. With compress the
// payload is deflated once (RFC 7692 §7.2.1: the trailing 00 00 ff ff is
// removed and RSV1 set).
func newFrameBank(payload []byte, text, compress bool, keys, inflight int) (*frameBank, error) {
	op := byte(opBinary)
	if text {
		op = opText
	}
	body := payload
	if compress {
		var err error
		if body, err = deflateMessage(payload); err != nil {
			return nil, err
		}
	}
	b := &frameBank{keys: keys, payload: payload, op: op}
	var key [4]byte
	for j := 0; j < keys+inflight; j++ {
		if j < keys {
			if _, err := rand.Read(key[:]); err != nil {
				return nil, fmt.Errorf("masking keys: %w", err)
			}
		}
		start := len(b.data)
		if j >= keys {
			// Repeat the first frames so that any run of up to
			// inflight frames from any start is contiguous.
			src := b.data[(j%keys)*b.frameLen : (j%keys+1)*b.frameLen]
			b.data = append(b.data, src...)
			continue
		}
		b.data = appendClientFrame(b.data, op, compress, body, key)
		if j == 0 {
			b.frameLen = len(b.data) - start
		}
	}
	return b, nil
}

// frames returns k consecutive frames starting at message number seq.
func (b *frameBank) frames(seq int64, k int) []byte {
	s := int(seq % int64(b.keys))
	return b.data[s*b.frameLen : (s+k)*b.frameLen]
}

// deflateMessage compresses one message on its own, as permessage-deflate
// without context takeover sends it.
func deflateMessage(p []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, 1)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(p); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	return bytes.TrimSuffix(out, []byte{0, 0, 0xff, 0xff}), nil
}

// inflater decompresses permessage-deflate messages, reusing its state.
type inflater struct {
	in  []byte
	src bytes.Reader
	r   io.ReadCloser
	out bytes.Buffer
}

var syncTail = []byte{0, 0, 0xff, 0xff}

// inflate returns the decompressed message, refusing more than limit bytes.
// The result is valid until the next call.
func (f *inflater) inflate(p []byte, limit int) ([]byte, error) {
	f.in = append(append(f.in[:0], p...), syncTail...)
	f.src.Reset(f.in)
	if f.r == nil {
		f.r = flate.NewReader(&f.src)
	} else if err := f.r.(flate.Resetter).Reset(&f.src, nil); err != nil {
		return nil, err
	}
	f.out.Reset()
	// Without a final block the reader ends with ErrUnexpectedEOF once the
	// input, which ends at a sync flush point, is used up.
	n, err := f.out.ReadFrom(io.LimitReader(f.r, int64(limit)+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("inflating a compressed echo: %w", err)
	}
	if n > int64(limit) {
		return nil, fmt.Errorf("a compressed echo inflates to more than %d bytes", limit)
	}
	return f.out.Bytes(), nil
}
