package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duplexws/duplex/bench/internal/proc"
)

// duplexReport is the part of the report of "duplex bench --json" (written
// by ../cmd/duplex/bench_report.go) that the matrix reads.
type duplexReport struct {
	Conns       int     `json:"conns"` // connections set up
	Seconds     float64 `json:"duration_s"`
	Interrupted bool    `json:"interrupted"`
	Sent        uint64  `json:"messages_sent"`
	Received    uint64  `json:"messages_received"`
	MsgsPerSec  float64 `json:"msgs_per_sec"`
	MBPerSec    float64 `json:"mb_per_sec"`
	Latency     struct {
		P50  float64 `json:"p50_us"`
		P90  float64 `json:"p90_us"`
		P99  float64 `json:"p99_us"`
		P999 float64 `json:"p999_us"`
		Max  float64 `json:"max_us"`
		Mean float64 `json:"mean_us"`
	} `json:"latency"`
	Errors       int      `json:"errors"`
	ErrorSamples []string `json:"error_samples"`
	Server       *struct {
		CPUPercent  float64 `json:"cpu_percent"`
		CPUUsPerMsg float64 `json:"cpu_us_per_msg"`
		RSSMiB      float64 `json:"rss_mib"`
		Note        string  `json:"note"`
	} `json:"server"`
	// Bench is the generator's own CPU use; a pointer, so that a report
	// without it can be told from one that says 0.
	Bench *struct {
		CPUPercent *float64 `json:"cpu_percent"`
	} `json:"bench"`
}

// loadResult maps the report onto the figures the tables print, the same
// ones loadgen reports. The generator's CPU comes from the report when it
// has it, else from cpu (the child's /proc samples; nil when none).
func (d *duplexReport) loadResult(cpu []cpuSample) *loadResult {
	res := &loadResult{Connected: d.Conns, Seconds: d.Seconds, Messages: d.Received, Sent: d.Sent,
		MsgPerSec: d.MsgsPerSec, MBPerSec: d.MBPerSec, Errors: d.Errors,
		ErrorSample: strings.Join(d.ErrorSamples, "; ")}
	res.Lat.P50, res.Lat.P90, res.Lat.P99 = d.Latency.P50, d.Latency.P90, d.Latency.P99
	res.Lat.P999, res.Lat.Max, res.Lat.Mean = d.Latency.P999, d.Latency.Max, d.Latency.Mean
	if d.Bench != nil && d.Bench.CPUPercent != nil {
		res.LoadgenCPUPct, res.LoadgenCPUFrom = *d.Bench.CPUPercent, "report"
		res.LoadgenCPU = res.LoadgenCPUPct * d.Seconds / 100
	} else if s, pct, ok := windowCPU(cpu, time.Duration(d.Seconds*float64(time.Second))); ok {
		res.LoadgenCPU, res.LoadgenCPUPct, res.LoadgenCPUFrom = s, pct, "proc"
	}
	if s := d.Server; s != nil {
		res.ServerUsPerMsg = s.CPUUsPerMsg
		res.ServerCPU = s.CPUUsPerMsg * float64(d.Received) / 1e6
		if d.Received == 0 {
			res.ServerCPU = s.CPUPercent * d.Seconds / 100
		}
		res.ServerRSS = int64(s.RSSMiB * (1 << 20))
		res.Note = s.Note
	}
	return res
}

// echoDuplex measures one echo cell with duplex bench.
func (r *runner) echoDuplex(c cell, lib string, rec *record) error {
	srv, err := r.startServer(lib, c.compress)
	if err != nil {
		return err
	}
	defer srv.stop()
	args := []string{"bench", "--mode", "echo", "--json", "--quiet",
		"--conns", strconv.Itoa(c.conns), "--size", strconv.Itoa(c.size), "--inflight", strconv.Itoa(r.s.cellInflight(c.size)),
		"--duration", r.s.dur.String(), "--warmup", r.s.warmup.String(), "--server-pid", strconv.Itoa(srv.pid()),
		// loadgen waits for an echo as long as the run lasts; duplex
		// bench counts one later than --timeout (10s by default) as a
		// failed connection, which large compressed messages on many
		// connections could reach on a slow server.
		"--timeout", "30s"}
	if c.compress {
		args = append(args, "--compress")
	}
	if r.s.batch {
		args = append(args, "--batch")
	}
	if r.s.goroutines {
		args = append(args, "--goroutines")
	}
	args = append(args, "ws://"+srv.addr+"/")
	rep, raw, cpu, err := r.duplexBench(r.s.dur+r.s.warmup+2*time.Minute, args...)
	if rep == nil {
		return err
	}
	rec.DuplexBench = raw
	rec.Load = rep.loadResult(cpu)
	switch {
	case err != nil:
		return err
	case rep.Interrupted:
		return errors.New("duplex bench reports an interrupted run")
	case rec.Load.Messages == 0:
		return fmt.Errorf("no echo in the window (%d errors: %s)", rec.Load.Errors, rec.Load.ErrorSample)
	}
	return nil
}

// duplexBench runs duplex bench to completion and decodes its JSON report,
// sampling the child's CPU time from /proc meanwhile in case the report
// lacks the generator's own. A run that ends with exit status 3 (it
// completed, with errors) is a result like any other: the errors are in the
// report. Any other failure returns an error, along with the report if
// there is one.
func (r *runner) duplexBench(timeout time.Duration, args ...string) (*duplexReport, json.RawMessage, []cpuSample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := r.command("1", "duplex", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, err
	}
	sampler := startCPUSampler(cmd.Process.Pid, 100*time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		sampler.finish()
		return nil, nil, nil, fmt.Errorf("duplex bench still running after %v", timeout)
	}
	cpu := sampler.finish()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 {
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("duplex bench: %v: %s", err, bytes.TrimSpace(errb.Bytes()))
	}
	var rep duplexReport
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		if err == nil {
			err = fmt.Errorf("decode the report of duplex bench %q: %w", bytes.TrimSpace(out.Bytes()), jerr)
		}
		return nil, nil, nil, err
	}
	var raw bytes.Buffer
	_ = json.Compact(&raw, out.Bytes())
	return &rep, raw.Bytes(), cpu, err
}

// cpuSample is a child's CPU time (user + system) at one moment.
type cpuSample struct {
	at  time.Time
	cpu time.Duration
}

// cpuSampler reads a process's CPU time from /proc/PID/stat at a fixed
// interval until finish.
type cpuSampler struct {
	mu      sync.Mutex
	samples []cpuSample
	stop    chan struct{}
	done    chan struct{}
}

func startCPUSampler(pid int, every time.Duration) *cpuSampler {
	s := &cpuSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			if cpu, err := proc.CPUTime(pid); err == nil {
				s.mu.Lock()
				s.samples = append(s.samples, cpuSample{time.Now(), cpu})
				s.mu.Unlock()
			}
			select {
			case <-tick.C:
			case <-s.stop:
				return
			}
		}
	}()
	return s
}

// finish stops the sampling and returns the samples.
func (s *cpuSampler) finish() []cpuSample {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}

// windowCPU returns the CPU seconds, and the percentage of one core, that
// the samples show over the last window before the last sample: the
// generator's measured window ends just before it prints its report and
// exits. The result is as precise as the sampling interval allows.
func windowCPU(samples []cpuSample, window time.Duration) (seconds, pct float64, ok bool) {
	if len(samples) < 2 || window <= 0 {
		return 0, 0, false
	}
	last := samples[len(samples)-1]
	first := samples[0]
	from := last.at.Add(-window)
	for _, s := range samples {
		if s.at.After(from) {
			break
		}
		first = s
	}
	wall := last.at.Sub(first.at)
	if wall <= 0 {
		return 0, 0, false
	}
	seconds = (last.cpu - first.cpu).Seconds()
	return seconds, 100 * seconds / wall.Seconds(), true
}
