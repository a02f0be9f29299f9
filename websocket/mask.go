package websocket

import (
	"encoding/binary"
	"math/bits"
)

// maskBytes XORs b with the masking key (RFC 6455 §5.3), starting at offset
// pos of the key, and returns the key offset for the byte after b. Masking
// and unmasking are the same operation.
//
// It works on eight bytes at a time, or 32 with AVX2 on amd64: the key is
// rotated so that its first byte lines up with b[0], then widened to 64
// bits.
func maskBytes(key [4]byte, pos int, b []byte) int {
	pos &= 3
	if len(b) >= 16 {
		k := bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*pos)
		k64 := uint64(k) | uint64(k)<<32
		// A multiple of 32 bytes keeps the key lined up for what follows.
		if len(b) >= maskWideMin {
			b = b[maskWide(b, k64):]
		}
		for len(b) >= 32 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
			binary.LittleEndian.PutUint64(b[8:], binary.LittleEndian.Uint64(b[8:])^k64)
			binary.LittleEndian.PutUint64(b[16:], binary.LittleEndian.Uint64(b[16:])^k64)
			binary.LittleEndian.PutUint64(b[24:], binary.LittleEndian.Uint64(b[24:])^k64)
			b = b[32:]
		}
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= key[pos&3]
		pos++
	}
	return pos & 3
}
