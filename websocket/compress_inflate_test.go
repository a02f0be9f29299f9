package websocket

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"runtime"
	"testing"

	"github.com/klauspost/compress/flate"
)

func TestDeflateDecompressorErrors(t *testing.T) {
	d := newDeflateDecompressor(15, true)
	t.Cleanup(d.release)

	// Reserved block type 3.
	_, err := io.ReadAll(d.reader(bytes.NewReader([]byte{0xff, 0xff, 0xff})))
	if !errors.Is(err, errInvalidDeflateData) {
		t.Errorf("reserved block: err = %v, want errInvalidDeflateData", err)
	}
	// A distance before the start of the stream.
	c := newDeflateCompressor(1, 15, true)
	t.Cleanup(c.release)
	c.compress(nil, []byte("some earlier message that sets the window"))
	second, _ := c.compress(nil, []byte("some earlier message that sets the window"))
	fresh := newDeflateDecompressor(15, true)
	t.Cleanup(fresh.release)
	if _, err := io.ReadAll(fresh.reader(bytes.NewReader(second))); !errors.Is(err, errInvalidDeflateData) {
		t.Errorf("reference into a window we never saw: err = %v, want errInvalidDeflateData", err)
	}
	// A stream that stops inside a stored block.
	if _, err := io.ReadAll(d.reader(bytes.NewReader([]byte{0x00, 0x05, 0x00, 0xfa, 0xff, 'H', 'e'}))); !errors.Is(err, errInvalidDeflateData) {
		t.Errorf("truncated stored block: err = %v, want errInvalidDeflateData", err)
	}
	// A message cut inside a compressed block.
	if _, err := io.ReadAll(d.reader(bytes.NewReader([]byte{0xf2, 0x48, 0xcd}))); !errors.Is(err, errInvalidDeflateData) {
		t.Errorf("truncated Huffman block: err = %v, want errInvalidDeflateData", err)
	}
	// Errors of the frame reader pass through unchanged.
	broken := io.MultiReader(bytes.NewReader([]byte{0xf2, 0x48}), &erroringReader{errSinkBroken})
	if _, err := io.ReadAll(d.reader(broken)); !errors.Is(err, errSinkBroken) || errors.Is(err, errInvalidDeflateData) {
		t.Errorf("source error: err = %v, want it unchanged", err)
	}
	// After an error the next message starts clean.
	if got := decompressOne(t, newDeflateDecompressor(15, false), []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}); string(got) != "Hello" {
		t.Errorf("after errors: %q", got)
	}
}

type erroringReader struct{ err error }

func (e *erroringReader) Read([]byte) (int, error) { return 0, e.err }

// A message ended with a final block may be followed by anything; the
// reader skips it so the frame reader reaches the end of the message.
func TestDeflateFinalBlockThenJunk(t *testing.T) {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, 1)
	w.Write([]byte("final block message"))
	w.Close()
	src := bytes.NewReader(append(buf.Bytes(), "junk after the end"...))
	d := newDeflateDecompressor(15, true)
	t.Cleanup(d.release)
	got, err := io.ReadAll(d.reader(src))
	if err != nil || string(got) != "final block message" {
		t.Fatalf("got %q, %v", got, err)
	}
	if src.Len() != 0 {
		t.Errorf("%d bytes of the message left unread", src.Len())
	}
}

// An abandoned message (read limit hit, connection closing) gives its
// pooled state back on release or on the next message.
func TestDeflateAbandonedMessage(t *testing.T) {
	c := newDeflateCompressor(1, 15, false)
	t.Cleanup(c.release)
	m := jsonishMessage(rand.New(rand.NewSource(7)), 50000)
	comp, _ := c.compress(nil, m)
	d := newDeflateDecompressor(15, false)
	r := d.reader(bytes.NewReader(comp))
	if _, err := io.ReadFull(r, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if got := decompressOne(t, d, comp); !bytes.Equal(got, m) {
		t.Fatal("message after an abandoned one differs")
	}
	d.reader(bytes.NewReader(comp))
	d.release()
	if d.cur != nil {
		t.Error("release kept the pooled reader")
	}
	if _, err := r.Read(make([]byte, 10)); err == nil {
		t.Error("read after release succeeded")
	}
}

// bombStream returns a compressed message of about size/1000 bytes that
// inflates to size zero bytes: one flushed MiB of zeros, then the same
// block again and again, each copy referring only to the zeros before it.
func bombStream(t testing.TB, size int) []byte {
	t.Helper()
	const chunk = 1 << 20
	zeros := make([]byte, chunk)
	var first, repeat bytes.Buffer
	w, _ := flate.NewWriter(&first, 9)
	w.Write(zeros)
	w.Flush()
	wd, _ := flate.NewWriterDict(&repeat, 9, zeros[:32768])
	wd.Write(zeros)
	wd.Flush()
	out := append([]byte(nil), first.Bytes()...)
	for n := chunk; n < size; n += chunk {
		out = append(out, repeat.Bytes()...)
	}
	return bytes.TrimSuffix(out, deflateTail[:])
}

// TestDeflateBomb reads 256 MiB out of a 256 KiB message incrementally and
// checks that it costs the reader almost no memory: the connection counts
// bytes and stops at its read limit, so nothing may buffer the message.
func TestDeflateBomb(t *testing.T) {
	const size = 256 << 20
	bomb := bombStream(t, size)
	if len(bomb) > size/500 {
		t.Fatalf("bomb is %d bytes; expected a ratio above 500", len(bomb))
	}
	for _, takeover := range []bool{false, true} {
		d := newDeflateDecompressor(15, takeover)
		r := d.reader(bytes.NewReader(bomb))
		buf := make([]byte, 32<<10)
		// Warm up: the pooled reader and the window are allocated once.
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		total := len(buf)
		const stopAt = 100 << 20
		for total < stopAt {
			n, err := r.Read(buf)
			if err != nil {
				t.Fatalf("after %d bytes: %v", total, err)
			}
			if bytes.IndexByte(buf[:n], 1) >= 0 {
				t.Fatal("non-zero byte in the output")
			}
			total += n
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
			t.Errorf("takeover=%v: reading %d MiB allocated %d bytes; want almost none", takeover, total>>20, grew)
		}
		d.release()
	}
	// Read to the end once, to see the message ends where it should.
	d := newDeflateDecompressor(15, false)
	t.Cleanup(d.release)
	n, err := io.Copy(io.Discard, d.reader(bytes.NewReader(bomb)))
	if err != nil || n != size {
		t.Fatalf("full read: %d bytes, %v; want %d", n, err, size)
	}
}

// Steady state allocates nothing: pooled flate state, reused readers and
// writers, the window buffer allocated once.
func TestDeflateNoAllocs(t *testing.T) {
	m := jsonishMessage(rand.New(rand.NewSource(8)), 4096)
	for _, takeover := range []bool{true, false} {
		for _, bits := range []int{9, 15} {
			c := newDeflateCompressor(1, bits, takeover)
			d := newDeflateDecompressor(bits, takeover)
			dst := make([]byte, 0, 8192)
			out := make([]byte, 8192)
			src := bytes.NewReader(nil)
			run := func() {
				comp, err := c.compress(dst[:0], m)
				if err != nil {
					t.Fatal(err)
				}
				src.Reset(comp)
				r := d.reader(src)
				n := 0
				for {
					k, err := r.Read(out[n:])
					n += k
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				if n != len(m) {
					t.Fatalf("decompressed %d bytes, want %d", n, len(m))
				}
			}
			run()
			// Under the race detector sync.Pool discards on purpose and
			// every mode borrows pooled state, so the count means nothing
			// there; the round trip above still runs.
			if allocs := testing.AllocsPerRun(50, run); allocs > 0 && !deflateRaceEnabled {
				t.Errorf("takeover=%v window=%d: %.1f allocations per message, want 0", takeover, bits, allocs)
			}
			c.release()
			d.release()
		}
	}
}
