//go:build linux

package websocket

import (
	"testing"
	"time"
)

// platformEvBackends adds, on Linux, epoll loops that always park on Go's
// poller between events (the way loops wait when the program has no
// processor to spare), next to the "event" backend's loops that sleep in
// epoll_wait.
func platformEvBackends() []evBackend {
	return []evBackend{{"event-parked", func(t *testing.T) *EventLoop {
		l := newLoopWaiting(t, 1, 0)
		for _, lp := range l.b.(*epollBackend).loops {
			if lp.park == nil {
				t.Fatal("the loop cannot park on Go's poller")
			}
		}
		return l
	}}}
}

// newLoopWaiting makes an EventLoop whose loops wait the way park says
// (1: may park after waits of at least after, -1: always sleep in
// epoll_wait), whatever GOMAXPROCS is. Loops read the settings when they
// start, so they are restored at once.
func newLoopWaiting(t *testing.T, park int, after time.Duration) *EventLoop {
	t.Helper()
	savedPark, savedAfter := parkOverride, parkAfter
	parkOverride, parkAfter = park, after
	l, err := NewEventLoop(EventLoopOptions{Loops: 2, ReadBufferSize: 512})
	parkOverride, parkAfter = savedPark, savedAfter
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestEventLoopWaitMode: with fewer processors than loops to spare, loops
// park on Go's poller; with one to spare, they sleep in epoll_wait.
func TestEventLoopWaitMode(t *testing.T) {
	for _, tc := range []struct {
		procs, loops int
		park         bool
	}{{1, 1, true}, {2, 1, false}, {2, 2, true}, {4, 2, false}} {
		if got := parkWhen(tc.procs, tc.loops); got != tc.park {
			t.Errorf("GOMAXPROCS %d, %d loops: park %v, want %v", tc.procs, tc.loops, got, tc.park)
		}
	}
}
