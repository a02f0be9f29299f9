package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// RunFunc is a run of one of the modes, bound to its configuration.
type RunFunc func(ctx context.Context, ctl *Control) (*Result, error)

// localRunner runs a RunFunc in this process.
type localRunner struct {
	*Control
	done chan struct{}
	res  *Result
	err  error
}

// NewLocalRunner starts run in a goroutine of this process.
func NewLocalRunner(ctx context.Context, run RunFunc) Runner {
	r := &localRunner{Control: NewControl(), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.res, r.err = run(ctx, r.Control)
	}()
	return r
}

func (r *localRunner) Done() <-chan struct{}    { return r.done }
func (r *localRunner) Result() (*Result, error) { return r.res, r.err }

// The worker protocol: a parent starts a child generator process, writes
// the commands "start" and "stop" (one per line) on its standard input,
// and reads events, one JSON object per line, from its standard output.
type workerEvent struct {
	Event    string    `json:"event"` // ready, settled, progress, result
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	Result   *Result   `json:"result,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// ServeWorker runs run as a child of a parent generator process, speaking
// the worker protocol over in and out.
func ServeWorker(ctx context.Context, in io.Reader, out io.Writer, run RunFunc) error {
	ctl := NewControl()
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	send := func(ev workerEvent) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(ev)
	}
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			switch strings.TrimSpace(sc.Text()) {
			case "start":
				ctl.Start()
			case "stop":
				ctl.Stop()
			}
		}
		// The parent went away: end the run.
		ctl.Start()
		ctl.Stop()
	}()
	done := make(chan struct{})
	go func() {
		select {
		case <-ctl.Ready():
			send(workerEvent{Event: "ready", Snapshot: ptr(ctl.Progress())})
		case <-done:
			return
		}
		select {
		case <-ctl.Settled():
			send(workerEvent{Event: "settled"})
		case <-done:
			return
		}
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				send(workerEvent{Event: "progress", Snapshot: ptr(ctl.Progress())})
			case <-done:
				return
			}
		}
	}()
	res, err := run(ctx, ctl)
	close(done)
	ev := workerEvent{Event: "result", Result: res}
	if err != nil {
		ev.Error = err.Error()
	}
	send(ev)
	return err
}

func ptr[T any](v T) *T { return &v }

// procRunner drives a child generator process.
type procRunner struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	ready   chan struct{}
	settled chan struct{}
	done    chan struct{}

	mu       sync.Mutex
	progress Snapshot
	res      *Result
	err      error
	stopped  bool
}

// NewProcRunner starts cmd, a child speaking the worker protocol. The
// child's standard error is passed through.
func NewProcRunner(cmd *exec.Cmd) (Runner, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting a generator process: %w", err)
	}
	r := &procRunner{cmd: cmd, stdin: stdin, ready: make(chan struct{}), settled: make(chan struct{}), done: make(chan struct{})}
	go r.read(stdout)
	return r, nil
}

func (r *procRunner) read(stdout io.Reader) {
	defer close(r.done)
	var readyOnce, settledOnce sync.Once
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	gotResult := false
	for sc.Scan() {
		var ev workerEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			continue
		}
		r.mu.Lock()
		if ev.Snapshot != nil {
			r.progress = *ev.Snapshot
		}
		switch ev.Event {
		case "ready":
			readyOnce.Do(func() { close(r.ready) })
		case "settled":
			settledOnce.Do(func() { close(r.settled) })
		case "result":
			gotResult = true
			r.res = ev.Result
			if ev.Error != "" {
				r.err = errors.New(ev.Error)
			}
		}
		r.mu.Unlock()
	}
	werr := r.cmd.Wait()
	r.mu.Lock()
	if !gotResult && r.err == nil {
		r.err = fmt.Errorf("a generator process ended without a result: %v", werr)
	}
	r.mu.Unlock()
}

func (r *procRunner) Ready() <-chan struct{}   { return r.ready }
func (r *procRunner) Settled() <-chan struct{} { return r.settled }
func (r *procRunner) Done() <-chan struct{}    { return r.done }

func (r *procRunner) Start() { r.command("start") }

func (r *procRunner) Stop() {
	r.mu.Lock()
	first := !r.stopped
	r.stopped = true
	r.mu.Unlock()
	if first {
		r.command("stop")
	}
}

func (r *procRunner) command(c string) {
	_, _ = io.WriteString(r.stdin, c+"\n")
}

func (r *procRunner) Progress() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.progress
}

func (r *procRunner) Result() (*Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.res, r.err
}
