//go:build !linux

package websocket

import "testing"

// platformEvBackends has nothing to add where the event loop is the
// goroutine fallback.
func platformEvBackends() []evBackend { return nil }

// newLoopWaiting makes an EventLoop; the wait modes exist on Linux only.
func newLoopWaiting(t *testing.T, _ int) *EventLoop {
	t.Helper()
	l, err := NewEventLoop(EventLoopOptions{Loops: 2, ReadBufferSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
