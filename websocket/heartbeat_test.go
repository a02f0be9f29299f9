package websocket

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A peer that never reads never answers pings: the heartbeat must close the
// connection with 1011. A peer that reads keeps it alive.
func TestHeartbeat(t *testing.T) {
	result := make(chan error, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{PingInterval: 30 * time.Millisecond, PingTimeout: 60 * time.Millisecond})
		if err != nil {
			return
		}
		_, p, err := c.Read(context.Background())
		if err == nil {
			err = errors.New("message: " + string(p))
		}
		result <- err
	}))
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	// Silent client: does not read, so pongs are never sent.
	silent := dialT(t, url, nil)
	select {
	case err := <-result:
		if err == nil {
			t.Fatal("server read returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("heartbeat did not end the connection of a peer that never answers")
	}
	// The silent client finds a close frame with 1011 waiting.
	_, _, err := silent.Read(context.Background())
	if CloseStatus(err) != StatusInternalError {
		t.Fatalf("silent client got %v, want close 1011", err)
	}

	// Reading client: answers pings, survives many intervals, then closes.
	live := dialT(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_, _, err = live.Read(ctx) // answers pings while waiting
	if ctx.Err() == nil {
		t.Fatalf("live client read ended early: %v", err)
	}
	select {
	case err := <-result:
		t.Fatalf("server side of the live connection ended: %v", err)
	default:
	}
	if err := live.Write(context.Background(), MessageText, []byte("still alive")); err != nil {
		t.Fatalf("live connection was closed: %v", err)
	}
	if err := <-result; err == nil || err.Error() != "message: still alive" {
		t.Fatalf("server did not read the live client's message: %v", err)
	}
}

// A heartbeat tick that comes while our close frame waits for its answer
// cannot ping (nothing may follow a close frame); that is not the peer's
// failure, and must not close the connection under the close handshake.
// The tick is run by hand at that moment; the server answers the close
// only afterwards.
func TestHeartbeatDuringCloseHandshake(t *testing.T) {
	proceed := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		<-proceed
		_, _, _ = c.Read(context.Background()) // answers the close
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-proceed:
		default:
			close(proceed)
		}
	})
	c := dialT(t, "ws"+strings.TrimPrefix(srv.URL, "http"), &DialOptions{PingInterval: time.Hour})

	closed := make(chan error, 1)
	go func() { closed <- c.Close(StatusNormalClosure, "bye") }()
	for !c.closeSent.Load() {
		time.Sleep(time.Millisecond)
	}
	// The tick at the deadline of a ping that got no pong, and the tick
	// that would send the next ping: neither may end the handshake.
	for _, outstanding := range []uint64{c.pingSeq.Add(1), 0} {
		c.hb.mu.Lock()
		c.hb.seq, c.hb.due = outstanding, time.Time{}
		c.hb.mu.Unlock()
		c.heartbeatTick()
		if c.isClosed() {
			t.Fatalf("a heartbeat tick (ping outstanding: %v) during the close handshake closed the connection", outstanding != 0)
		}
	}
	close(proceed)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v, want the handshake to complete", err)
	}
}

// With a timeout far longer than the interval, pings still go out every
// interval once their pongs come back, and between them the heartbeat
// holds no map of waiting pings (Ping's) on the connection.
func TestHeartbeatIntervalAfterPong(t *testing.T) {
	pongs := make(chan struct{}, 64)
	conns := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{
			PingInterval: 20 * time.Millisecond,
			PingTimeout:  time.Hour,
			OnPong:       func([]byte) { pongs <- struct{}{} },
		})
		if err != nil {
			return
		}
		conns <- c
		_, _, _ = c.Read(context.Background())
	}))
	t.Cleanup(srv.Close)
	live := dialT(t, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _, _, _ = live.Read(ctx) }()
	sc := <-conns
	for i := range 5 {
		select {
		case <-pongs:
		case <-time.After(10 * time.Second):
			t.Fatalf("pong %d did not come: the next ping waited for the timeout, not the interval", i+1)
		}
	}
	sc.pingMu.Lock()
	pings := sc.pings
	sc.pingMu.Unlock()
	if pings != nil {
		t.Fatal("heartbeat pings went through the map of waiting Pings")
	}
}

// A heartbeat deadline is d ahead rounded up to the grid of d/32 from the
// common epoch, so the deadlines of connections scheduled at different
// moments coincide; deadlines too short for a 1 ms grid are not rounded.
func TestHeartbeatDeadlineGrid(t *testing.T) {
	h := &heartbeat{t: time.AfterFunc(time.Hour, func() {})}
	t.Cleanup(func() { h.t.Stop() })
	const d = 2 * time.Second
	g := d / heartbeatGrid
	var first time.Time
	for i := range 5 {
		before := time.Now()
		h.schedule(d)
		after := time.Now()
		if h.due.Before(before.Add(d)) || h.due.After(after.Add(d+g)) {
			t.Fatalf("due %v after scheduling, want between %v and %v", h.due.Sub(before), d, d+g)
		}
		if off := h.due.Sub(heartbeatEpoch) % g; off != 0 {
			t.Fatalf("due is %v off the %v grid", off, g)
		}
		if i == 0 {
			first = h.due
		} else if !h.due.Equal(first) && h.due.Sub(first) != g {
			t.Fatalf("deadlines scheduled a moment apart: %v and %v", first, h.due)
		}
		time.Sleep(time.Millisecond)
	}
	const short = 20 * time.Millisecond
	before := time.Now()
	h.schedule(short)
	after := time.Now()
	if h.due.Before(before.Add(short)) || h.due.After(after.Add(short)) {
		t.Fatalf("a %v deadline was moved: due %v after scheduling", short, h.due.Sub(before))
	}
}
