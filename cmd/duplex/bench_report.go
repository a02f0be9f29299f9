package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/duplexws/duplex/internal/bench"
	"golang.org/x/term"
)

// benchReport is what "duplex bench" prints; with --json, exactly this.
type benchReport struct {
	Mode     string `json:"mode"`
	URL      string `json:"url"`
	Procs    int    `json:"procs"`
	Conns    int    `json:"conns"` // connections set up (subscribe: subscribed)
	InFlight int    `json:"inflight,omitempty"`
	// Engine is how bench drove the echo connections: "loops" (a few
	// epoll loops, Linux), "loops+io_uring" (their reads and sends
	// batched) or "goroutines" (one per connection).
	Engine string `json:"engine,omitempty"`
	// Rate is the open loop's messages per second due (echo --rate).
	Rate     float64 `json:"rate,omitempty"`
	Size     int     `json:"size,omitempty"`
	Text     bool    `json:"text,omitempty"`
	Compress bool    `json:"compress"`
	Seconds  float64 `json:"duration_s"`
	// Interrupted says that Ctrl-C ended the run before its time: the
	// figures cover Seconds.
	Interrupted bool `json:"interrupted,omitempty"`

	Sent        int64   `json:"messages_sent"`
	Received    int64   `json:"messages_received"`
	MsgsPerSec  float64 `json:"msgs_per_sec"`
	MBPerSec    float64 `json:"mb_per_sec"`
	LatencyKind string  `json:"latency_kind"`
	// Latency is the echo round trip, the handshake time (connect) or the
	// publish-to-delivery time of each delivery (subscribe).
	Latency bench.Latency `json:"latency"`

	Connect   *connectReport   `json:"connect,omitempty"`
	Subscribe *subscribeReport `json:"subscribe,omitempty"`

	Errors       int64    `json:"errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`

	Server *serverReport `json:"server,omitempty"`
	Bench  cpuReport     `json:"bench"`
}

type connectReport struct {
	Attempted     int64   `json:"attempted"`
	Opened        int64   `json:"opened"`
	Failed        int64   `json:"failed"`
	Dropped       int64   `json:"dropped"`
	ClosedCleanly int64   `json:"closed_cleanly"`
	SetupSeconds  float64 `json:"setup_s"`
	SetupRate     float64 `json:"setup_per_sec"`
}

type subscribeReport struct {
	Channel            string  `json:"channel"`
	Subscribed         int64   `json:"subscribed"`
	Published          int64   `json:"published"`
	PublishFailed      int64   `json:"publish_failed"`
	PublishRate        float64 `json:"publish_per_sec"`
	Deliveries         int64   `json:"deliveries"`
	ExpectedDeliveries int64   `json:"expected_deliveries,omitempty"`
	DeliveriesPerSec   float64 `json:"deliveries_per_sec"`
	Untimed            int64   `json:"untimed"`
	// Publications are the publications seen; Complete those every
	// subscriber got.
	Publications int64 `json:"publications"`
	Complete     int64 `json:"complete_publications"`
	// LastDelivery is, per publication, the time from publishing to its
	// last delivery (in microseconds), summarised over publications.
	LastDelivery bench.Latency `json:"last_delivery"`
}

type serverReport struct {
	PID         int     `json:"pid"`
	CPUPercent  float64 `json:"cpu_percent"` // of one core
	CPUUsPerMsg float64 `json:"cpu_us_per_msg,omitempty"`
	RSSBeforeMB float64 `json:"rss_before_mib"`
	RSSMB       float64 `json:"rss_mib"`
	KiBPerConn  float64 `json:"kib_per_conn,omitempty"`
	Note        string  `json:"note,omitempty"`
}

type cpuReport struct {
	CPUPercent  float64 `json:"cpu_percent"` // of one core, all generator processes
	CPUUsPerMsg float64 `json:"cpu_us_per_msg,omitempty"`
}

func newBenchReport(o *benchOptions, out *bench.Outcome) *benchReport {
	res := out.Result
	if res.Hist == nil {
		res.Hist = &bench.Histogram{}
	}
	r := &benchReport{Mode: o.mode, URL: redactURL(o.url), Procs: o.procs, Conns: res.Conns, Compress: o.compress,
		Seconds: res.Seconds, Sent: res.Sent, Received: res.Received, Latency: res.Hist.Summary(),
		Errors: res.Errors, ErrorSamples: res.ErrorSamples, Interrupted: out.Interrupted}
	window := res.Seconds
	switch o.mode {
	case "echo":
		r.InFlight, r.Size, r.Text, r.Engine = o.inflight, o.size, o.text, res.Engine
		r.LatencyKind = "round trip"
		if o.rate > 0 {
			r.Rate = o.rate
			r.LatencyKind = "round trip from when each message fell due"
		}
	case "connect":
		r.LatencyKind = "handshake"
		c := res.Connect
		if c == nil {
			c = &bench.ConnectResult{}
		}
		r.Connect = &connectReport{Attempted: c.Attempted, Opened: c.Opened, Failed: c.Failed, Dropped: c.Dropped,
			ClosedCleanly: c.ClosedCleanly, SetupSeconds: c.SetupSeconds}
		if c.SetupSeconds > 0 {
			r.Connect.SetupRate = float64(c.Opened) / c.SetupSeconds
		}
	case "subscribe":
		r.LatencyKind = "publish to delivery"
		s := res.Subscribe
		if s == nil {
			s = &bench.SubscribeResult{}
		}
		sr := &subscribeReport{Channel: o.channel, Subscribed: s.Subscribed, Deliveries: res.Received, Untimed: s.Untimed,
			Publications: int64(len(s.Publications))}
		if p := out.Publish; p != nil {
			sr.Published, sr.PublishFailed = p.Published, p.Failed
			if p.Seconds > 0 {
				sr.PublishRate = float64(p.Published) / p.Seconds
			}
			sr.ExpectedDeliveries = p.Published * s.Subscribed
			r.Sent = p.Published
			r.ErrorSamples = append(r.ErrorSamples, p.ErrorSamples...)
			r.Errors += p.Failed
			if missing := sr.ExpectedDeliveries - res.Received; missing > 0 {
				r.Errors += missing
				r.ErrorSamples = append(r.ErrorSamples, fmt.Sprintf("%d deliveries did not arrive within --drain", missing))
			}
		}
		var last bench.Histogram
		for _, p := range s.Publications {
			if p.Count >= s.Subscribed {
				sr.Complete++
			}
			last.Record(p.LastNS)
		}
		sr.LastDelivery = last.Summary()
		if window > 0 {
			sr.DeliveriesPerSec = float64(res.Received) / window
		}
		r.Subscribe = sr
	}
	if window > 0 && o.mode != "connect" {
		r.MsgsPerSec = float64(res.Received) / window
		r.MBPerSec = float64(res.Bytes) / window / 1e6
	}
	perMsg := res.Received
	if o.mode == "connect" && r.Connect != nil {
		perMsg = r.Connect.Opened
	}
	if window > 0 {
		r.Bench.CPUPercent = 100 * res.CPUSeconds / window
	}
	if perMsg > 0 {
		r.Bench.CPUUsPerMsg = res.CPUSeconds * 1e6 / float64(perMsg)
	}
	if s := out.Server; s != nil {
		sr := &serverReport{PID: s.PID, RSSBeforeMB: mib(s.RSSBefore), RSSMB: mib(s.RSS), Note: s.Note}
		if w := out.Window.Seconds(); w > 0 {
			sr.CPUPercent = 100 * s.CPUSeconds / w
		}
		if perMsg > 0 {
			sr.CPUUsPerMsg = s.CPUSeconds * 1e6 / float64(perMsg)
		}
		if o.mode == "connect" && r.Connect != nil && r.Connect.Opened > 0 && s.RSS > 0 {
			sr.KiBPerConn = float64(s.RSS-s.RSSBefore) / 1024 / float64(r.Connect.Opened)
		}
		r.Server = sr
	}
	sort.Strings(r.ErrorSamples)
	return r
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func (r *benchReport) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *benchReport) writeText(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	head := fmt.Sprintf("duplex bench %s %s: %d conns", r.Mode, r.URL, r.Conns)
	if r.Procs > 1 {
		head += fmt.Sprintf(" in %d processes", r.Procs)
	}
	if r.Mode == "echo" {
		kind := "binary"
		if r.Text {
			kind = "text"
		}
		if r.Rate > 0 {
			head += fmt.Sprintf(", open loop at %s msg/s, at most %d in flight each, %d B %s", human(r.Rate), r.InFlight, r.Size, kind)
		} else {
			head += fmt.Sprintf(", %d in flight each, %d B %s", r.InFlight, r.Size, kind)
		}
		switch r.Engine {
		case "loops":
			head += " (epoll loops)"
		case "loops+io_uring":
			head += " (epoll loops, io_uring)"
		}
	}
	if r.Compress {
		head += ", permessage-deflate"
	}
	p("%s", head)
	if r.Interrupted {
		p("  (interrupted: these figures cover the %.2fs before Ctrl-C)", r.Seconds)
	}
	switch r.Mode {
	case "echo":
		p("  messages    %d sent, %d echoed in %.2fs", r.Sent, r.Received, r.Seconds)
		p("  throughput  %s msg/s, %.2f MB/s each way", human(r.MsgsPerSec), r.MBPerSec)
	case "connect":
		c := r.Connect
		p("  connections %d opened, %d failed, %d dropped while held, %d closed cleanly", c.Opened, c.Failed, c.Dropped, c.ClosedCleanly)
		p("  setup       %s handshakes/s (%.2fs for all)", human(c.SetupRate), c.SetupSeconds)
	case "subscribe":
		s := r.Subscribe
		p("  subscribers %d on %q", s.Subscribed, s.Channel)
		if s.Published > 0 || s.PublishFailed > 0 {
			p("  published   %d (%.1f/s), %d failed", s.Published, s.PublishRate, s.PublishFailed)
		}
		exp := ""
		if s.ExpectedDeliveries > 0 {
			exp = fmt.Sprintf(" of %d expected", s.ExpectedDeliveries)
		}
		p("  deliveries  %d%s, %s/s over %.2fs", s.Deliveries, exp, human(s.DeliveriesPerSec), r.Seconds)
		l := s.LastDelivery
		p("  last delivery per publication  p50 %s  p99 %s  max %s  (%d of %d publications reached every subscriber)",
			us(l.P50), us(l.P99), us(l.Max), s.Complete, s.Publications)
	}
	l := r.Latency
	p("  latency     p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%s, %d samples)",
		us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max), r.LatencyKind, l.Count)
	p("  errors      %d", r.Errors)
	for _, e := range r.ErrorSamples {
		p("    %s", e)
	}
	if s := r.Server; s != nil {
		line := fmt.Sprintf("  server      pid %d: CPU %.0f%% of a core", s.PID, s.CPUPercent)
		if s.CPUUsPerMsg > 0 {
			unit := "msg"
			if r.Mode == "connect" {
				unit = "conn"
			}
			line += fmt.Sprintf(", %.2f µs/%s", s.CPUUsPerMsg, unit)
		}
		line += fmt.Sprintf(", RSS %.1f MiB", s.RSSMB)
		if s.KiBPerConn > 0 {
			line += fmt.Sprintf(" (%.1f KiB per connection)", s.KiBPerConn)
		}
		if s.Note != "" {
			line += " (" + s.Note + ")"
		}
		p("%s", line)
	}
	line := fmt.Sprintf("  bench       CPU %.0f%% of a core", r.Bench.CPUPercent)
	if r.Bench.CPUUsPerMsg > 0 {
		unit := "msg"
		if r.Mode == "connect" {
			unit = "conn"
		}
		line += fmt.Sprintf(", %.2f µs/%s", r.Bench.CPUUsPerMsg, unit)
	}
	p("%s", line)
}

// us formats microseconds for people.
func us(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fs", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2fms", v/1e3)
	default:
		return fmt.Sprintf("%.0fµs", v)
	}
}

// human formats a rate with k or M.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// progressLine shows a live status line on a terminal.
type progressLine struct {
	w    io.Writer
	mode string
	last bench.Snapshot
	at   time.Duration
}

// newProgressLine returns nil unless w is a terminal and --quiet is off.
func newProgressLine(w io.Writer, o *benchOptions) *progressLine {
	f, ok := w.(*os.File)
	if o.quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &progressLine{w: w, mode: o.mode}
}

func (p *progressLine) update(elapsed time.Duration, s bench.Snapshot) {
	rate := 0.0
	if d := (elapsed - p.at).Seconds(); d > 0 {
		rate = float64(s.Messages-p.last.Messages) / d
	}
	p.last, p.at = s, elapsed
	var b strings.Builder
	fmt.Fprintf(&b, "\r\033[K%5.0fs  %d conns open", elapsed.Seconds(), s.Conns)
	switch p.mode {
	case "echo":
		fmt.Fprintf(&b, "  %s msg/s  %d echoes", human(rate), s.Messages)
	case "connect":
		fmt.Fprintf(&b, "  %s opened/s  %d opened", human(rate), s.Messages)
	case "subscribe":
		fmt.Fprintf(&b, "  %s deliveries/s  %d deliveries", human(rate), s.Messages)
	}
	fmt.Fprintf(&b, "  %d errors", s.Errors)
	io.WriteString(p.w, b.String())
}

func (p *progressLine) clear() { io.WriteString(p.w, "\r\033[K") }
