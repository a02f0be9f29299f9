package websocket

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// Ping sends a ping and waits for the matching pong, returning the round
// trip time. Pongs are seen by the goroutine that reads, so another goroutine
// must be reading (or CloseRead must have been called) for Ping to return.
func (c *Conn) Ping(ctx context.Context) (time.Duration, error) {
	seq := c.pingSeq.Add(1)
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], seq)
	ch := make(chan struct{})
	c.pingMu.Lock()
	if c.pings == nil {
		c.pings = make(map[uint64]chan struct{})
	}
	c.pings[seq] = ch
	c.pingMu.Unlock()
	defer func() {
		c.pingMu.Lock()
		delete(c.pings, seq)
		c.pingMu.Unlock()
	}()
	start := time.Now()
	if err := c.writeControl(ctx, opPing, p[:]); err != nil {
		return 0, err
	}
	select {
	case <-ch:
		return time.Since(start), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("websocket: ping: %w", ctx.Err())
	case <-c.closed.wait():
		return 0, fmt.Errorf("websocket: ping: %w", ErrClosed)
	}
}

// gotPong wakes the Ping waiting for this pong, if any. Unsolicited pongs
// are allowed (RFC 6455 §5.5.3) and ignored.
func (c *Conn) gotPong(p []byte) {
	if len(p) != 8 {
		return
	}
	seq := binary.BigEndian.Uint64(p)
	c.pingMu.Lock()
	if ch, ok := c.pings[seq]; ok {
		close(ch)
		delete(c.pings, seq)
	}
	c.pingMu.Unlock()
}

// heartbeat pings the peer every interval from a timer, so an idle
// connection costs no goroutine; when a pong does not come back within the
// timeout the connection is closed with StatusInternalError ("keepalive ping
// timeout").
type heartbeat struct {
	t *time.Timer
}

func (h *heartbeat) stop() { h.t.Stop() }

func (c *Conn) startHeartbeat() {
	c.hb = &heartbeat{}
	c.hb.t = time.AfterFunc(c.cfg.pingInterval, c.heartbeatTick)
}

func (c *Conn) heartbeatTick() {
	if c.isClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.pingTimeout)
	_, err := c.Ping(ctx)
	cancel()
	if c.isClosed() || c.closeSent.Load() {
		// Once our close frame is out no ping may follow it, and the
		// close handshake has its own timeout: a failed ping then says
		// nothing about the peer, and must not cut the handshake short.
		return
	}
	if err != nil {
		_ = c.writeClose(StatusInternalError, "keepalive ping timeout")
		_ = c.closeTransport()
		return
	}
	c.hb.t.Reset(c.cfg.pingInterval)
}
