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

func getBuf(size int) *[]byte { return bufPool(size).Get().(*[]byte) }

func putBuf(b *[]byte) { bufPool(cap(*b)).Put(b) }
