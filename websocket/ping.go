package websocket

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
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

// gotPong records a pong: the heartbeat's, or the one a Ping waits for.
// Unsolicited pongs are allowed (RFC 6455 §5.5.3) and ignored.
func (c *Conn) gotPong(p []byte) {
	if len(p) != 8 {
		return
	}
	seq := binary.BigEndian.Uint64(p)
	if c.hb != nil && c.hb.pong(seq, c.cfg.pingInterval) {
		return
	}
	c.pingMu.Lock()
	if ch, ok := c.pings[seq]; ok {
		close(ch)
		delete(c.pings, seq)
	}
	c.pingMu.Unlock()
}

// heartbeat pings the peer every interval and closes the connection with
// StatusInternalError ("keepalive ping timeout") when a pong does not come
// back within the timeout. One timer does it all: it fires to send a ping,
// and again at the ping's deadline, unless the pong, seen by whoever reads,
// has moved it on to the next interval. Between its runs nothing waits: no
// goroutine, context or map per ping, which is what a heartbeat on every
// one of very many idle connections costs (docs/performance.md).
type heartbeat struct {
	mu      sync.Mutex
	t       *time.Timer
	seq     uint64    // the ping awaiting its pong; 0 when none
	due     time.Time // the timer's current target; a run before it is stale
	stopped bool
}

func (h *heartbeat) stop() {
	h.mu.Lock()
	h.stopped = true
	h.t.Stop()
	h.mu.Unlock()
}

// schedule moves the timer to d from now; the caller holds mu. due is
// taken before the timer is set, so a run of the timer never sees the
// clock before it.
func (h *heartbeat) schedule(d time.Duration) {
	now := time.Now()
	h.due = onHeartbeatGrid(now, d)
	h.t.Reset(h.due.Sub(now))
}

// onHeartbeatGrid returns the deadline d after now, rounded up to the grid.
func onHeartbeatGrid(now time.Time, d time.Duration) time.Time {
	at := now.Add(d)
	if g := d / heartbeatGrid; g >= time.Millisecond {
		at = at.Add(g - at.Sub(heartbeatEpoch)%g)
	}
	return at
}

// Heartbeat deadlines d ahead are rounded up to a multiple of d/32 from
// one epoch (at most 3 % later), so that those of many connections fall
// due together: the runtime runs them in one pass, and their pongs reach
// the reader together instead of each waking it alone.
const heartbeatGrid = 32

var heartbeatEpoch = time.Now()

// pong reports whether seq answers the heartbeat's ping; if so the next
// ping is due an interval from now.
func (h *heartbeat) pong(seq uint64, interval time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if seq == 0 || seq != h.seq {
		return false
	}
	h.seq = 0
	if !h.stopped {
		h.schedule(interval)
	}
	return true
}

func (c *Conn) startHeartbeat() {
	// c.hb is set before the timer exists, so that its runs see it; h.t
	// is set under mu, which they take first.
	h := &heartbeat{}
	c.hb = h
	h.mu.Lock()
	now := time.Now()
	h.due = onHeartbeatGrid(now, c.cfg.pingInterval)
	h.t = time.AfterFunc(h.due.Sub(now), c.heartbeatTick)
	h.mu.Unlock()
}

// heartbeatTick runs when the timer fires: at a ping's deadline with its
// pong still missing it closes the connection, otherwise it sends the next
// ping.
func (c *Conn) heartbeatTick() {
	h := c.hb
	h.mu.Lock()
	if h.stopped || time.Now().Before(h.due) {
		// A pong moved the timer on after this run was started.
		h.mu.Unlock()
		return
	}
	// Once our close frame is out no ping may follow it, and the close
	// handshake has its own timeout: a missing pong then says nothing
	// about the peer, and must not cut the handshake short.
	if c.isClosed() || c.closeSent.Load() {
		h.mu.Unlock()
		return
	}
	if h.seq != 0 {
		h.stopped = true
		h.mu.Unlock()
		_ = c.writeClose(StatusInternalError, "keepalive ping timeout")
		_ = c.closeTransport()
		return
	}
	seq := c.pingSeq.Add(1)
	h.seq = seq
	// The deadline is set before the ping is written: should the write
	// block (a peer that reads nothing), the deadline's run closes the
	// connection, which ends the write.
	h.schedule(c.cfg.pingTimeout)
	h.mu.Unlock()
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], seq)
	// A failed write leaves the ping unanswered: the deadline, or the
	// reader meeting the same broken connection, ends it.
	_ = c.writeControl(context.Background(), opPing, p[:])
}
