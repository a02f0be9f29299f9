//go:build !race

package websocket

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestEventSteadyStateAllocs: once warm, an echo through an event loop
// allocates nothing, the loop's wait for the next message included, in
// both ways a loop waits (parked on Go's poller, asleep in epoll_wait).
// One message in flight makes the loop run out of work every round trip.
// Left out under the race detector, whose sync.Pool drops what is put back.
func TestEventSteadyStateAllocs(t *testing.T) {
	for _, park := range []int{1, -1} {
		name := map[int]string{1: "park", -1: "sleep"}[park]
		t.Run(name, func(t *testing.T) {
			loop := newLoopWaiting(t, park)
			url := serveLoop(t, loop, nil, echoBack{})
			p := dialRawPeer(t, url, "")
			msg := bytes.Repeat([]byte("x"), 100)
			frame := clientFrame(true, opBinary, msg)
			want := append([]byte{0x82, byte(len(msg))}, msg...)
			got := make([]byte, len(want))
			// p.br may hold nothing past the 101 answer: the server
			// sent nothing yet, so reading the socket itself is safe.
			if p.br.Buffered() != 0 {
				t.Fatalf("%d bytes after the handshake answer", p.br.Buffered())
			}
			nc := p.nc.(*net.TCPConn)
			_ = nc.SetDeadline(time.Time{})
			roundTrip := func() {
				if _, err := nc.Write(frame); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(nc, got); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("echo %q, want %q", got[:8], want[:8])
				}
			}
			for range 100 {
				roundTrip() // warm the pools
			}
			if allocs := testing.AllocsPerRun(2000, roundTrip); allocs != 0 {
				t.Errorf("%.0f allocations per echo through a loop that %ss, want 0", allocs, name)
			}
		})
	}
}
