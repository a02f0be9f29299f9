package websocket

import "testing"

// TestGetBufFullLength: a buffer put back shortened (the event loop's
// write batch appends to one) comes out of the pool at full length again;
// a reader handed a zero-length buffer would spin on empty reads.
func TestGetBufFullLength(t *testing.T) {
	const size = 12345
	for range 10 {
		bp := getBuf(size)
		if len(*bp) != size {
			t.Fatalf("getBuf(%d) has length %d", size, len(*bp))
		}
		*bp = (*bp)[:7]
		putBuf(bp)
	}
}
