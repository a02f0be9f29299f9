package websocket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// goroutineBackend serves each connection from a goroutine of its own that
// reads with ReadInto and calls the handler: the EventLoop of systems
// without epoll. The handler sees the same calls in the same order; only
// the memory differs (a goroutine and a message buffer per connection).
type goroutineBackend struct {
	mu     sync.Mutex
	conns  map[*Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newGoroutineBackend() *goroutineBackend {
	return &goroutineBackend{conns: make(map[*Conn]struct{})}
}

func (b *goroutineBackend) serve(c *Conn, h EventHandler) error {
	if !c.readMu.TryLock() {
		return fmt.Errorf("%w: another goroutine is reading it", ErrNotServable)
	}
	err := checkServable(c)
	c.readMu.Unlock()
	if err != nil {
		return err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrEventLoopClosed
	}
	if _, ok := b.conns[c]; ok {
		b.mu.Unlock()
		return fmt.Errorf("%w: it is already served by an event loop", ErrNotServable)
	}
	b.conns[c] = struct{}{}
	b.wg.Add(1)
	b.mu.Unlock()
	go b.run(c, h)
	return nil
}

func (b *goroutineBackend) run(c *Conn, h EventHandler) {
	defer b.wg.Done()
	var buf []byte
	for {
		typ, p, err := c.ReadInto(context.Background(), buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) && !errors.Is(err, ErrClosed) {
				// Closed by us while the read waited: say so as the
				// epoll loop does.
				err = fmt.Errorf("websocket: read: %w", ErrClosed)
			}
			_ = c.CloseNow()
			b.mu.Lock()
			delete(b.conns, c)
			b.mu.Unlock()
			h.OnClose(c, err)
			return
		}
		buf = p
		h.OnMessage(c, typ, p)
	}
}

func (b *goroutineBackend) close() error {
	b.mu.Lock()
	b.closed = true
	for c := range b.conns {
		_ = c.CloseNow()
	}
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}
