//go:build linux && !race

package websocket

import "testing"

// TestGoroutineModeStack holds a connection served the default way (a
// goroutine that echoes with ReadInto and Write) to the runtime's smallest
// stack, 2 KiB: the read and write paths are kept shallow for it, and a
// deeper one would double the stack of every idle connection for good.
// (Without the race detector, whose instrumentation deepens every frame;
// CI runs it in its micro-benchmark section.)
func TestGoroutineModeStack(t *testing.T) {
	// Enough connections that the program's other stacks do not count.
	n, limit := connsWithinLimit(t, 3000)
	if n < 500 {
		t.Fatalf("descriptor limit %d is too low to measure", limit)
	}
	m := measureConnMemory(t, n, false)
	t.Logf("%d connections: %d B of stack and %d B of heap each", n, m.stack, m.heap)
	if m.stack > 3072 {
		t.Errorf("%d B of stack per connection: a path of ReadInto or Write no longer fits the smallest stack", m.stack)
	}
}
