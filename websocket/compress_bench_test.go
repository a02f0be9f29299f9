package websocket

import (
	"bytes"
	stdflate "compress/flate"
	"fmt"
	"io"
	"math/rand"
	"testing"

	"github.com/klauspost/compress/flate"
)

// benchMessages returns different JSON-like messages of n bytes, enough
// of them (4 MiB, at least 16) that takeover benchmarks do not measure
// repeats of messages still in the window.
func benchMessages(n int) [][]byte {
	r := rand.New(rand.NewSource(11))
	msgs := make([][]byte, max(16, (4<<20)/n))
	for i := range msgs {
		msgs[i] = jsonishMessage(r, n)
	}
	return msgs
}

var benchSizes = []int{64, 4 << 10, 64 << 10}

// BenchmarkDeflateCompress measures our compressor per message; ratio is
// compressed/original size.
func BenchmarkDeflateCompress(b *testing.B) {
	for _, size := range benchSizes {
		msgs := benchMessages(size)
		for _, mode := range []struct {
			name     string
			bits     int
			takeover bool
		}{{"shared-w15", 15, false}, {"takeover-w15", 15, true}, {"shared-w12", 12, false}, {"takeover-w12", 12, true}} {
			b.Run(fmt.Sprintf("%d/%s", size, mode.name), func(b *testing.B) {
				c := newDeflateCompressor(1, mode.bits, mode.takeover)
				defer c.release()
				dst := make([]byte, 0, 2*size+64)
				var in, out int
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					m := msgs[i%len(msgs)]
					comp, err := c.compress(dst[:0], m)
					if err != nil {
						b.Fatal(err)
					}
					in += len(m)
					out += len(comp)
				}
				b.ReportMetric(float64(out)/float64(in), "ratio")
			})
		}
	}
}

// BenchmarkDeflateDecompress measures our decompressor per message.
func BenchmarkDeflateDecompress(b *testing.B) {
	for _, size := range benchSizes {
		msgs := benchMessages(size)
		for _, mode := range []struct {
			name     string
			bits     int
			takeover bool
		}{{"shared-w15", 15, false}, {"takeover-w15", 15, true}, {"takeover-w12", 12, true}} {
			b.Run(fmt.Sprintf("%d/%s", size, mode.name), func(b *testing.B) {
				// Compress a long cycle of messages once; decompress them in
				// order, restarting the decompressor with each cycle.
				const cycle = 64
				c := newDeflateCompressor(1, mode.bits, mode.takeover)
				comps := make([][]byte, cycle)
				for i := range comps {
					comps[i], _ = c.compress(nil, msgs[i%len(msgs)])
				}
				c.release()
				d := newDeflateDecompressor(mode.bits, mode.takeover)
				defer d.release()
				out := make([]byte, size+1)
				src := bytes.NewReader(nil)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if mode.takeover && i%cycle == 0 {
						// Start the peer's stream over, reusing the window
						// buffer: its one allocation is not per message.
						d.hist = d.hist[:0]
					}
					src.Reset(comps[i%cycle])
					r := d.reader(src)
					n := 0
					for {
						k, err := r.Read(out[n:])
						n += k
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					if n != size {
						b.Fatalf("got %d bytes, want %d", n, size)
					}
				}
			})
		}
	}
}

// BenchmarkFlateLibraries compares klauspost/compress/flate with the
// standard library's compress/flate on the same messages, each compressed
// on its own (a pooled writer, Reset per message) with a sync flush.
func BenchmarkFlateLibraries(b *testing.B) {
	type writer interface {
		io.Writer
		Flush() error
		Reset(io.Writer)
	}
	libs := []struct {
		name string
		new  func(level int) writer
	}{
		{"klauspost", func(level int) writer { w, _ := flate.NewWriter(nil, level); return w }},
		{"stdlib", func(level int) writer { w, _ := stdflate.NewWriter(nil, level); return w }},
	}
	for _, size := range benchSizes {
		msgs := benchMessages(size)
		for _, lib := range libs {
			for _, level := range []int{1, 3, 6, 9} {
				b.Run(fmt.Sprintf("compress/%d/%s/level%d", size, lib.name, level), func(b *testing.B) {
					w := lib.new(level)
					var buf bytes.Buffer
					var in, out int
					b.SetBytes(int64(size))
					b.ReportAllocs()
					for i := 0; b.Loop(); i++ {
						m := msgs[i%len(msgs)]
						buf.Reset()
						w.Reset(&buf)
						w.Write(m)
						w.Flush()
						in += len(m)
						out += buf.Len() - 4
					}
					b.ReportMetric(float64(out)/float64(in), "ratio")
				})
			}
		}
		var comp bytes.Buffer
		w, _ := flate.NewWriter(&comp, 1)
		w.Write(msgs[0])
		w.Flush()
		readers := []struct {
			name string
			r    io.ReadCloser
		}{{"klauspost", flate.NewReader(nil)}, {"stdlib", stdflate.NewReader(bytes.NewReader(nil))}}
		for _, lib := range readers {
			b.Run(fmt.Sprintf("decompress/%d/%s", size, lib.name), func(b *testing.B) {
				src := bytes.NewReader(nil)
				out := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					src.Reset(comp.Bytes())
					lib.r.(flate.Resetter).Reset(src, nil)
					if _, err := io.ReadFull(lib.r, out); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
