package main

import (
	"fmt"
	"io"
	"time"

	"github.com/duplexws/duplex/bench/internal/hist"
	"github.com/duplexws/duplex/bench/internal/proc"
)

// Result is the JSON line a run prints. Latencies are in microseconds.
type Result struct {
	Mode     string `json:"mode"`
	Conns    int    `json:"conns"`
	Inflight int    `json:"inflight,omitempty"`
	Size     int    `json:"size"`
	Compress bool   `json:"compress"`

	Connected int     `json:"connected"`          // connections that completed the handshake
	Seconds   float64 `json:"seconds"`            // measured window
	Messages  uint64  `json:"messages,omitempty"` // echoes received in the window
	MsgPerSec float64 `json:"msg_per_s,omitempty"`
	MBPerSec  float64 `json:"mb_per_s,omitempty"` // payload MB/s (10^6 B) in each direction

	Setups       uint64  `json:"setups,omitempty"` // setup mode: handshakes in the window
	SetupsPerSec float64 `json:"setups_per_s,omitempty"`

	Lat Latency `json:"lat_us"`

	// Inflates counts compressed echoes the load generator had to inflate
	// because they differed from the last verified one (its costliest path).
	Inflates uint64 `json:"inflates,omitempty"`

	Errors      int    `json:"errors"`
	ErrorSample string `json:"error_sample,omitempty"`

	LoadgenCPU    float64 `json:"loadgen_cpu_s"`   // CPU seconds the load generator used in the window
	LoadgenCPUPct float64 `json:"loadgen_cpu_pct"` // … as a percentage of one core

	ServerCPU      float64 `json:"server_cpu_s,omitempty"` // with -server-pid
	ServerUsPerMsg float64 `json:"server_cpu_us_per_msg,omitempty"`
	ServerRSS      int64   `json:"server_rss_bytes,omitempty"`

	Ready bool `json:"ready,omitempty"` // idle mode: all connections are up
}

// Latency holds percentiles of the round-trip (or handshake) time, in µs.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func latencyOf(h *hist.Histogram) Latency {
	us := func(v uint64) float64 { return float64(v) / 1e3 }
	return Latency{
		P50: us(h.Quantile(0.5)), P90: us(h.Quantile(0.9)), P99: us(h.Quantile(0.99)),
		P999: us(h.Quantile(0.999)), Max: us(h.Max), Mean: h.Mean() / 1e3,
	}
}

// window samples CPU times at the edges of the measured window.
type window struct {
	pid          int
	t0           time.Time
	self0, srv0  time.Duration
	srvErr       error
	elapsed      time.Duration
	self, server time.Duration
}

func startWindow(pid int) *window {
	w := &window{pid: pid}
	if pid > 0 {
		w.srv0, w.srvErr = proc.CPUTime(pid)
	}
	w.self0 = proc.SelfCPU()
	w.t0 = time.Now()
	return w
}

func (w *window) stop() {
	w.elapsed = time.Since(w.t0)
	w.self = proc.SelfCPU() - w.self0
	if w.pid > 0 && w.srvErr == nil {
		var s1 time.Duration
		s1, w.srvErr = proc.CPUTime(w.pid)
		w.server = s1 - w.srv0
	}
}

// fill copies the window's figures into r; count is the number of
// operations (echoes or handshakes) the server CPU time is divided by.
func (w *window) fill(r *Result, count uint64) {
	r.Seconds = w.elapsed.Seconds()
	r.LoadgenCPU = w.self.Seconds()
	if r.Seconds > 0 {
		r.LoadgenCPUPct = 100 * r.LoadgenCPU / r.Seconds
	}
	if w.pid > 0 && w.srvErr == nil {
		r.ServerCPU = w.server.Seconds()
		if count > 0 {
			r.ServerUsPerMsg = w.server.Seconds() * 1e6 / float64(count)
		}
		if m, err := proc.ReadMemory(w.pid); err == nil {
			r.ServerRSS = m.RSS
		}
	}
}

func (r *Result) summary(out io.Writer) {
	fmt.Fprintf(out, "%s: %d conns (%d up), size %d, compress %v, %.2fs\n", r.Mode, r.Conns, r.Connected, r.Size, r.Compress, r.Seconds)
	if r.Messages > 0 {
		fmt.Fprintf(out, "  %.0f msg/s, %.1f MB/s each way\n", r.MsgPerSec, r.MBPerSec)
	}
	if r.Setups > 0 {
		fmt.Fprintf(out, "  %.0f handshakes/s\n", r.SetupsPerSec)
	}
	fmt.Fprintf(out, "  latency µs: p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f max %.1f\n", r.Lat.P50, r.Lat.P90, r.Lat.P99, r.Lat.P999, r.Lat.Max)
	fmt.Fprintf(out, "  loadgen CPU %.2fs (%.0f%% of a core); server CPU %.2fs = %.2f µs/op; server RSS %.1f MiB\n",
		r.LoadgenCPU, r.LoadgenCPUPct, r.ServerCPU, r.ServerUsPerMsg, float64(r.ServerRSS)/(1<<20))
	if r.Errors > 0 {
		fmt.Fprintf(out, "  errors %d: %s\n", r.Errors, r.ErrorSample)
	}
}
