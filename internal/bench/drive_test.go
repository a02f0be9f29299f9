package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// echoServer is an echo server of our websocket package in this process,
// so that the race detector sees the generator's goroutines.
func echoServer(t *testing.T, compress bool) *Target {
	t.Helper()
	opts := &websocket.AcceptOptions{}
	if compress {
		opts.Compression = &websocket.CompressionOptions{Threshold: -1}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		var buf []byte
		for {
			typ, p, err := c.ReadInto(r.Context(), buf)
			if err != nil {
				return
			}
			buf = p
			if err := c.Write(r.Context(), typ, p); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	tg, err := ParseTarget("ws" + strings.TrimPrefix(srv.URL, "http") + "/")
	if err != nil {
		t.Fatal(err)
	}
	tg.Compress = compress
	return tg
}

func TestDriveEcho(t *testing.T) {
	for _, compress := range []bool{false, true} {
		tg := echoServer(t, compress)
		ctx := context.Background()
		cfg := EchoConfig{Conns: 3, InFlight: 4, Size: 1000, Count: 999, Batch: compress}
		var runners []Runner
		for range 2 {
			runners = append(runners, NewLocalRunner(ctx, func(ctx context.Context, ctl *Control) (*Result, error) {
				return RunEcho(ctx, tg, cfg, ctl)
			}))
		}
		var progress []Snapshot
		out, err := Drive(ctx, runners, Plan{Mode: "echo", OnProgress: func(_ time.Duration, s Snapshot) { progress = append(progress, s) }})
		if err != nil {
			t.Fatal(err)
		}
		r := out.Result
		if r.Sent != 2*999 || r.Received != 2*999 || r.Hist.Count() != 2*999 || r.Errors != 0 || r.Conns != 6 {
			t.Fatalf("compress=%v: %+v", compress, r)
		}
	}
}

func TestDriveEchoDuration(t *testing.T) {
	tg := echoServer(t, false)
	ctx := context.Background()
	r := NewLocalRunner(ctx, func(ctx context.Context, ctl *Control) (*Result, error) {
		return RunEcho(ctx, tg, EchoConfig{Conns: 2, InFlight: 2, Size: 10, Warmup: 50 * time.Millisecond}, ctl)
	})
	out, err := Drive(ctx, []Runner{r}, Plan{Mode: "echo", Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	res := out.Result
	if res.Sent == 0 || res.Sent != res.Received || res.Errors != 0 || res.Seconds <= 0 {
		t.Fatalf("%+v", res)
	}
}

func TestDriveConnect(t *testing.T) {
	tg := echoServer(t, false)
	ctx := context.Background()
	r := NewLocalRunner(ctx, func(ctx context.Context, ctl *Control) (*Result, error) {
		return RunConnect(ctx, tg, ConnectConfig{Conns: 20, Parallel: 4}, ctl)
	})
	out, err := Drive(ctx, []Runner{r}, Plan{Mode: "connect", Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Result.Connect
	if c.Opened != 20 || c.Failed != 0 || c.ClosedCleanly != 20 || c.Dropped != 0 || out.Result.Hist.Count() != 20 {
		t.Fatalf("%+v", c)
	}
}

func TestDriveInterrupt(t *testing.T) {
	tg := echoServer(t, false)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		plan Plan
		cfg  EchoConfig
	}{
		{"duration", Plan{Mode: "echo", Duration: time.Hour}, EchoConfig{Conns: 2, InFlight: 2, Size: 10}},
		{"count", Plan{Mode: "echo"}, EchoConfig{Conns: 2, InFlight: 2, Size: 10, Count: 1 << 40}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewLocalRunner(ctx, func(ctx context.Context, ctl *Control) (*Result, error) {
				return RunEcho(ctx, tg, tc.cfg, ctl)
			})
			interrupt := make(chan struct{})
			tc.plan.Interrupt = interrupt
			// Interrupt once echoes flow: the run stops with what it measured.
			go func() {
				<-r.Settled()
				for r.Progress().Messages < 100 {
					time.Sleep(time.Millisecond)
				}
				close(interrupt)
			}()
			out, err := Drive(ctx, []Runner{r}, tc.plan)
			if err != nil {
				t.Fatal(err)
			}
			res := out.Result
			if !out.Interrupted || res.Sent < 100 || res.Sent != res.Received || res.Hist.Count() != uint64(res.Received) || res.Errors != 0 {
				t.Fatalf("interrupted %v, %+v", out.Interrupted, res)
			}
		})
	}
}

// TestDriveEchoCompressDeclined: --compress against a server that does not
// negotiate permessage-deflate must not send it compressed frames (a
// protocol error, which the server answers with 1002), but report why no
// connection could be used.
func TestDriveEchoCompressDeclined(t *testing.T) {
	tg := echoServer(t, false)
	tg.Compress = true
	ctx := context.Background()
	r := NewLocalRunner(ctx, func(ctx context.Context, ctl *Control) (*Result, error) {
		return RunEcho(ctx, tg, EchoConfig{Conns: 2, InFlight: 1, Size: 10, Count: 10}, ctl)
	})
	out, err := Drive(ctx, []Runner{r}, Plan{Mode: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	res := out.Result
	if res.Sent != 0 || res.Errors != 2 || len(res.ErrorSamples) == 0 || !strings.Contains(res.ErrorSamples[0], "did not accept permessage-deflate") {
		t.Fatalf("%+v", res)
	}
}
