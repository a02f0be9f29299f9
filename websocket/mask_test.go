package websocket

import (
	"math/rand/v2"
	"testing"
)

// TestMaskLengthsAndOffsets checks maskBytes against the RFC's byte by byte
// definition (§5.3) for every length up to 600 bytes, at every key offset
// and every alignment of the slice up to 32 bytes, so that each path (bytes, 8-byte words,
// the 32-byte vector loop and its 128-byte unrolled part) and every hand-over
// between them is covered, and that bytes around the slice are untouched.
func TestMaskLengthsAndOffsets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	key := [4]byte{0x9a, 0x31, 0xe7, 0x04}
	buf := make([]byte, 700)
	for n := 0; n <= 600; n++ {
		for align := range 33 {
			for pos := range 4 {
				for i := range buf {
					buf[i] = byte(rng.Uint32())
				}
				orig := append([]byte(nil), buf...)
				b := buf[align : align+n]
				next := maskBytes(key, pos, b)
				for i := range buf {
					want := orig[i]
					if i >= align && i < align+n {
						want ^= key[(pos+i-align)&3]
					}
					if buf[i] != want {
						t.Fatalf("n=%d align=%d pos=%d: byte %d is %#x, want %#x", n, align, pos, i-align, buf[i], want)
					}
				}
				if next != (pos+n)&3 {
					t.Fatalf("n=%d pos=%d: next position %d, want %d", n, pos, next, (pos+n)&3)
				}
			}
		}
	}
}

// TestMaskLarge masks a megabyte in uneven pieces, as a frame read in
// several reads is unmasked, and unmasks it again in one go.
func TestMaskLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	orig := make([]byte, 1<<20+13)
	for i := range orig {
		orig[i] = byte(rng.Uint32())
	}
	key := [4]byte{1, 2, 3, 250}
	b := append([]byte(nil), orig...)
	pos := 0
	for rest := b; len(rest) > 0; {
		k := min(len(rest), 1+rng.IntN(70000))
		pos = maskBytes(key, pos, rest[:k])
		rest = rest[k:]
	}
	for i := range b {
		if b[i] != orig[i]^key[i&3] {
			t.Fatalf("byte %d: %#x, want %#x", i, b[i], orig[i]^key[i&3])
		}
	}
	maskBytes(key, 0, b)
	for i := range b {
		if b[i] != orig[i] {
			t.Fatalf("unmasked byte %d: %#x, want %#x", i, b[i], orig[i])
		}
	}
}
