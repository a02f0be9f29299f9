package websocket

import "sync"

// Buffers are pooled by size so that an idle connection holds none: a
// connection takes a buffer when it has bytes to move and gives it back when
// it is done with them.
var bufPools sync.Map // int → *sync.Pool of *[]byte

func bufPool(size int) *sync.Pool {
	if p, ok := bufPools.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := bufPools.LoadOrStore(size, &sync.Pool{New: func() any {
		b := make([]byte, size)
		return &b
	}})
	return p.(*sync.Pool)
}

// getBuf returns a pooled buffer of length size. Users that append to a
// buffer put it back shortened, so its length is restored here: a read
// into a buffer of length zero reads nothing, for ever.
func getBuf(size int) *[]byte {
	b := bufPool(size).Get().(*[]byte)
	*b = (*b)[:cap(*b)]
	return b
}

func putBuf(b *[]byte) { bufPool(cap(*b)).Put(b) }
