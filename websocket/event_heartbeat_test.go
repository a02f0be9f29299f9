package websocket

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// AcceptOptions.PingInterval works the same under an EventLoop: the timer
// pings, the loop reads the pong and wakes the waiting Ping, so a peer
// that answers stays connected and one that never answers is closed with
// 1011.
func TestEventHeartbeat(t *testing.T) {
	forEachBackend(t, func(t *testing.T, loop *EventLoop) {
		var pongs atomic.Int64
		rec := newRecorder(true)
		opts := &AcceptOptions{
			PingInterval: 30 * time.Millisecond,
			PingTimeout:  60 * time.Millisecond,
			OnPong:       func([]byte) { pongs.Add(1) },
		}
		url := serveLoop(t, loop, opts, rec)

		// Silent client: never reads, so never answers a ping.
		silent := dialT(t, url, nil)
		if e := rec.waitClosed(t); e.err == nil {
			t.Fatal("OnClose of the silent connection has no error")
		}
		_, _, err := silent.Read(context.Background())
		if CloseStatus(err) != StatusInternalError {
			t.Fatalf("silent client got %v, want close 1011", err)
		}

		// Reading client: answers every ping for many intervals.
		before := pongs.Load()
		live := dialT(t, url, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
		defer cancel()
		if _, _, err := live.Read(ctx); ctx.Err() == nil {
			t.Fatalf("live client read ended early: %v", err)
		}
		if n := pongs.Load() - before; n < 2 {
			t.Fatalf("the loop saw %d pongs in 400 ms of 30 ms pings, want several", n)
		}
		select {
		case e := <-rec.closed:
			t.Fatalf("the live connection was closed: %v", e.err)
		default:
		}
		ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel2()
		if err := live.Write(ctx2, MessageText, []byte("still alive")); err != nil {
			t.Fatalf("write: %v", err)
		}
		typ, p, err := live.Read(ctx2)
		if err != nil || typ != MessageText || string(p) != "still alive" {
			t.Fatalf("echo after the heartbeats: %v %q %v", typ, p, err)
		}
	})
}
