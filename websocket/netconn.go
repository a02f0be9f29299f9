package websocket

import (
	"context"
	"errors"

	"io"
	"net"
	"sync"
	"time"
)

// NetConn returns a net.Conn that reads and writes the payloads of c's
// messages as a byte stream: each Write sends one message of type typ, and
// Read returns the payloads of incoming messages one after the other. It
// lets a WebSocket carry any protocol written for net.Conn.
//
// Closing the net.Conn closes c with StatusNormalClosure. A close from the
// peer with StatusNormalClosure or StatusGoingAway reads as io.EOF.
// Deadlines are honoured: a Read or Write past its deadline returns an error
// whose Timeout method reports true, and a timed-out Read can be retried.
// ctx bounds the life of the adapter.
func NetConn(ctx context.Context, c *Conn, typ MessageType) net.Conn {
	return &netConn{c: c, typ: typ, ctx: ctx}
}

type netConn struct {
	c   *Conn
	typ MessageType
	ctx context.Context

	mu            sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time

	readMu sync.Mutex
	r      io.Reader
	eof    bool
}

// timeoutError is returned when a deadline passes.
type timeoutError struct{}

func (timeoutError) Error() string   { return "websocket: i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Is(err error) bool {
	return err == context.DeadlineExceeded
}

func (n *netConn) opContext(deadline time.Time) (context.Context, context.CancelFunc) {
	if deadline.IsZero() {
		return n.ctx, func() {}
	}
	return context.WithDeadline(n.ctx, deadline)
}

func (n *netConn) Read(p []byte) (int, error) {
	n.readMu.Lock()
	defer n.readMu.Unlock()
	if n.eof {
		return 0, io.EOF
	}
	n.mu.Lock()
	d := n.readDeadline
	n.mu.Unlock()
	if !d.IsZero() && !time.Now().Before(d) {
		return 0, timeoutError{}
	}
	ctx, cancel := n.opContext(d)
	defer cancel()
	for {
		if n.r == nil {
			_, r, err := n.c.Reader(ctx)
			if err != nil {
				return 0, n.readErr(ctx, err)
			}
			n.r = r
		}
		if mr, ok := n.r.(*messageReader); ok {
			mr.ctx = ctx
		}
		k, err := n.r.Read(p)
		if err == io.EOF {
			n.r = nil
			if k > 0 {
				return k, nil
			}
			continue
		}
		if err != nil {
			return k, n.readErr(ctx, err)
		}
		return k, nil
	}
}

func (n *netConn) readErr(ctx context.Context, err error) error {
	switch CloseStatus(err) {
	case StatusNormalClosure, StatusGoingAway:
		n.eof = true
		return io.EOF
	}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && n.ctx.Err() == nil {
		return timeoutError{}
	}
	return err
}

func (n *netConn) Write(p []byte) (int, error) {
	n.mu.Lock()
	d := n.writeDeadline
	n.mu.Unlock()
	if !d.IsZero() && !time.Now().Before(d) {
		return 0, timeoutError{}
	}
	ctx, cancel := n.opContext(d)
	defer cancel()
	if err := n.c.Write(ctx, n.typ, p); err != nil {
		if ctx.Err() != nil && n.ctx.Err() == nil {
			return 0, timeoutError{}
		}
		return 0, err
	}
	return len(p), nil
}

func (n *netConn) Close() error {
	err := n.c.Close(StatusNormalClosure, "")
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

func (n *netConn) LocalAddr() net.Addr  { return n.c.LocalAddr() }
func (n *netConn) RemoteAddr() net.Addr { return n.c.RemoteAddr() }

func (n *netConn) SetDeadline(t time.Time) error {
	n.mu.Lock()
	n.readDeadline, n.writeDeadline = t, t
	n.mu.Unlock()
	return nil
}

func (n *netConn) SetReadDeadline(t time.Time) error {
	n.mu.Lock()
	n.readDeadline = t
	n.mu.Unlock()
	return nil
}

func (n *netConn) SetWriteDeadline(t time.Time) error {
	n.mu.Lock()
	n.writeDeadline = t
	n.mu.Unlock()
	return nil
}
