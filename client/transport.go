package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// reply is a command's answer.
type reply struct {
	result json.RawMessage
	err    *Error
}

// pending is a command waiting for its reply. handle, when set, runs on
// the reading goroutine before any later message is looked at, which is
// how subscribe results take effect before the pushes that follow them.
type pending struct {
	ch     chan reply
	handle func(reply)
}

// inMessage is any message from the server.
type inMessage struct {
	ID          uint32          `json:"id"`
	Result      json.RawMessage `json:"result"`
	Error       *Error          `json:"error"`
	Push        string          `json:"push"`
	Channel     string          `json:"channel"`
	Offset      uint64          `json:"offset"`
	Epoch       string          `json:"epoch"`
	Data        json.RawMessage `json:"data"`
	Info        *ClientInfo     `json:"info"`
	Code        int             `json:"code"`
	Reason      string          `json:"reason"`
	Reconnect   *bool           `json:"reconnect"`
	Resubscribe bool            `json:"resubscribe"`
}

// transport is one WebSocket connection of a Client.
type transport struct {
	c    *Client
	conn *websocket.Conn

	wmu sync.Mutex // one writer at a time

	mu      sync.Mutex
	pending map[uint32]*pending
	nextID  uint32
	ended   bool
	// disconnect is the server's disconnect push, if one came.
	disconnect *DisconnectedEvent

	watchdog *time.Timer // closes a connection that went silent
	silence  time.Duration
	readErr  error // why reading stopped; set before done is closed
	done     chan struct{}
}

var errTransportClosed = errors.New("connection closed")

func newTransport(c *Client, conn *websocket.Conn) *transport {
	return &transport{c: c, conn: conn, pending: make(map[uint32]*pending), done: make(chan struct{})}
}

// write sends one JSON message.
func (t *transport) write(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("duplex client: encoding a command: %w", err)
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	return t.conn.Write(ctx, websocket.MessageText, b)
}

// send sends a command and returns the channel its reply arrives on.
func (t *transport) send(ctx context.Context, method string, params any, handle func(reply)) (chan reply, error) {
	p := &pending{ch: make(chan reply, 1), handle: handle}
	t.mu.Lock()
	if t.ended {
		t.mu.Unlock()
		return nil, errTransportClosed
	}
	t.nextID++
	id := t.nextID
	t.pending[id] = p
	t.mu.Unlock()
	cmd := struct {
		ID     uint32 `json:"id"`
		Method string `json:"method"`
		Params any    `json:"params,omitempty"`
	}{id, method, params}
	if err := t.write(ctx, cmd); err != nil {
		t.mu.Lock()
		delete(t.pending, id)
		t.mu.Unlock()
		_ = t.conn.CloseNow()
		return nil, errTransportClosed
	}
	return p.ch, nil
}

// request sends a command and waits for its reply.
func (t *transport) request(ctx context.Context, method string, params any, handle func(reply)) (json.RawMessage, error) {
	ch, err := t.send(ctx, method, params, handle)
	if err != nil {
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, errTransportClosed
		}
		if r.err != nil {
			return nil, r.err
		}
		return r.result, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// setSilence arms the dead-server watchdog: no message for d closes the
// connection (docs/protocol.md section 9).
func (t *transport) setSilence(d time.Duration) {
	if d <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.silence = d
	t.watchdog = time.AfterFunc(d, func() { _ = t.conn.CloseNow() })
}

// readLoop reads until the connection ends, then fails pending commands.
func (t *transport) readLoop() {
	defer t.finish()
	for {
		_, b, err := t.conn.Read(context.Background())
		if err != nil {
			t.readErr = err
			return
		}
		t.mu.Lock()
		if t.watchdog != nil {
			t.watchdog.Reset(t.silence)
		}
		t.mu.Unlock()
		var m inMessage
		if err := json.Unmarshal(b, &m); err != nil {
			_ = t.conn.CloseNow() // the server broke the protocol
			return
		}
		if m.ID != 0 {
			t.mu.Lock()
			p := t.pending[m.ID]
			delete(t.pending, m.ID)
			t.mu.Unlock()
			if p == nil {
				continue
			}
			r := reply{result: m.Result, err: m.Error}
			if p.handle != nil {
				p.handle(r)
			}
			p.ch <- r
			continue
		}
		t.handlePush(&m)
	}
}

func (t *transport) handlePush(m *inMessage) {
	switch m.Push {
	case "ping":
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := t.write(ctx, map[string]string{"method": "pong"}); err != nil {
				_ = t.conn.CloseNow()
			}
		}()
	case "publication":
		t.c.onPublication(t, Publication{Channel: m.Channel, Offset: m.Offset, Epoch: m.Epoch, Data: m.Data, Info: m.Info})
	case "join", "leave":
		if m.Info != nil {
			t.c.onJoinLeave(m.Push, m.Channel, *m.Info)
		}
	case "unsubscribe":
		t.c.onServerUnsubscribe(m.Channel, m.Code, m.Reason, m.Resubscribe)
	case "disconnect":
		reconnect := m.Code < 4500 || m.Code > 4999
		if m.Reconnect != nil {
			reconnect = *m.Reconnect
		}
		t.mu.Lock()
		t.disconnect = &DisconnectedEvent{Code: m.Code, Reason: m.Reason, Reconnect: reconnect}
		t.mu.Unlock()
	}
	// Unknown pushes are ignored: the protocol may add kinds.
}

// finish marks the transport ended and fails what waits on it.
func (t *transport) finish() {
	_ = t.conn.CloseNow()
	t.mu.Lock()
	t.ended = true
	if t.watchdog != nil {
		t.watchdog.Stop()
	}
	pend := t.pending
	t.pending = nil
	t.mu.Unlock()
	for _, p := range pend {
		close(p.ch)
	}
	close(t.done)
}

// endEvent says why the connection ended: the disconnect push, else the
// close frame, else a network loss.
// It may be called once done is closed.
func (t *transport) endEvent() DisconnectedEvent {
	t.mu.Lock()
	d := t.disconnect
	t.mu.Unlock()
	if d != nil {
		return *d
	}
	var ce *websocket.CloseError
	if errors.As(t.readErr, &ce) {
		code := int(ce.Code)
		return DisconnectedEvent{Code: code, Reason: ce.Reason, Reconnect: code < 4500 || code > 4999}
	}
	return DisconnectedEvent{Code: int(websocket.StatusAbnormalClosure), Reason: "connection lost", Reconnect: true}
}
