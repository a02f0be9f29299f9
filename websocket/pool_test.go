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

// TestBufPoolSizes: every size gets its own pool, the same one each time,
// and its buffers have that size.
func TestBufPoolSizes(t *testing.T) {
	pools := map[int]any{}
	for round := range 2 {
		for i := range 20 {
			size := 1000 + 7*i
			p := bufPool(size)
			if round == 0 {
				pools[size] = p
			} else if pools[size] != p {
				t.Fatalf("size %d: a second pool", size)
			}
			bp := getBuf(size)
			if len(*bp) != size || cap(*bp) != size {
				t.Fatalf("getBuf(%d): len %d cap %d", size, len(*bp), cap(*bp))
			}
			putBuf(bp)
		}
	}
	seen := map[any]bool{}
	for _, p := range pools {
		if seen[p] {
			t.Fatal("two sizes share a pool")
		}
		seen[p] = true
	}
}

func BenchmarkBufPool(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		putBuf(getBuf(4096))
	}
}
