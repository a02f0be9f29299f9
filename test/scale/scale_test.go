//go:build linux

// The limits and memory figures come from Linux (RLIMIT_NOFILE as its
// syscall package spells it, /proc/self/status).

// Package scale holds a test at the most connections one process may hold:
// the server runs in the test process, the clients in child processes, so
// that only the server's descriptors count against its limit.
package scale

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// perChild is how many connections one client process opens; each child's
// own descriptor limit must hold them.
const perChild = 8000

func TestMain(m *testing.M) {
	if os.Getenv("DUPLEX_SCALE_CHILD") == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// raiseLimit sets the soft descriptor limit to the hard one and returns it.
func raiseLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Max, nil
}

// runChild opens DUPLEX_SCALE_N connections from DUPLEX_SCALE_SRC, sends one
// message on each and checks its echo, prints "ready", and holds them until
// its standard input closes. With DUPLEX_SCALE_READ=1 a goroutine per
// connection keeps reading, so that the server's pings are answered.
func runChild() int {
	if _, err := raiseLimit(); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	n, _ := strconv.Atoi(os.Getenv("DUPLEX_SCALE_N"))
	url := os.Getenv("DUPLEX_SCALE_URL")
	src := &net.TCPAddr{IP: net.ParseIP(os.Getenv("DUPLEX_SCALE_SRC"))}
	d := &net.Dialer{LocalAddr: src}
	opts := &websocket.DialOptions{NetDialContext: d.DialContext, Proxy: websocket.NoProxy}
	ctx := context.Background()
	conns := make([]*websocket.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, _, err := websocket.Dial(ctx, url, opts)
		if err != nil {
			fmt.Printf("error: dial %d: %v\n", i, err)
			return 1
		}
		msg := []byte("hello " + strconv.Itoa(i))
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			fmt.Printf("error: write %d: %v\n", i, err)
			return 1
		}
		_, p, err := c.Read(ctx)
		if err != nil || string(p) != string(msg) {
			fmt.Printf("error: echo %d: %q %v\n", i, p, err)
			return 1
		}
		conns = append(conns, c)
		if os.Getenv("DUPLEX_SCALE_READ") == "1" {
			go func() {
				for {
					if _, _, err := c.Read(ctx); err != nil {
						return
					}
				}
			}()
		}
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.CloseNow()
	}
	return 0
}

// echoHandler echoes in event mode and counts connections and messages.
type echoHandler struct {
	msgs, closed atomic.Int64
}

func (h *echoHandler) OnMessage(c *websocket.Conn, typ websocket.MessageType, p []byte) {
	h.msgs.Add(1)
	_ = c.Write(context.Background(), typ, p)
}

func (h *echoHandler) OnClose(*websocket.Conn, error) { h.closed.Add(1) }

func rssKiB(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// holdMax runs the children against url until every one of n connections
// echoed once, then reports the RSS growth per connection. env is added to
// the children's environment.
func holdMax(t *testing.T, url string, n int, served func() int64, env ...string) {
	t.Helper()
	runtime.GC()
	before := rssKiB(t)
	start := time.Now()
	var stdins []io.WriteCloser
	var cmds []*exec.Cmd
	t.Cleanup(func() {
		for _, w := range stdins {
			w.Close()
		}
		for _, c := range cmds {
			c.Wait()
		}
	})
	for i, left := 0, n; left > 0; i++ {
		k := min(left, perChild)
		left -= k
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "DUPLEX_SCALE_CHILD=1", "DUPLEX_SCALE_N="+strconv.Itoa(k),
			"DUPLEX_SCALE_URL="+url, fmt.Sprintf("DUPLEX_SCALE_SRC=127.0.0.%d", 2+i))
		cmd.Env = append(cmd.Env, env...)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stdins = append(stdins, stdin)
		cmds = append(cmds, cmd)
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			t.Fatalf("client process %d: %q %v", i, line, err)
		}
	}
	setup := time.Since(start)
	if got := served(); got != int64(n) {
		t.Fatalf("server echoed %d messages, want one on each of %d connections", got, n)
	}
	runtime.GC()
	after := rssKiB(t)
	t.Logf("%d connections held and echoed once each in %v; server RSS %d MiB → %d MiB, %.2f KiB per connection",
		n, setup.Round(time.Millisecond), before>>10, after>>10, float64(after-before)/float64(n))
}

// ownProcess runs the calling test again in a fresh process of its own, so
// that its RSS figure starts from a clean heap, and reports whether this is
// that process (which then does the work).
func ownProcess(t *testing.T) bool {
	t.Helper()
	if os.Getenv("DUPLEX_SCALE_INNER") == "1" {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "DUPLEX_SCALE_INNER=1")
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "connections held") || strings.Contains(line, "heartbeats:") || strings.Contains(line, "error") || strings.Contains(line, "FAIL") {
			t.Log(strings.TrimSpace(line))
		}
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the test process failed: %v\n%s", err, out)
	}
	return false
}

// connsFor is how many connections fit under the hard descriptor limit,
// with room for the test's own descriptors.
func connsFor(t *testing.T) int {
	hard, err := raiseLimit()
	if err != nil {
		t.Fatal(err)
	}
	n := int(hard) - 200
	if hard > 1<<20 {
		n = 1 << 17 // an unlimited machine: hold a number that still ends quickly
	}
	if n < 1000 {
		t.Fatalf("descriptor hard limit %d is too low for this test", hard)
	}
	return n
}

func startServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "ws://" + ln.Addr().String() + "/"
}

// TestMaxConnectionsEventMode holds the most connections the descriptor
// limit allows in event mode, the mode recommended for many connections.
func TestMaxConnectionsEventMode(t *testing.T) {
	if !ownProcess(t) {
		return
	}
	n := connsFor(t)
	url, h := startEventServer(t, nil)
	holdMax(t, url, n, h.msgs.Load)
}

// startEventServer serves echo connections accepted with opts on one event
// loop and returns the server's URL and the handler counting messages.
func startEventServer(t *testing.T, opts *websocket.AcceptOptions) (string, *echoHandler) {
	t.Helper()
	loop, err := websocket.NewEventLoop(websocket.EventLoopOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loop.Close() })
	h := &echoHandler{}
	url := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		if err := loop.Serve(c, h); err != nil {
			t.Errorf("serve: %v", err)
			c.CloseNow()
		}
	}))
	return url, h
}
