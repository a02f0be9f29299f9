package bench

import (
	"sync"
	"sync/atomic"
	"time"
)

// Control steps a run through its phases. A run sets itself up (dials its
// connections), calls Control.setReady, waits for Start, generates load until
// Stop (or until its own count is done), drains, and returns its Result.
// Whoever drives the run, the command in this process or a parent process
// over a pipe, decides when to start and stop, so that several generator
// processes measure the same window.
type Control struct {
	ready       chan struct{}
	readyOnce   sync.Once
	settled     chan struct{}
	settledOnce sync.Once
	start       chan struct{}
	startOnce   sync.Once
	stop        chan struct{}
	stopOnce    sync.Once
	stopped     atomic.Bool

	mu       sync.Mutex
	progress func() Snapshot
}

// NewControl returns a Control in its first phase.
func NewControl() *Control {
	return &Control{ready: make(chan struct{}), settled: make(chan struct{}), start: make(chan struct{}), stop: make(chan struct{})}
}

// Ready is closed once the run has set up its connections.
func (c *Control) Ready() <-chan struct{} { return c.ready }

// Settled is closed once the run has reached its steady state after Start:
// in connect mode, when every connection has been opened (or failed); in
// the other modes, as soon as traffic starts.
func (c *Control) Settled() <-chan struct{} { return c.settled }

// Start lets the run begin its traffic.
func (c *Control) Start() { c.startOnce.Do(func() { close(c.start) }) }

// Stop ends the traffic: no new message is sent, the ones in flight are
// awaited, and the connections are closed.
func (c *Control) Stop() {
	c.stopOnce.Do(func() {
		c.stopped.Store(true)
		close(c.stop)
	})
}

func (c *Control) setReady() { c.readyOnce.Do(func() { close(c.ready) }) }

func (c *Control) setSettled() { c.settledOnce.Do(func() { close(c.settled) }) }

// isStopped is the cheap check of the hot loops.
func (c *Control) isStopped() bool { return c.stopped.Load() }

func (c *Control) setProgress(f func() Snapshot) {
	c.mu.Lock()
	c.progress = f
	c.mu.Unlock()
}

// Progress returns the run's counters so far, for a live progress line.
func (c *Control) Progress() Snapshot {
	c.mu.Lock()
	f := c.progress
	c.mu.Unlock()
	if f == nil {
		return Snapshot{}
	}
	return f()
}

// Snapshot is a run's running totals.
type Snapshot struct {
	Conns    int64 `json:"conns"`    // connections open
	Messages int64 `json:"messages"` // echoes or deliveries received so far
	Errors   int64 `json:"errors"`
}

// Add returns the sum of two snapshots.
func (s Snapshot) Add(o Snapshot) Snapshot {
	return Snapshot{Conns: s.Conns + o.Conns, Messages: s.Messages + o.Messages, Errors: s.Errors + o.Errors}
}

// clock is a monotonic nanosecond clock shared by a process's connections.
var clockBase = time.Now()

func nanotime() int64 { return int64(time.Since(clockBase)) }
