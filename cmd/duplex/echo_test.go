package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startEcho runs "duplex echo" in-process and returns its URL.
func startEcho(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int)
	go func() { done <- run(ctx, append([]string{"echo", "--addr", "127.0.0.1:0"}, args...), out, out) }()
	t.Cleanup(func() { cancel(); <-done })
	re := regexp.MustCompile(`ws://[0-9.:]+/`)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if u := re.FindString(out.String()); u != "" {
			return u
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("echo did not start: %s", out.String())
	return ""
}

func TestEchoCommand(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			var args []string
			opts := &websocket.DialOptions{ReadLimit: 64 << 20}
			if compress {
				args = []string{"--compress"}
				opts.Compression = &websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover}
			}
			u := startEcho(t, args...)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, u, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if compress != strings.Contains(c.Extensions(), "permessage-deflate") {
				t.Fatalf("extensions %q with --compress=%v", c.Extensions(), compress)
			}
			// 20 MiB: larger than the 16 MiB conformance suites send.
			for _, n := range []int{0, 10, 70000, 20 << 20} {
				p := bytes.Repeat([]byte("z"), n)
				if err := c.Write(ctx, websocket.MessageBinary, p); err != nil {
					t.Fatal(err)
				}
				typ, got, err := c.Read(ctx)
				if err != nil || typ != websocket.MessageBinary || !bytes.Equal(got, p) {
					t.Fatalf("echo of %d bytes: %v %d bytes %v", n, typ, len(got), err)
				}
			}
			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEchoAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out bytes.Buffer
	code := run(context.Background(), []string{"echo", "--addr", ln.Addr().String()}, &out, &out)
	msg := strings.TrimSpace(out.String())
	if code == 0 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "--addr") || !strings.Contains(msg, "in use") {
		t.Fatalf("exit %d, output %q: want one line naming --addr", code, msg)
	}
}

// fakeFuzzingServer speaks the fuzzing server protocol of the Autobahn
// TestSuite: it counts cases, sends each case's messages and checks the
// echoes, and records the report update.
type fakeFuzzingServer struct {
	mu      sync.Mutex
	echoed  map[string]int
	updated string
	refuse  string // a case number whose handshake is refused
}

func (f *fakeFuzzingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.refuse != "" && r.URL.Path == "/runCase" && r.URL.Query().Get("case") == f.refuse {
		http.Error(w, "no such case", http.StatusNotFound)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Compression: &websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover}})
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := r.Context()
	switch r.URL.Path {
	case "/getCaseCount":
		c.Write(ctx, websocket.MessageText, []byte("3"))
		c.Close(websocket.StatusNormalClosure, "")
	case "/runCase":
		key := r.URL.Query().Get("case") + "/" + r.URL.Query().Get("agent")
		msgs := [][]byte{[]byte("text"), bytes.Repeat([]byte{0xff}, 3000)}
		for i, m := range msgs {
			typ := websocket.MessageText
			if i == 1 {
				typ = websocket.MessageBinary
			}
			c.Write(ctx, typ, m)
			gt, got, err := c.Read(ctx)
			if err != nil || gt != typ || !bytes.Equal(got, m) {
				return
			}
		}
		f.mu.Lock()
		f.echoed[key] = len(msgs)
		f.mu.Unlock()
		c.Close(websocket.StatusNormalClosure, "")
	case "/updateReports":
		f.mu.Lock()
		f.updated = r.URL.Query().Get("agent")
		f.mu.Unlock()
		c.Close(websocket.StatusNormalClosure, "")
	}
}

func TestEchoClientDrivesFuzzingServer(t *testing.T) {
	f := &fakeFuzzingServer{echoed: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := run(ctx, []string{"echo-client", "--url", "ws" + strings.TrimPrefix(srv.URL, "http"), "--agent", "duplex-test", "--compress"}, &out, &out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 1; i <= 3; i++ {
		if f.echoed[fmt.Sprintf("%d/duplex-test", i)] != 2 {
			t.Fatalf("case %d not echoed: %v", i, f.echoed)
		}
	}
	if f.updated != "duplex-test" {
		t.Fatalf("reports not updated for the agent: %q", f.updated)
	}
}

// A case whose handshake fails is reported, the other cases and the report
// update still run, and the exit status says that not every case ran.
func TestEchoClientReportsCasesThatFailed(t *testing.T) {
	f := &fakeFuzzingServer{echoed: map[string]int{}, refuse: "2"}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := run(ctx, []string{"echo-client", "--url", "ws" + strings.TrimPrefix(srv.URL, "http"), "--agent", "a"}, &out, &out)
	if code != 1 || !strings.Contains(out.String(), "case 2:") || !strings.Contains(out.String(), "1 of 3 cases could not connect") {
		t.Fatalf("exit %d, output:\n%s\nwant exit 1 naming case 2", code, out.String())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.echoed["1/a"] != 2 || f.echoed["3/a"] != 2 || f.updated != "a" {
		t.Fatalf("echoed %v, reports updated for %q: the other cases and the update must still run", f.echoed, f.updated)
	}
}
