package websocket

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	// partsAbove is EventLoopOptions.PartsAbove; zero means the default
	// read buffer's size.
	partsAbove int
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
	ph, _ := h.(EventPartHandler)
	above := b.partsAbove
	if above <= 0 {
		above = DefaultEventReadBufferSize
	}
	var buf []byte
	for {
		var typ MessageType
		var p []byte
		var err error
		inParts := false
		if ph != nil {
			typ, p, inParts, err = readForParts(c, ph, buf, above)
		} else {
			typ, p, err = c.ReadInto(context.Background(), buf)
		}
		if inParts {
			buf = p
			continue
		}
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

// readForParts reads the next message for an EventPartHandler: whole, or in
// parts once its frames announce more than above bytes, as the epoll loop
// delivers them; inParts reports that it went to the handler in parts and
// p is only the buffer to reuse. It reads through Reader, so that the read
// lock is not held while the handler runs (a handler may Close, which
// reads).
func readForParts(c *Conn, ph EventPartHandler, buf []byte, above int) (typ MessageType, p []byte, inParts bool, err error) {
	typ, r, err := c.Reader(context.Background())
	if err != nil {
		return 0, buf[:0], false, err
	}
	buf = buf[:0]
	for {
		if !inParts && c.longerThan(len(buf), above) {
			inParts = true
			if len(buf) > 0 {
				ph.OnMessagePart(c, typ, buf, false)
			}
			if cap(buf) < partChunk {
				buf = make([]byte, 0, partChunk)
			}
		}
		if inParts {
			n, err := r.Read(buf[:cap(buf)])
			switch {
			case err == io.EOF:
				ph.OnMessagePart(c, typ, buf[:n], true)
				return typ, buf[:0], true, nil
			case err != nil:
				return 0, buf[:0], false, err
			case n > 0:
				ph.OnMessagePart(c, typ, buf[:n], false)
			}
			continue
		}
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, max(cap(buf), 512))...)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return typ, buf, false, nil
		}
		if err != nil {
			return 0, buf[:0], false, err
		}
	}
}

// partChunk is the most one part brings in the goroutine backend.
const partChunk = 64 << 10

// longerThan reports whether the message being read is uncompressed and
// announces more than above bytes counting have bytes already read.
func (c *Conn) longerThan(have, above int) bool {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	return c.inMsg && !c.msgRSV1 && int64(have)+c.frameLeft > int64(above)
}
