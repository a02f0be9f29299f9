package bench

import (
	"sort"
	"sync"
)

// Result is what one run measured. The Results of several generator
// processes driven together merge into one with Merge.
type Result struct {
	Mode string `json:"mode"`
	// Conns is the number of connections that were set up.
	Conns int `json:"conns"`
	// Sent and Received count the messages of the measured window: echo
	// requests and their echoes (echo mode) or publications received
	// (subscribe mode, in Received).
	Sent     int64 `json:"sent"`
	Received int64 `json:"received"`
	// Bytes is the payload bytes received in the window.
	Bytes int64 `json:"bytes"`
	// Seconds is the length of the measured window.
	Seconds float64 `json:"seconds"`
	// Hist holds the latencies: echo round trips, handshakes (connect
	// mode) or publish-to-delivery times (subscribe mode).
	Hist *Histogram `json:"hist"`
	// Errors counts failures: connections that could not be set up or
	// ended abnormally, wrong echoes, refused commands.
	Errors       int64    `json:"errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	// CPUSeconds is the CPU time this generator process used in the
	// window (user + system).
	CPUSeconds float64 `json:"cpu_seconds"`
	// Engine is how the echo mode drove its connections: "loops" (a few
	// epoll loops), "loops+io_uring" (with their reads and sends batched)
	// or "goroutines" (one each).
	Engine string `json:"engine,omitempty"`

	Connect   *ConnectResult   `json:"connect,omitempty"`
	Subscribe *SubscribeResult `json:"subscribe,omitempty"`
}

// Merge adds o's counts to r. Windows overlap, so the longer one is kept.
func (r *Result) Merge(o *Result) {
	if r.Mode == "" {
		r.Mode = o.Mode
	}
	if r.Engine == "" {
		r.Engine = o.Engine
	}
	r.Conns += o.Conns
	r.Sent += o.Sent
	r.Received += o.Received
	r.Bytes += o.Bytes
	r.Seconds = max(r.Seconds, o.Seconds)
	if o.Hist != nil {
		if r.Hist == nil {
			r.Hist = &Histogram{}
		}
		r.Hist.Merge(o.Hist)
	}
	r.Errors += o.Errors
	for _, s := range o.ErrorSamples {
		r.ErrorSamples = addSample(r.ErrorSamples, s)
	}
	r.CPUSeconds += o.CPUSeconds
	if o.Connect != nil {
		if r.Connect == nil {
			r.Connect = &ConnectResult{}
		}
		r.Connect.merge(o.Connect)
	}
	if o.Subscribe != nil {
		if r.Subscribe == nil {
			r.Subscribe = &SubscribeResult{}
		}
		r.Subscribe.merge(o.Subscribe)
	}
}

const maxSamples = 5

func addSample(samples []string, s string) []string {
	if len(samples) >= maxSamples {
		return samples
	}
	for _, x := range samples {
		if x == s {
			return samples
		}
	}
	return append(samples, s)
}

// errorLog counts errors and keeps a few distinct messages as samples.
type errorLog struct {
	mu      sync.Mutex
	n       int64
	samples []string
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	l.n++
	l.samples = addSample(l.samples, err.Error())
	l.mu.Unlock()
}

func (l *errorLog) count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *errorLog) fill(r *Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.Errors += l.n
	for _, s := range l.samples {
		r.ErrorSamples = addSample(r.ErrorSamples, s)
	}
	sort.Strings(r.ErrorSamples)
}
