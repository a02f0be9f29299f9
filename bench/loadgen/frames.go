package main

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
)

// deflateTail is the empty stored block a sync flush ends with; RFC 7692
// section 7.2.1 has the sender drop it and the receiver put it back.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// finalBlock follows the tail when inflating, so the flate reader sees a
// properly ended stream and returns io.EOF instead of waiting for more.
var finalBlock = []byte{0x01, 0x00, 0x00, 0xff, 0xff}

// makePayload returns size bytes of JSON-like text with varying numbers, so
// that deflate finds it about as compressible as real application messages
// (a few times smaller), neither random nor all zeros.
func makePayload(size int) []byte {
	out := make([]byte, 0, size+128)
	var seed uint32 = 2463534242
	next := func() uint32 { // xorshift32: deterministic, no allocation
		seed ^= seed << 13
		seed ^= seed >> 17
		seed ^= seed << 5
		return seed
	}
	ops := []string{"publish", "subscribe", "presence", "history", "ack"}
	for i := 0; len(out) < size; i++ {
		out = append(out, `{"id":`...)
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, `,"ch":"room-`...)
		out = strconv.AppendInt(out, int64(next()%64), 10)
		out = append(out, `","op":"`...)
		out = append(out, ops[next()%uint32(len(ops))]...)
		out = append(out, `","v":`...)
		out = strconv.AppendInt(out, int64(next()%100000), 10)
		out = append(out, `,"ok":true}`...)
		out = append(out, '\n')
	}
	return out[:size]
}

// deflateMessage compresses one whole message the way a permessage-deflate
// sender without context takeover does: a fresh compressor, a sync flush,
// and the trailing 00 00 ff ff removed.
func deflateMessage(p []byte, level int) ([]byte, error) {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, level)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(p); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	out := b.Bytes()
	if !bytes.HasSuffix(out, deflateTail) {
		return nil, fmt.Errorf("deflate output does not end with a sync flush marker")
	}
	return out[:len(out)-len(deflateTail)], nil
}

// inflater decompresses whole messages; it is created only when a
// compressed echo differs from the one already verified on that connection.
type inflater struct {
	src bytes.Reader
	fr  io.ReadCloser
	out []byte
	in  []byte
}

// inflate returns the decompressed form of one compressed message.
func (f *inflater) inflate(z []byte) ([]byte, error) {
	f.in = append(append(append(f.in[:0], z...), deflateTail...), finalBlock...)
	f.src.Reset(f.in)
	if f.fr == nil {
		f.fr = flate.NewReader(&f.src)
	} else if err := f.fr.(flate.Resetter).Reset(&f.src, nil); err != nil {
		return nil, err
	}
	f.out = f.out[:0]
	for {
		if len(f.out) == cap(f.out) {
			f.out = append(f.out, 0)[:len(f.out)]
		}
		n, err := f.fr.Read(f.out[len(f.out):cap(f.out)])
		f.out = f.out[:len(f.out)+n]
		if err == io.EOF {
			return f.out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("inflate the server's message: %w", err)
		}
	}
}

// clientFrame builds one complete masked client frame (RFC 6455 5.2) with a
// fresh random masking key.
func clientFrame(op byte, rsv1 bool, payload []byte) []byte {
	b0 := 0x80 | op
	if rsv1 {
		b0 |= 0x40
	}
	f := make([]byte, 0, len(payload)+14)
	f = append(f, b0)
	switch n := len(payload); {
	case n <= 125:
		f = append(f, 0x80|byte(n))
	case n <= 0xffff:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	var key [4]byte
	if _, err := rand.Read(key[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	f = append(f, key[:]...)
	start := len(f)
	f = append(f, payload...)
	for i := range f[start:] {
		f[start+i] ^= key[i&3]
	}
	return f
}

// frameSet is the precomputed traffic of a run: the same message under
// several masking keys, shared read-only by every connection.
type frameSet struct {
	op     byte
	want   []byte   // the payload every echo must carry
	frames [][]byte // masked frames, ready to write
}

// newFrameSet precomputes the frames for payloads of size bytes.
func newFrameSet(size int, text, compress bool) (*frameSet, error) {
	fs := &frameSet{op: 2, want: makePayload(size)}
	if text {
		fs.op = 1
	}
	body := fs.want
	if compress {
		z, err := deflateMessage(fs.want, 1)
		if err != nil {
			return nil, err
		}
		body = z
	}
	// Several keys so consecutive frames differ as a real client's would;
	// fewer for big messages to bound the memory they take.
	n := 16
	if size > 64<<10 {
		n = 4
	}
	for i := 0; i < n; i++ {
		fs.frames = append(fs.frames, clientFrame(fs.op, compress, body))
	}
	return fs, nil
}
