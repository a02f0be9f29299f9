package websocket

import (
	"bytes"
	stdflate "compress/flate"
	"io"
	"testing"
)

// fuzzOutputLimit stops a fuzz input from inflating without end; the
// connection does the same with its read limit.
const fuzzOutputLimit = 1 << 20

// FuzzDeflateInflate feeds arbitrary bytes to the decompressor as one
// compressed message. It must never panic or overrun the limit, and
// whatever Go's compress/flate reads cleanly from the same bytes (the
// reference decoder) it must read too, to the same output. Where the
// reference reports corrupt input, klauspost/compress may still decode
// (it is lenient with incomplete Huffman codes), which is harmless. The
// seed corpus is in testdata/fuzz/FuzzDeflateInflate.
func FuzzDeflateInflate(f *testing.F) {
	f.Add([]byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})
	f.Add([]byte{0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		ref := stdflate.NewReader(io.MultiReader(bytes.NewReader(data), bytes.NewReader(deflateTail[:]), bytes.NewReader(deflateEnd[:])))
		want, refErr := io.ReadAll(io.LimitReader(ref, fuzzOutputLimit))
		refClean := refErr == nil
		for _, takeover := range []bool{false, true} {
			d := newDeflateDecompressor(15, takeover)
			got, err := io.ReadAll(io.LimitReader(d.reader(bytes.NewReader(data)), fuzzOutputLimit))
			if refClean && (err != nil || !bytes.Equal(got, want)) {
				t.Fatalf("takeover=%v: compress/flate reads %d bytes; we read %d with error %v", takeover, len(want), len(got), err)
			}
			// A second message on the same decompressor must not panic,
			// whatever window the first one left.
			io.ReadAll(io.LimitReader(d.reader(bytes.NewReader(data)), fuzzOutputLimit))
			d.release()
		}
	})
}

// FuzzDeflateRoundTrip compresses two messages with every window size and
// checks that they come back intact and that no back-reference leaves the
// window (checked by the oracle inflater).
func FuzzDeflateRoundTrip(f *testing.F) {
	f.Add([]byte("Hello, Hello, Hello"), []byte("Hello again"), uint8(0), true)
	f.Add(bytes.Repeat([]byte("abcdefghij"), 100), []byte{}, uint8(7), false)
	f.Fuzz(func(t *testing.T, first, second []byte, bitsSel uint8, takeover bool) {
		bits := 8 + int(bitsSel%8)
		c := newDeflateCompressor(1, bits, takeover)
		d := newDeflateDecompressor(bits, takeover)
		defer c.release()
		defer d.release()
		var history []byte
		for _, m := range [][]byte{first, second} {
			comp, err := c.compress(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(d.reader(bytes.NewReader(comp)))
			if err != nil || !bytes.Equal(got, m) {
				t.Fatalf("window %d takeover %v: round trip failed: %v", bits, takeover, err)
			}
			start := len(history)
			if takeover {
				start = max(0, len(history)-(1<<bits))
			}
			out, maxDist, err := oracleInflate(append(comp, deflateTail[:]...), history, start)
			if err != nil || maxDist > 1<<bits || !bytes.Equal(out[len(history):], m) {
				t.Fatalf("window %d: oracle: %v, largest distance %d", bits, err, maxDist)
			}
			history = out
		}
	})
}
