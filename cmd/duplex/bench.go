package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/duplexws/duplex/internal/bench"
)

func init() {
	register(&command{name: "bench", short: "load-test a WebSocket server: echo, connect and subscribe modes", run: runBench})
}

const benchAbout = `
Generates load against a WebSocket server and reports throughput, latency
percentiles (p50, p90, p99, p99.9, max), errors and, with --server-pid, the
server's CPU and memory. Modes:

  echo       --conns connections each keep --inflight messages of --size bytes
             in flight to an echo server and check every echo (any echo
             server: duplex echo, or another library's). With --rate the
             loop is open: messages fall due at that rate whether or not
             the echoes keep up (--inflight bounds those outstanding), and
             latency counts from when each fell due, so a server that
             stalls shows it in the latency rather than in fewer samples.
  connect    open --conns connections at --rate per second, hold them for
             --duration, close them; reports the setup rate, handshake times,
             failures and connections dropped while held.
  subscribe  --conns clients of "duplex serve" connect and subscribe to
             --channel; publications whose data carries "ts" (Unix
             nanoseconds) are timed from publishing to delivery. With
             --api-key, bench publishes {"ts":..., "seq":...} itself at
             --publish-rate through the HTTP API.

Connections to 127.0.0.0/8 are spread over several source addresses
(127.B.x.y) so that more than one address's ephemeral ports can be used;
--procs runs several generator processes, each with its own descriptors
and addresses. The exit status is 0 for a run without errors, 3 for a run
that completed with errors, 1 when it could not run.`

const benchExamples = `  duplex echo --addr 127.0.0.1:9001 &
  duplex bench --conns 100 --duration 10s ws://127.0.0.1:9001/
  duplex bench --conns 10 --inflight 8 --size 4096 --count 100000 --json ws://127.0.0.1:9001/
  duplex bench --conns 1000 --rate 50000 --inflight 4 --duration 10s ws://127.0.0.1:9001/
  duplex bench --mode connect --conns 10000 --rate 2000 --duration 5s ws://127.0.0.1:9001/
  duplex bench --mode subscribe --conns 1000 --channel news --api-key KEY \
      --publish-rate 50 --duration 10s ws://127.0.0.1:8000/connection/websocket`

// benchOptions are the parsed flags of "duplex bench".
type benchOptions struct {
	url         string
	mode        string
	conns       int
	inflight    int
	size        int
	text        bool
	compress    bool
	duration    time.Duration
	count       int64
	warmup      time.Duration
	rate        float64
	parallel    int
	channel     string
	token       string
	publishRate float64
	apiKey      string
	apiURL      string
	drain       time.Duration
	procs       int
	srcAddrs    int
	serverPID   int
	jsonOut     bool
	quiet       bool
	headers     multiFlag
	insecure    bool
	timeout     time.Duration
	worker      int
	cpuProfile  string
	batch       bool
	goroutines  bool
	noIOUring   bool
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCommandFlags("bench", "bench [flags] URL", benchAbout, benchExamples, stdout, stderr)
	o := &benchOptions{}
	fs.StringVar(&o.mode, "mode", "echo", "`mode`: echo, connect or subscribe")
	fs.IntVar(&o.conns, "conns", 10, "`n` connections (echo, connect) or subscribers (subscribe), over all processes")
	fs.IntVar(&o.inflight, "inflight", 1, "echo: `n` messages in flight per connection")
	fs.IntVar(&o.size, "size", 64, "echo: message size in `bytes`")
	fs.BoolVar(&o.batch, "batch", false, "echo: refill in one write once half of --inflight came back (cheaper for bench; in flight varies from half to all)")
	fs.BoolVar(&o.goroutines, "goroutines", false, "echo: drive each connection from a goroutine of its own (default on Linux over ws:// without --rate: a few epoll loops, which cost bench less per message)")
	fs.BoolVar(&o.noIOUring, "no-io-uring", false, "echo: the epoll loops read and write one system call at a time instead of a round's reads, and sends, in one io_uring call each")
	fs.BoolVar(&o.text, "text", false, "echo: send text messages (default binary)")
	fs.BoolVar(&o.compress, "compress", false, "offer permessage-deflate (echo: without context takeover, every message compressed)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "echo: measured time; connect: how long to hold the connections; subscribe: how long to publish or listen")
	fs.Int64Var(&o.count, "count", 0, "echo: send `n` messages in all instead of running for --duration; subscribe: publish n")
	fs.DurationVar(&o.warmup, "warmup", 0, "echo: `duration` of unmeasured traffic before the measured --duration")
	fs.Float64Var(&o.rate, "rate", 0, "connect: `n` new connections per second (0: as fast as --parallel handshakes allow); echo: n messages per second over all connections, an open loop (0: send when echoes come back)")
	fs.IntVar(&o.parallel, "parallel", 64, "connect, subscribe: `n` handshakes in progress at once, per process")
	fs.StringVar(&o.channel, "channel", "", "subscribe: the `channel` to subscribe to")
	fs.StringVar(&o.token, "token", "", "subscribe: connection `token` (default: connect anonymously)")
	fs.Float64Var(&o.publishRate, "publish-rate", 10, "subscribe: `n` publications per second that bench sends (needs --api-key)")
	fs.StringVar(&o.apiKey, "api-key", "", "subscribe: HTTP API `key`; without it bench only listens to publications made by others")
	fs.StringVar(&o.apiURL, "api", "", "subscribe: publish endpoint `URL` (default: http(s)://HOST/api/publish of the URL's host)")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "subscribe: longest wait for deliveries after the last publication")
	fs.IntVar(&o.procs, "procs", 1, "`n` generator processes (each has its own descriptor limit)")
	fs.IntVar(&o.srcAddrs, "src-addrs", -1, "`n` source addresses per process for a 127.x target (-1: one per 10000 connections, 0: let the kernel choose)")
	fs.IntVar(&o.serverPID, "server-pid", 0, "report the CPU and memory of process `pid` (the server under test)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
	fs.BoolVar(&o.quiet, "quiet", false, "no live progress line")
	fs.Var(&o.headers, "H", "extra request header `\"NAME: VALUE\"` (repeatable)")
	fs.BoolVar(&o.insecure, "insecure", false, "do not verify the server's TLS certificate")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "longest `duration` of a handshake, and of a wait for an echo")
	fs.IntVar(&o.worker, "worker", -1, "internal: run as generator process N of --procs")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the generator to `file` (to see where its time goes)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(fs, "give exactly one URL, such as ws://127.0.0.1:9001/")
	}
	o.url = pos[0]
	if err := o.check(fs); err != nil {
		return err
	}
	if o.cpuProfile != "" && o.worker < 0 {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("creating the --cpuprofile file: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if o.worker >= 0 {
		// Ctrl-C on a terminal reaches the whole process group: the
		// parent decides when its workers stop.
		signal.Ignore(os.Interrupt)
		run, err := o.runFunc(o.worker)
		if err != nil {
			return err
		}
		return bench.ServeWorker(ctx, os.Stdin, stdout, run)
	}
	return o.drive(ctx, args, stdout, stderr)
}

func (o *benchOptions) check(fs *flag.FlagSet) error {
	switch o.mode {
	case "echo", "connect", "subscribe":
	default:
		return usageError(fs, "--mode must be echo, connect or subscribe, not %q", o.mode)
	}
	if o.conns < 1 || o.procs < 1 || o.procs > o.conns {
		return usageError(fs, "--conns must be at least 1 and at least --procs")
	}
	if o.procs > 250 {
		return usageError(fs, "--procs must be at most 250")
	}
	if o.mode == "subscribe" && o.channel == "" {
		return usageError(fs, "subscribe mode needs --channel")
	}
	if o.mode == "echo" {
		c := bench.EchoConfig{Conns: o.conns, InFlight: o.inflight, Size: o.size, Rate: o.rate, Batch: o.batch}
		if err := c.Check(); err != nil {
			return usageError(fs, "%v", err)
		}
	}
	if o.duration <= 0 && !(o.mode == "echo" && o.count > 0) && !(o.mode == "subscribe" && o.count > 0) {
		return usageError(fs, "--duration must be positive")
	}
	if o.publishRate <= 0 {
		return usageError(fs, "--publish-rate must be positive")
	}
	if _, err := headerFlags(o.headers); err != nil {
		return usageError(fs, "%v", err)
	}
	u, err := wsURL(o.url)
	if err != nil {
		return usageError(fs, "%v", err)
	}
	o.url = u
	if _, err := bench.ParseTarget(o.url); err != nil {
		return usageError(fs, "%v", err)
	}
	if o.count > 0 && o.mode == "connect" {
		return usageError(fs, "--count is for the echo and subscribe modes; connect mode opens --conns connections")
	}
	if o.count < 0 {
		return usageError(fs, "--count must not be negative")
	}
	if o.serverPID != 0 && o.worker < 0 {
		if _, err := bench.ProcessCPU(o.serverPID); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return usageError(fs, "--server-pid %d: no process has this id", o.serverPID)
			}
			return usageError(fs, "--server-pid %d: %v", o.serverPID, errors.Unwrap(err))
		}
	}
	return nil
}

// share returns process i's part of n split over the processes.
func (o *benchOptions) share(n int64, i int) int64 {
	p := int64(o.procs)
	s := n / p
	if int64(i) < n%p {
		s++
	}
	return s
}

// runFunc returns the run of generator process i.
func (o *benchOptions) runFunc(i int) (bench.RunFunc, error) {
	t, err := bench.ParseTarget(o.url)
	if err != nil {
		return nil, err
	}
	t.Header, _ = headerFlags(o.headers)
	t.Compress = o.compress
	t.Timeout = o.timeout
	if o.insecure {
		t.TLS = &tls.Config{InsecureSkipVerify: true}
	}
	conns := int(o.share(int64(o.conns), i))
	n := o.srcAddrs
	if n < 0 {
		n = 1 + conns/10000
	}
	block := 0
	if o.procs > 1 {
		block = i + 1
	}
	t.Sources = bench.LoopbackSources(t.URL.Hostname(), n, block)
	switch o.mode {
	case "echo":
		cfg := bench.EchoConfig{Conns: conns, InFlight: o.inflight, Size: o.size, Text: o.text,
			Warmup: o.warmup, Timeout: o.timeout, Batch: o.batch, Rate: o.rate / float64(o.procs),
			Goroutines: o.goroutines, NoIOUring: o.noIOUring}
		if o.count > 0 {
			cfg.Count = o.share(o.count, i)
			cfg.Warmup = 0
		}
		return func(ctx context.Context, ctl *bench.Control) (*bench.Result, error) {
			return bench.RunEcho(ctx, t, cfg, ctl)
		}, nil
	case "connect":
		cfg := bench.ConnectConfig{Conns: conns, Rate: o.rate / float64(o.procs), Parallel: o.parallel}
		return func(ctx context.Context, ctl *bench.Control) (*bench.Result, error) {
			return bench.RunConnect(ctx, t, cfg, ctl)
		}, nil
	default:
		cfg := bench.SubscribeConfig{URL: t.URL.String(), Conns: conns, Channel: o.channel, Token: o.token,
			Header: t.Header, TLS: t.TLS, Compress: o.compress, Sources: t.Sources, Parallel: o.parallel, Timeout: o.timeout}
		return func(ctx context.Context, ctl *bench.Control) (*bench.Result, error) {
			return bench.RunSubscribe(ctx, cfg, ctl)
		}, nil
	}
}

// drive runs the generator processes (this one, or --procs children) and
// prints the report.
func (o *benchOptions) drive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// An interrupt (ctx) ends the run early with a report of what was
	// measured until then; the runners themselves run on.
	interrupt := ctx.Done()
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		select {
		case <-interrupt:
			// A second Ctrl-C ends the program at once.
			signal.Reset(os.Interrupt, syscall.SIGTERM)
		case <-ctx.Done():
		}
	}()
	var runners []bench.Runner
	if o.procs == 1 {
		run, err := o.runFunc(0)
		if err != nil {
			return err
		}
		runners = append(runners, bench.NewLocalRunner(ctx, run))
	} else {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding this program to start --procs copies of it: %w", err)
		}
		for i := range o.procs {
			cmd := exec.CommandContext(ctx, self, append([]string{"bench", "--worker", strconv.Itoa(i)}, args...)...)
			cmd.Stderr = stderr
			r, err := bench.NewProcRunner(cmd)
			if err != nil {
				return err
			}
			runners = append(runners, r)
		}
	}
	plan := bench.Plan{Mode: o.mode, Duration: o.duration, Warmup: o.warmup, Drain: o.drain, ServerPID: o.serverPID,
		Interrupt: interrupt}
	if o.mode == "echo" && o.count > 0 {
		plan.Duration, plan.Warmup = 0, 0
	}
	if o.mode == "subscribe" && o.apiKey != "" {
		api := o.apiURL
		if api == "" {
			var err error
			if api, err = bench.PublishURL(o.url); err != nil {
				return err
			}
		}
		plan.Publisher = &bench.Publisher{URL: api, APIKey: o.apiKey, Channel: o.channel, Rate: o.publishRate, Count: o.count}
		if o.count > 0 {
			plan.Duration = 0
		}
	}
	prog := newProgressLine(stderr, o)
	if prog != nil {
		plan.OnProgress = prog.update
	}
	cpu0 := bench.SelfCPU()
	out, err := bench.Drive(ctx, runners, plan)
	if prog != nil {
		prog.clear()
	}
	if err != nil && (out == nil || out.Result == nil) {
		if errors.Is(err, context.Canceled) {
			return errInterrupted
		}
		return err
	}
	if o.mode != "connect" && out.Result.Conns == 0 && !out.Interrupted {
		// Not one connection: there is nothing to report.
		if o.jsonOut {
			_ = newBenchReport(o, out).writeJSON(stdout)
		}
		return noConnection(o, out.Result)
	}
	// The parent's own CPU counts too when it only drives children.
	if o.procs > 1 {
		out.Result.CPUSeconds += (bench.SelfCPU() - cpu0).Seconds()
	}
	rep := newBenchReport(o, out)
	if o.jsonOut {
		if err := rep.writeJSON(stdout); err != nil {
			return err
		}
	} else {
		rep.writeText(stdout)
	}
	if err != nil {
		return err
	}
	if out.Interrupted {
		return fmt.Errorf("interrupted: the report covers the %.2fs measured until then", rep.Seconds)
	}
	if rep.Errors > 0 {
		return &exitError{code: 3, err: fmt.Errorf("the run completed with %d errors", rep.Errors)}
	}
	return nil
}

// noConnection explains a run in which not one connection could be set up.
func noConnection(o *benchOptions, res *bench.Result) error {
	why := strings.Join(res.ErrorSamples, "; ")
	switch {
	case strings.Contains(why, "connection refused"):
		return fmt.Errorf("nothing is listening at %s (connection refused): is the server running?", redactURL(o.url))
	case why == "":
		why = "no error was reported"
	}
	return fmt.Errorf("none of the %d connections could be set up: %s", o.conns, why)
}

// redactURL hides a password in a URL for reports.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}
