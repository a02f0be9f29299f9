//go:build linux

package websocket

import (
	"syscall"
	"testing"
)

// platformEvBackends adds, on Linux, epoll loops that always park on Go's
// poller between events (the way loops wait when the program has no
// processor to spare), next to the "event" backend's loops that sleep in
// epoll_wait.
func platformEvBackends() []evBackend {
	return []evBackend{{"event-parked", func(t *testing.T) *EventLoop {
		l := newLoopWaiting(t, 1)
		for _, lp := range l.b.(*epollBackend).loops {
			if lp.park == nil {
				t.Fatal("the loop cannot park on Go's poller")
			}
		}
		return l
	}}}
}

// newLoopWaiting makes an EventLoop whose loops wait the way park says
// (1: park on Go's poller, -1: sleep in epoll_wait), whatever GOMAXPROCS
// is. Loops read the settings when they
// start, so they are restored at once.
func newLoopWaiting(t *testing.T, park int) *EventLoop {
	t.Helper()
	saved := parkOverride
	parkOverride = park
	l, err := NewEventLoop(EventLoopOptions{Loops: 2, ReadBufferSize: 512})
	parkOverride = saved
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

// TestEpollPoll: the loop's non-blocking epoll_wait reports nothing on a
// quiet set, the ready descriptor once it is ready, and the error of a
// bad descriptor.
func TestEpollPoll(t *testing.T) {
	l, err := newEpollLoop(512, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Close(l.epfd)
		syscall.Close(l.wakefd)
	})
	if n, err := epollPoll(l.epfd, l.events); n != 0 || err != nil {
		t.Fatalf("quiet set: %d events, %v", n, err)
	}
	l.wake()
	n, err := epollPoll(l.epfd, l.events)
	if n != 1 || err != nil || int(l.events[0].Fd) != l.wakefd {
		t.Fatalf("after a wake-up: %d events (first fd %d, want %d), %v", n, l.events[0].Fd, l.wakefd, err)
	}
	if _, err := epollPoll(-1, l.events); err != syscall.EBADF {
		t.Fatalf("bad descriptor: %v, want EBADF", err)
	}
}
