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

// slowEchoServer echoes each message after delay, one at a time.
func slowEchoServer(t *testing.T, delay time.Duration) *Target {
	t.Helper()
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
			time.Sleep(delay)
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
	return tg
}

func runEchoOnce(t *testing.T, tg *Target, cfg EchoConfig, plan Plan) *Result {
	t.Helper()
	ctx := context.Background()
	r := NewLocalRunner(ctx, func(ctx context.Context, ctl *Control) (*Result, error) {
		return RunEcho(ctx, tg, cfg, ctl)
	})
	plan.Mode = "echo"
	out, err := Drive(ctx, []Runner{r}, plan)
	if err != nil {
		t.Fatal(err)
	}
	return out.Result
}

// TestEchoOpenLoopPaces: with a rate, every message is sent and echoed,
// and none is sent before it falls due: the last of 200 at 2 000 a second
// is due 99.5 ms after the start, so the run cannot end sooner.
func TestEchoOpenLoopPaces(t *testing.T) {
	tg := echoServer(t, false)
	res := runEchoOnce(t, tg, EchoConfig{Conns: 4, InFlight: 2, Size: 10, Count: 200, Rate: 2000}, Plan{})
	if res.Sent != 200 || res.Received != 200 || res.Hist.Count() != 200 || res.Errors != 0 {
		t.Fatalf("%+v", res)
	}
	if min := 199.0 / 2000; res.Seconds < min {
		t.Fatalf("200 messages at 2 000/s took %.4fs, less than the %.4fs until the last fell due", res.Seconds, min)
	}
}

// TestEchoOpenLoopTimesFromDue: against a server that takes 20 ms per
// echo, messages due every millisecond queue behind one another (one in
// flight), and their latency counts that wait. The tenth is due at 9 ms
// and cannot be echoed before 200 ms, so the largest latency is at least
// 191 ms; a closed loop would report about 20 ms for every message.
func TestEchoOpenLoopTimesFromDue(t *testing.T) {
	tg := slowEchoServer(t, 20*time.Millisecond)
	res := runEchoOnce(t, tg, EchoConfig{Conns: 1, InFlight: 1, Size: 10, Count: 10, Rate: 1000}, Plan{})
	if res.Received != 10 || res.Errors != 0 {
		t.Fatalf("%+v", res)
	}
	if max := res.Hist.Max(); max < 191*time.Millisecond {
		t.Fatalf("largest latency %v: the wait behind the slow echoes was not counted", max)
	}
	if p50 := res.Hist.Quantile(0.5); p50 < 90*time.Millisecond {
		t.Fatalf("median latency %v: the wait behind the slow echoes was not counted", p50)
	}
}

// TestEchoOpenLoopStops: an open loop with a duration ends at Stop, even
// with messages due only once a second per connection.
func TestEchoOpenLoopStops(t *testing.T) {
	tg := echoServer(t, false)
	res := runEchoOnce(t, tg, EchoConfig{Conns: 4, InFlight: 1, Size: 10, Rate: 4}, Plan{Duration: 50 * time.Millisecond})
	if res.Sent != res.Received || res.Errors != 0 || res.Conns != 4 {
		t.Fatalf("%+v", res)
	}
}

func TestEchoConfigCheckRate(t *testing.T) {
	for _, c := range []EchoConfig{
		{Conns: 1, InFlight: 1, Rate: -1},
		{Conns: 1, InFlight: 2, Rate: 10, Batch: true},
	} {
		if err := c.Check(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if err := (&EchoConfig{Conns: 1, InFlight: 4, Size: 10, Rate: 10}).Check(); err != nil {
		t.Errorf("a valid open loop: %v", err)
	}
}
