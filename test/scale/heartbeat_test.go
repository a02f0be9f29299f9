//go:build linux && !race

// A CPU figure under the race detector would say nothing, and its limit of
// 8128 live goroutines is about what one client process here runs.

package scale

import (
	"os"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// cpuTime is the user and system CPU time this process has used.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestHeartbeatsEventMode holds the most connections the descriptor limit
// allows in event mode with the library's heartbeat on
// (AcceptOptions.PingInterval), the clients answering every ping, and
// reports what a heartbeat costs the server: memory per connection with its
// timer, and CPU per ping sent and pong read. Every connection must answer
// two pings and none may be closed.
func TestHeartbeatsEventMode(t *testing.T) {
	if !ownProcess(t) {
		return
	}
	n := connsFor(t)
	const interval = 2 * time.Second
	var pongs atomic.Int64
	url, h := startEventServer(t, &websocket.AcceptOptions{
		PingInterval: interval,
		PingTimeout:  30 * time.Second,
		OnPong:       func([]byte) { pongs.Add(1) },
	})
	holdMax(t, url, n, h.msgs.Load, "DUPLEX_SCALE_READ=1")

	// From here on the server does nothing but heartbeats: count two
	// rounds of pongs and the CPU time they took. DUPLEX_SCALE_CPUPROFILE
	// names a file for a CPU profile of these rounds.
	if f := os.Getenv("DUPLEX_SCALE_CPUPROFILE"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	p0, cpu0, start := pongs.Load(), cpuTime(t), time.Now()
	deadline := start.Add(2 * time.Minute)
	for pongs.Load()-p0 < int64(2*n) {
		if time.Now().After(deadline) {
			t.Fatalf("%d pongs in 2 minutes from %d connections pinged every %v", pongs.Load()-p0, n, interval)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cpu, got, elapsed := cpuTime(t)-cpu0, pongs.Load()-p0, time.Since(start)
	if c := h.closed.Load(); c != 0 {
		t.Fatalf("%d connections were closed while answering pings", c)
	}
	per := float64(cpu.Nanoseconds()) / float64(got) / 1e3
	t.Logf("heartbeats: %d connections pinged every %v, %d pongs in %v; server CPU %v, %.1f µs a heartbeat; at 1 M connections and one ping every 25 s (40 000 a second) that is %.2f of a core",
		n, interval, got, elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond), per, per*40000/1e6)
}
