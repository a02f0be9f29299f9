package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Runner is one load generator being driven: a run in this process or a
// child process speaking the worker protocol (see ServeWorker).
type Runner interface {
	Ready() <-chan struct{}
	Settled() <-chan struct{}
	Start()
	Stop()
	Progress() Snapshot
	// Done is closed when the run has ended; Result is then valid.
	Done() <-chan struct{}
	Result() (*Result, error)
}

// Plan says how Drive steps its runners.
type Plan struct {
	Mode string
	// Duration is the measured time: echo traffic after Warmup, how long
	// the connect mode holds its connections once all are open, or how
	// long the subscribe mode publishes (or listens, without Publisher).
	// In echo mode zero means the runners stop by themselves (--count).
	Duration time.Duration
	Warmup   time.Duration
	// Publisher, in subscribe mode, publishes from Start for Duration
	// (or its own Count).
	Publisher *Publisher
	// Drain is how long the subscribe mode waits, after the last
	// publication, for every delivery to arrive.
	Drain time.Duration
	// ServerPID, when positive, is the process whose CPU and memory are
	// read during the measured window.
	ServerPID int
	// OnProgress is called about every second with the summed counters.
	OnProgress func(elapsed time.Duration, s Snapshot)
	// Interrupt, once closed, ends the run early as if its time were up:
	// the runners stop, and what was measured until then is the outcome
	// (Outcome.Interrupted). Closed while the connections are being set
	// up, it ends the run as ctx would.
	Interrupt <-chan struct{}
}

// Outcome is the merged result of a driven run.
type Outcome struct {
	Result  *Result
	Publish *PublishResult
	Server  *ServerUsage
	// Window is the wall time Drive measured the server over.
	Window time.Duration
	// Interrupted says that Plan.Interrupt ended the run early.
	Interrupted bool
}

// ServerUsage is what the server process used during the window.
type ServerUsage struct {
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// RSSBefore is read before any traffic, RSS at the end of the window
	// (in connect mode: with all connections open).
	RSSBefore int64  `json:"rss_before_bytes"`
	RSS       int64  `json:"rss_bytes"`
	Note      string `json:"note,omitempty"`
}

// Drive steps runners through a run as plan says and merges their results.
func Drive(ctx context.Context, runners []Runner, plan Plan) (*Outcome, error) {
	stopAll := func() {
		for _, r := range runners {
			r.Stop()
		}
	}
	defer stopAll()
	waitAll := func(pick func(Runner) <-chan struct{}) error {
		for _, r := range runners {
			select {
			case <-pick(r):
			case <-r.Done():
				if _, err := r.Result(); err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			case <-plan.Interrupt:
				return context.Canceled
			}
		}
		return nil
	}
	out := &Outcome{}
	// interrupted reports, once, that Plan.Interrupt is closed.
	interrupted := func() <-chan struct{} {
		if out.Interrupted {
			return nil
		}
		return plan.Interrupt
	}
	if err := waitAll(Runner.Ready); err != nil {
		return nil, err
	}
	var srv *serverSampler
	if plan.ServerPID > 0 {
		srv = newServerSampler(plan.ServerPID)
		out.Server = &srv.usage
	}
	subscribers := int64(0)
	for _, r := range runners {
		subscribers += r.Progress().Conns
	}

	begin := time.Now()
	progressDone := make(chan struct{})
	if plan.OnProgress != nil {
		go func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					plan.OnProgress(time.Since(begin), sum(runners))
				case <-progressDone:
					return
				}
			}
		}()
	}
	defer close(progressDone)

	if plan.Mode == "connect" {
		// The connect mode's window is the setup, from Start to Settled.
		srv.begin()
	}
	for _, r := range runners {
		r.Start()
	}
	if err := waitAll(Runner.Settled); err != nil {
		return nil, err
	}
	sleep := func(d time.Duration) error {
		if out.Interrupted {
			return nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-interrupted():
			out.Interrupted = true
			return nil
		}
	}
	allDone := func() error {
		for _, r := range runners {
			for waiting := true; waiting; {
				select {
				case <-r.Done():
					waiting = false
				case <-ctx.Done():
					return ctx.Err()
				case <-interrupted():
					out.Interrupted = true
					stopAll()
				}
			}
		}
		return nil
	}
	var windowStart, windowEnd time.Time
	var err error
	mark := func() {
		windowEnd = time.Now()
		srv.end()
	}
	switch plan.Mode {
	case "echo":
		if err = sleep(plan.Warmup); err != nil {
			break
		}
		windowStart = time.Now()
		srv.begin()
		if plan.Duration > 0 {
			err = sleep(plan.Duration)
			mark()
			stopAll()
		} else {
			err = allDone()
			mark()
		}
	case "connect":
		// The window is the setup, which ended at Settled; memory is read
		// while every connection is held.
		windowStart = begin
		mark()
		err = sleep(plan.Duration)
		stopAll()
	case "subscribe":
		windowStart = time.Now()
		srv.begin()
		if plan.Publisher != nil {
			stop := make(chan struct{})
			var once sync.Once
			end := func() { once.Do(func() { close(stop) }) }
			var timer *time.Timer
			if plan.Duration > 0 {
				timer = time.AfterFunc(plan.Duration, end)
			}
			var hit atomic.Bool
			published := make(chan struct{})
			go func() {
				select {
				case <-plan.Interrupt:
					hit.Store(true)
					end()
				case <-published:
				}
			}()
			pr := plan.Publisher.Run(ctx, stop)
			close(published)
			if timer != nil {
				timer.Stop()
			}
			out.Interrupted = hit.Load()
			out.Publish = &pr
			err = waitDeliveries(ctx, runners, pr.Published*subscribers, plan.Drain)
		} else {
			err = sleep(plan.Duration)
		}
		mark()
		stopAll()
	default:
		return nil, fmt.Errorf("unknown mode %q", plan.Mode)
	}
	out.Window = windowEnd.Sub(windowStart)
	if err != nil {
		return nil, err
	}
	if err := allDone(); err != nil {
		return nil, err
	}
	merged := &Result{Mode: plan.Mode, Hist: &Histogram{}}
	var errs []error
	for _, r := range runners {
		res, err := r.Result()
		if err != nil {
			errs = append(errs, err)
		}
		if res != nil {
			merged.Merge(res)
		}
	}
	out.Result = merged
	return out, errors.Join(errs...)
}

func sum(runners []Runner) Snapshot {
	var s Snapshot
	for _, r := range runners {
		s = s.Add(r.Progress())
	}
	return s
}

// waitDeliveries waits until the runners have received want deliveries, or
// for at most drain.
func waitDeliveries(ctx context.Context, runners []Runner, want int64, drain time.Duration) error {
	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) {
		if sum(runners).Messages >= want {
			return nil
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// serverSampler reads a server's CPU time and memory around the window. A
// nil sampler does nothing.
type serverSampler struct {
	usage ServerUsage
	cpu0  time.Duration
}

func newServerSampler(pid int) *serverSampler {
	s := &serverSampler{usage: ServerUsage{PID: pid}}
	if rss, err := ProcessRSS(pid); err == nil {
		s.usage.RSSBefore = rss
	} else {
		s.usage.Note = err.Error()
	}
	return s
}

func (s *serverSampler) begin() {
	if s == nil {
		return
	}
	s.cpu0, _ = ProcessCPU(s.usage.PID)
}

func (s *serverSampler) end() {
	if s == nil {
		return
	}
	cpu, err := ProcessCPU(s.usage.PID)
	if err != nil {
		s.usage.Note = err.Error()
		return
	}
	s.usage.CPUSeconds = (cpu - s.cpu0).Seconds()
	if rss, err := ProcessRSS(s.usage.PID); err == nil {
		s.usage.RSS = rss
	}
}
