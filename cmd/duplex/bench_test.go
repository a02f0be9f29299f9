package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duplexws/duplex/server"
	"github.com/duplexws/duplex/websocket"
)

// runBenchJSON runs "duplex bench --json ARGS" and decodes its report.
func runBenchJSON(t *testing.T, wantCode int, args ...string) benchReport {
	t.Helper()
	r := runDuplex(t, "", append([]string{"bench", "--json", "--quiet"}, args...)...)
	if r.code != wantCode {
		t.Fatalf("exit %d, want %d; stderr %q; stdout %s", r.code, wantCode, r.stderr, r.stdout)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, r.stdout)
	}
	return rep
}

// checkLatency checks that percentiles are ordered and fit the sample count.
func checkLatency(t *testing.T, what string, l struct {
	count                  uint64
	p50, p90, p99, p999, m float64
}) {
	t.Helper()
	if l.count == 0 || l.p50 <= 0 || l.p50 > l.p90 || l.p90 > l.p99 || l.p99 > l.p999 || l.p999 > l.m {
		t.Fatalf("%s latency is not ordered: %+v", what, l)
	}
}

func latencyOf(r benchReport) struct {
	count                  uint64
	p50, p90, p99, p999, m float64
} {
	l := r.Latency
	return struct {
		count                  uint64
		p50, p90, p99, p999, m float64
	}{l.Count, l.P50, l.P90, l.P99, l.P999, l.Max}
}

func TestBenchEchoCountAddsUp(t *testing.T) {
	echo := startDuplexServer(t, "echo", "--addr", "127.0.0.1:0")
	pid := strconv.Itoa(echo.cmd.Process.Pid)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"binary", []string{"--conns", "4", "--inflight", "4", "--size", "100"}},
		{"text-batch", []string{"--conns", "3", "--inflight", "8", "--size", "3000", "--text", "--batch"}},
		{"two-procs", []string{"--conns", "5", "--inflight", "2", "--size", "64", "--procs", "2"}},
		{"goroutines", []string{"--conns", "4", "--inflight", "3", "--size", "100", "--goroutines"}},
		{"no-io-uring", []string{"--conns", "4", "--inflight", "1", "--size", "100", "--no-io-uring"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const count = 3001
			rep := runBenchJSON(t, 0, append(tc.args, "--count", strconv.Itoa(count), "--server-pid", pid, echo.url)...)
			if rep.Sent != count || rep.Received != count || rep.Latency.Count != count {
				t.Fatalf("sent %d, received %d, latencies %d; want %d of each", rep.Sent, rep.Received, rep.Latency.Count, count)
			}
			if rep.Errors != 0 || len(rep.ErrorSamples) != 0 {
				t.Fatalf("errors: %d %v", rep.Errors, rep.ErrorSamples)
			}
			checkLatency(t, "echo", latencyOf(rep))
			// On Linux the loops drive the connections, with io_uring
			// where the kernel has it (CI's must).
			engines := []string{"goroutines"}
			switch {
			case runtime.GOOS != "linux" || slices.Contains(tc.args, "--goroutines"):
			case slices.Contains(tc.args, "--no-io-uring"):
				engines = []string{"loops"}
			case os.Getenv("CI") == "true":
				engines = []string{"loops+io_uring"}
			default:
				engines = []string{"loops+io_uring", "loops"}
			}
			if !slices.Contains(engines, rep.Engine) {
				t.Fatalf("engine %q, want one of %q", rep.Engine, engines)
			}
			if rep.MsgsPerSec <= 0 || rep.Seconds <= 0 || rep.Server == nil || rep.Server.PID != echo.cmd.Process.Pid || rep.Server.RSSMB <= 0 {
				t.Fatalf("rates or server figures missing: %+v, server %+v", rep, rep.Server)
			}
		})
	}
}

func TestBenchEchoDurationAndCompression(t *testing.T) {
	echo := startDuplexServer(t, "echo", "--addr", "127.0.0.1:0", "--compress")
	rep := runBenchJSON(t, 0, "--conns", "4", "--inflight", "2", "--size", "2000", "--compress",
		"--duration", "700ms", "--warmup", "200ms", echo.url)
	if rep.Sent == 0 || rep.Sent != rep.Received || rep.Latency.Count != uint64(rep.Received) || rep.Errors != 0 {
		t.Fatalf("sent %d, received %d, latencies %d, errors %d %v", rep.Sent, rep.Received, rep.Latency.Count, rep.Errors, rep.ErrorSamples)
	}
	if rep.Seconds < 0.6 || rep.Seconds > 5 {
		t.Fatalf("measured window %.2fs for --duration 700ms", rep.Seconds)
	}
	checkLatency(t, "echo", latencyOf(rep))
}

// wrongEchoServer answers every message with a changed copy.
func wrongEchoServer(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, p, err := c.Read(r.Context())
			if err != nil {
				return
			}
			p[len(p)/2] ^= 1
			_ = c.Write(r.Context(), typ, p)
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
}

func TestBenchReportsWrongEchoes(t *testing.T) {
	rep := runBenchJSON(t, 3, "--conns", "2", "--count", "100", wrongEchoServer(t))
	if rep.Errors != 2 || len(rep.ErrorSamples) != 1 || !strings.Contains(rep.ErrorSamples[0], "the echo differs from the message sent, at byte 32") {
		t.Fatalf("errors %d, samples %q", rep.Errors, rep.ErrorSamples)
	}
	r := runDuplex(t, "", "bench", "--conns", "1", "--inflight", "100", "--size", "20000", "ws://127.0.0.1:1/")
	if r.code != 2 || !strings.Contains(r.stderr, "exceeds 1048576 bytes in flight per connection") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestBenchConnect(t *testing.T) {
	echo := startDuplexServer(t, "echo", "--addr", "127.0.0.1:0")
	rep := runBenchJSON(t, 0, "--mode", "connect", "--conns", "60", "--rate", "600", "--duration", "300ms",
		"--procs", "2", "--server-pid", strconv.Itoa(echo.cmd.Process.Pid), echo.url)
	c := rep.Connect
	if c == nil || c.Attempted != 60 || c.Opened != 60 || c.Failed != 0 || c.Dropped != 0 || c.ClosedCleanly != 60 || rep.Conns != 60 {
		t.Fatalf("connect report %+v, conns %d", c, rep.Conns)
	}
	if rep.Latency.Count != 60 || c.SetupRate <= 0 || rep.Errors != 0 {
		t.Fatalf("handshakes timed %d, setup rate %.0f, errors %d %v", rep.Latency.Count, c.SetupRate, rep.Errors, rep.ErrorSamples)
	}
	// 60 connections at 600/s take at least 0.1 s: the rate was applied.
	if c.SetupSeconds < 0.09 {
		t.Fatalf("60 connections at --rate 600 opened in %.3fs", c.SetupSeconds)
	}
	checkLatency(t, "handshake", latencyOf(rep))

	// A server that is not there: every attempt fails and says why.
	rep = runBenchJSON(t, 3, "--mode", "connect", "--conns", "3", "--duration", "10ms", "ws://127.0.0.1:1/")
	if rep.Connect.Failed != 3 || rep.Connect.Opened != 0 || !strings.Contains(strings.Join(rep.ErrorSamples, " "), "connection refused") {
		t.Fatalf("connect report %+v, samples %q", rep.Connect, rep.ErrorSamples)
	}
}

// startRealtimeServer runs the real-time server of package server in this
// process, with anonymous access to namespace "news" and API key "bench-api-key".
func startRealtimeServer(t *testing.T) string {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Token.HMACSecret = "test secret for the bench"
	cfg.Anonymous = true
	cfg.APIKey = "bench-api-key"
	cfg.Namespaces = map[string]server.Namespace{
		"news": {AllowAnonymous: true, HistorySize: 100, HistoryTTL: server.Duration(time.Minute)},
	}
	srv, err := server.New(cfg, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/connection/websocket"
}

func TestBenchSubscribeAgainstRealtimeServer(t *testing.T) {
	url := startRealtimeServer(t)
	const subs = 30
	rep := runBenchJSON(t, 0, "--mode", "subscribe", "--conns", strconv.Itoa(subs), "--channel", "news:bench",
		"--api-key", "bench-api-key", "--publish-rate", "50", "--count", "25", "--procs", "2", url)
	s := rep.Subscribe
	if s == nil || s.Subscribed != subs || s.Published != 25 || s.PublishFailed != 0 {
		t.Fatalf("subscribe report %+v", s)
	}
	if s.Deliveries != 25*subs || s.ExpectedDeliveries != 25*subs || rep.Latency.Count != 25*subs || s.Untimed != 0 {
		t.Fatalf("deliveries %d (expected %d), timed %d, untimed %d", s.Deliveries, s.ExpectedDeliveries, rep.Latency.Count, s.Untimed)
	}
	if s.Publications != 25 || s.Complete != 25 || rep.Errors != 0 {
		t.Fatalf("publications %d, complete %d, errors %d %v", s.Publications, s.Complete, rep.Errors, rep.ErrorSamples)
	}
	checkLatency(t, "publish to delivery", latencyOf(rep))
	// The last delivery of a publication comes no earlier than its median one.
	if s.LastDelivery.Max < rep.Latency.P50 || s.LastDelivery.Count != 25 {
		t.Fatalf("last delivery %+v against per-delivery p50 %.0f", s.LastDelivery, rep.Latency.P50)
	}

	// A wrong API key: publications fail, which the report and the exit
	// status say.
	rep = runBenchJSON(t, 3, "--mode", "subscribe", "--conns", "2", "--channel", "news:bench",
		"--api-key", "wrong-api-key", "--publish-rate", "50", "--count", "2", url)
	if rep.Subscribe.PublishFailed != 2 || !strings.Contains(strings.Join(rep.ErrorSamples, " "), "401") {
		t.Fatalf("with a wrong key: %+v, samples %q", rep.Subscribe, rep.ErrorSamples)
	}
}

func TestBenchUsageAndSetupErrors(t *testing.T) {
	echo := startDuplexServer(t, "echo", "--addr", "127.0.0.1:0")
	// Nothing listening: one line, exit status 1, no report of zeros.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "ws://" + ln.Addr().String() + "/"
	ln.Close()
	r := runDuplex(t, "", "bench", "--conns", "3", "--duration", "1s", dead)
	checkOneLineError(t, r, 1, "nothing is listening at "+dead+" (connection refused)")
	if r.stdout != "" {
		t.Fatalf("a run without connections printed a report: %q", r.stdout)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--server-pid", "2147483647", echo.url}, "--server-pid 2147483647: no process has this id"},
		{[]string{"--mode", "connect", "--count", "5", echo.url}, "--count is for the echo and subscribe modes"},
		{[]string{"--mode", "fan", echo.url}, `--mode must be echo, connect or subscribe, not "fan"`},
		{[]string{"--duration", "1s", "ftp://127.0.0.1/"}, "must start with ws:// or wss://"},
		{[]string{"--conns", "x", echo.url}, `invalid value "x" for flag --conns`},
	} {
		checkUsageError(t, runDuplex(t, "", append([]string{"bench"}, tc.args...)...), tc.want)
	}
}

// limitedEchoServer echoes on its first n connections and refuses the
// others with 503.
func limitedEchoServer(t *testing.T, n int64) string {
	var accepted atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if accepted.Add(1) > n {
			http.Error(w, "full", http.StatusServiceUnavailable)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, p, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, p); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
}

func TestBenchCountWithRefusedConnections(t *testing.T) {
	// Two of four connections are refused: the two others send --count.
	rep := runBenchJSON(t, 3, "--conns", "4", "--count", "101", limitedEchoServer(t, 2))
	if rep.Conns != 2 || rep.Sent != 101 || rep.Received != 101 || rep.Latency.Count != 101 {
		t.Fatalf("conns %d, sent %d, received %d, latencies %d; want 2 connections carrying 101 messages",
			rep.Conns, rep.Sent, rep.Received, rep.Latency.Count)
	}
	if rep.Errors != 2 || len(rep.ErrorSamples) != 1 || !strings.Contains(rep.ErrorSamples[0], "503") {
		t.Fatalf("errors %d, samples %q", rep.Errors, rep.ErrorSamples)
	}
}

func TestBenchSpreadsSourceAddresses(t *testing.T) {
	var mu sync.Mutex
	sources := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		sources[host]++
		mu.Unlock()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, _, _ = c.Read(context.Background())
	}))
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
	rep := runBenchJSON(t, 0, "--mode", "connect", "--conns", "12", "--src-addrs", "3", "--duration", "10ms", url)
	if rep.Connect.Opened != 12 {
		t.Fatalf("connect report %+v, samples %q", rep.Connect, rep.ErrorSamples)
	}
	want := map[string]int{"127.0.0.1": 4, "127.0.0.2": 4, "127.0.0.3": 4}
	mu.Lock()
	got := maps.Clone(sources)
	clear(sources)
	mu.Unlock()
	if !maps.Equal(got, want) {
		t.Fatalf("the server saw connections from %v, want %v", got, want)
	}
	// Each generator process has its own block of addresses.
	rep = runBenchJSON(t, 0, "--mode", "connect", "--conns", "8", "--procs", "2", "--src-addrs", "2", "--duration", "10ms", url)
	if rep.Connect.Opened != 8 {
		t.Fatalf("connect report %+v, samples %q", rep.Connect, rep.ErrorSamples)
	}
	want = map[string]int{"127.1.0.1": 2, "127.1.0.2": 2, "127.2.0.1": 2, "127.2.0.2": 2}
	mu.Lock()
	got = maps.Clone(sources)
	mu.Unlock()
	if !maps.Equal(got, want) {
		t.Fatalf("with --procs 2 the server saw connections from %v, want %v", got, want)
	}
}

func TestBenchProgressLineAndInterrupt(t *testing.T) {
	echo := startDuplexServer(t, "echo", "--addr", "127.0.0.1:0")
	s := newTmuxSession(t, fmt.Sprintf("%s bench --conns 2 --duration 10m %s", duplexBin, echo.url))
	// On a terminal a progress line is shown while the run goes on.
	s.waitFor("2 conns open", "msg/s", "echoes", "0 errors")
	// Ctrl-C ends the run early, with the report of what was measured.
	s.pressKey("C-c")
	screen := s.waitFor("(interrupted: these figures cover the", "latency     p50", "duplex bench: interrupted", "EXIT=1")
	if strings.Contains(screen, "conns open") {
		t.Fatalf("the progress line was left on the screen:\n%s", screen)
	}
	// The report adds up: every message sent was echoed.
	m := regexp.MustCompile(`messages +(\d+) sent, (\d+) echoed`).FindStringSubmatch(screen)
	if m == nil || m[1] != m[2] || m[1] == "0" {
		t.Fatalf("the report does not add up:\n%s", screen)
	}
}
