package websocket

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Close starts the closing handshake (RFC 6455 §7): it sends a close frame
// with code and reason, waits up to the close timeout for the peer's close
// frame, and closes the connection. The reason is at most 123 bytes of UTF-8.
//
// When another goroutine is inside a read, that goroutine receives the
// peer's close frame (its read returns a CloseError) and Close waits for it.
// Otherwise Close reads until the close frame arrives, keeping the messages
// that come first (up to the read limit, at most 16 MiB in all) for the next
// reads to return: nothing the peer sent before closing is lost.
func (c *Conn) Close(code StatusCode, reason string) error {
	if err := checkOutgoingClose(code, reason); err != nil {
		return err
	}
	if c.isClosed() {
		return ErrClosed
	}
	if ec := c.ev.Load(); ec != nil {
		return c.closeEvent(ec, code, reason) // event mode: must not wait on the loop
	}
	if err := c.writeClose(code, reason); err != nil {
		_ = c.closeTransport()
		return err
	}
	timeout := c.cfg.closeTimeout
	timedOut := false
	if c.readMu.TryLock() {
		_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
		for c.readErr == nil {
			typ, p, err := c.readMessage(nil)
			if err != nil {
				timedOut = isTimeout(err)
				_ = c.readFailed(err)
				break
			}
			c.keepPending(typ, p)
		}
		c.releaseReadBuf()
		c.readMu.Unlock()
	} else {
		t := time.NewTimer(timeout)
		select {
		case <-c.closeRecvd.wait():
			// The reader is finishing the handshake; give it the rest
			// of the time to see the transport close.
			select {
			case <-c.closed.wait():
			case <-t.C:
			}
		case <-c.closed.wait():
		case <-t.C:
			timedOut = true
		}
		t.Stop()
	}
	_ = c.closeTransport()
	if c.closeRecvd.fired() {
		return nil
	}
	if timedOut {
		return fmt.Errorf("websocket: the peer did not answer the close frame within %v; the connection was closed anyway", timeout)
	}
	return errors.New("websocket: the connection ended before the peer answered the close frame")
}

// CloseRead starts a goroutine that reads and discards messages, so that
// pings are answered and the close handshake completes for an application
// that only writes. The returned context is cancelled when the connection
// ends. Do not read from c after calling CloseRead.
func (c *Conn) CloseRead(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		for {
			_, r, err := c.Reader(ctx)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					_ = c.CloseNow()
				}
				return
			}
			var scratch [512]byte
			for {
				if _, err := r.Read(scratch[:]); err != nil {
					break
				}
			}
		}
	}()
	return ctx
}

// pendingMessage is a message read by Close for the application.
type pendingMessage struct {
	typ  MessageType
	data []byte
}

// maxPending bounds the bytes Close keeps for the application; a peer that
// floods the connection while it closes loses the excess, not our memory.
const maxPending = 16 << 20

func (c *Conn) keepPending(typ MessageType, p []byte) {
	total := len(p)
	if c.pending != nil {
		for _, m := range *c.pending {
			total += len(m.data)
		}
	}
	if total > maxPending {
		return
	}
	if c.pending == nil {
		c.pending = new([]pendingMessage)
	}
	*c.pending = append(*c.pending, pendingMessage{typ, p})
}

// popPending returns the oldest kept message; c.pending is not nil.
func (c *Conn) popPending() pendingMessage {
	q := *c.pending
	m := q[0]
	q[0] = pendingMessage{}
	*c.pending = q[1:]
	if len(*c.pending) == 0 {
		c.pending = nil
	}
	return m
}
