//go:build !purego

package websocket

// useAVX2 selects the 32-bytes-at-a-time masking loop. Masking is a pass
// over every payload byte the server reads, and at large message sizes it
// was a seventh of the server's CPU with 8-byte words.
var useAVX2 = hasAVX2()

//go:noescape
func maskAVX2(b *byte, n int, key uint64)

func hasAVX2() bool

// maskWideMin is the shortest input maskWide is called for: below it the
// call costs more than the vector loop saves.
const maskWideMin = 64

// maskWide masks the longest prefix of b that the vector loop handles and
// returns its length; k64 is the key lined up with b[0], twice. The caller
// checks len(b) >= maskWideMin.
func maskWide(b []byte, k64 uint64) int {
	if !useAVX2 {
		return 0
	}
	n := len(b) &^ 31
	maskAVX2(&b[0], n, k64)
	return n
}
