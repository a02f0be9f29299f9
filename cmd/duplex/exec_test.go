//go:build unix

// The programs these tests run are shell scripts, and they signal them.

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// execScript is the program the exec tests serve. It greets with its
// connection's details, answers each line with the query string and the
// line, and obeys a few commands.
const execScript = `#!/bin/sh
echo "hello id=$DUPLEX_CONNECTION_ID query=$QUERY_STRING pid=$$"
while IFS= read -r line; do
  case "$line" in
    "exit "*) exit ${line#exit } ;;
    env) echo "env $REQUEST_METHOD $PATH_INFO $REMOTE_ADDR x=$HTTP_X_TEST auth=${HTTP_AUTHORIZATION:-none} user=$REMOTE_USER gw=$GATEWAY_INTERFACE secret=${SECRET_VAR:-unset} path=${PATH:+set}" ;;
    long) head -c 300 /dev/zero | tr '\0' a; echo ;;
    stderr) echo "a line on stderr" >&2 ;;
    *) echo "$QUERY_STRING:$line" ;;
  esac
done
`

func startExec(t *testing.T, args ...string) (*proc, string) {
	t.Helper()
	script := filepath.Join(t.TempDir(), "serve.sh")
	if err := os.WriteFile(script, []byte(execScript), 0o755); err != nil {
		t.Fatal(err)
	}
	all := append([]string{"exec", "--addr", "127.0.0.1:0"}, args...)
	p := startDuplexServer(t, append(all, "--", "/bin/sh", script)...)
	return p, p.url
}

// execClient is a test's connection to duplex exec.
type execClient struct {
	t *testing.T
	c *websocket.Conn
}

func dialExec(t *testing.T, url string, h http.Header) *execClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Header: h, Proxy: websocket.NoProxy})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &execClient{t: t, c: c}
}

func (e *execClient) send(s string) {
	e.t.Helper()
	if err := e.c.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
		e.t.Fatalf("send %q: %v", s, err)
	}
}

// read returns the next message, or the error that ended the connection.
func (e *execClient) read() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, p, err := e.c.Read(ctx)
	return string(p), err
}

func (e *execClient) expect(want string) string {
	e.t.Helper()
	got, err := e.read()
	if err != nil {
		e.t.Fatalf("waiting for %q: %v", want, err)
	}
	if !strings.HasPrefix(got, want) {
		e.t.Fatalf("got %q, want %q...", got, want)
	}
	return got
}

// expectClose reads until the connection closes and checks the close: its
// code, and a reason containing reason.
func (e *execClient) expectClose(code websocket.StatusCode, reason string) {
	e.t.Helper()
	for {
		_, err := e.read()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code || !strings.Contains(ce.Reason, reason) {
			e.t.Fatalf("connection ended with %v, want close %v %q", err, code, reason)
		}
		return
	}
}

// pidOf reads the pid from the greeting.
func pidOf(t *testing.T, greeting string) int {
	t.Helper()
	i := strings.LastIndex(greeting, "pid=")
	pid, err := strconv.Atoi(greeting[i+4:])
	if i < 0 || err != nil {
		t.Fatalf("no pid in %q", greeting)
	}
	return pid
}

// waitGone waits until process pid no longer exists.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d still runs after its connection closed", pid)
}

func TestExecConcurrentClientsAreIsolated(t *testing.T) {
	_, url := startExec(t)
	const n = 6
	var wg sync.WaitGroup
	ids := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialExec(t, fmt.Sprintf("%s?client=%d", url, i), nil)
			greeting := c.expect("hello id=")
			if !strings.Contains(greeting, fmt.Sprintf("query=client=%d ", i)) {
				t.Errorf("client %d was greeted %q", i, greeting)
			}
			ids[i] = strings.Fields(greeting)[1]
			for j := range 20 {
				c.send(fmt.Sprintf("line %d", j))
				c.expect(fmt.Sprintf("client=%d:line %d", i, j))
			}
			if err := c.c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Errorf("close: %v", err)
			}
			waitGone(t, pidOf(t, greeting))
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("two connections got the same %s: %v", id, ids)
		}
		seen[id] = true
	}
}

func TestExecProgramExitClosesConnection(t *testing.T) {
	p, url := startExec(t)
	for _, tc := range []struct {
		status string
		code   websocket.StatusCode
		reason string
	}{
		{"0", websocket.StatusNormalClosure, "program exited"},
		{"7", websocket.StatusInternalError, "program exited with status 7"},
	} {
		c := dialExec(t, url, nil)
		c.expect("hello")
		c.send("before exit")
		c.expect(":before exit")
		c.send("exit " + tc.status)
		c.expectClose(tc.code, tc.reason)
	}
	// A program killed by a signal says so.
	c := dialExec(t, url, nil)
	pid := pidOf(t, c.expect("hello"))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.expectClose(websocket.StatusInternalError, "program killed by signal killed")

	// Standard error is passed through with the program's pid.
	c = dialExec(t, url, nil)
	pid = pidOf(t, c.expect("hello"))
	c.send("stderr")
	c.send("exit 0")
	c.expectClose(websocket.StatusNormalClosure, "program exited")
	want := fmt.Sprintf("exec[%d]: a line on stderr", pid)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr %q lacks %q", p.stderr.String(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExecClientCloseEndsProgram(t *testing.T) {
	// A program that ignores the end of its input and SIGTERM still ends.
	dir := t.TempDir()
	stubborn := filepath.Join(dir, "stubborn.sh")
	if err := os.WriteFile(stubborn, []byte("#!/bin/sh\ntrap '' TERM\necho \"pid=$$\"\nwhile :; do sleep 0.05; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := startDuplexServer(t, "exec", "--addr", "127.0.0.1:0", "--kill-after", "200ms", "--", "/bin/sh", stubborn)
	c := dialExec(t, srv.url, nil)
	pid := pidOf(t, c.expect("pid="))
	if err := c.c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)

	// The well-behaved script ends as soon as its input does.
	_, url := startExec(t)
	c = dialExec(t, url, nil)
	pid = pidOf(t, c.expect("hello"))
	c.c.CloseNow() // even without a close handshake
	waitGone(t, pid)
}

func TestExecEnvironment(t *testing.T) {
	t.Setenv("SECRET_VAR", "must not leak")
	_, url := startExec(t)
	// X_Test would become HTTP_X_TEST too: it is left out, so that it
	// cannot pass for the X-Test header.
	h := http.Header{"X-Test": {"42"}, "X_Test": {"spoofed"}, "Authorization": {"Basic YW5uOnB3"}}
	c := dialExec(t, url+"some/path?q=1", h)
	c.expect("hello id=1 query=q=1 ")
	c.send("env")
	got := c.expect("env GET /some/path 127.0.0.1 x=42 auth=none user=ann gw=CGI/1.1 secret=unset path=set")
	if strings.Contains(got, "must not leak") {
		t.Fatalf("the program saw a variable outside --passenv: %q", got)
	}
}

func TestExecLimits(t *testing.T) {
	_, url := startExec(t, "--max-procs", "2", "--max-message", "100")
	a := dialExec(t, url, nil)
	a.expect("hello")
	b := dialExec(t, url, nil)
	b.expect("hello")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Proxy: websocket.NoProxy})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a third connection over --max-procs 2: err %v, response %v", err, resp)
	}
	// duplex dial shows why.
	checkOneLineError(t, runDuplex(t, "", "dial", url), 1,
		`answered 503 Service Unavailable instead of switching to WebSocket: "too many connections: 2 programs already run, the most --max-procs allows"`)
	// A message over --max-message closes with 1009; its program ends and
	// makes room for another connection.
	a.send(strings.Repeat("x", 101))
	a.expectClose(websocket.StatusMessageTooBig, "limit 100")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Proxy: websocket.NoProxy})
		if err == nil {
			c.CloseNow()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no room after a connection ended: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// An output line over --max-message closes with 1009 as well.
	b.send("long")
	b.expectClose(websocket.StatusMessageTooBig, "program output line exceeds 100 bytes")
}

func TestExecIdleTimeoutAndOrigin(t *testing.T) {
	_, url := startExec(t, "--idle-timeout", "300ms", "--origin", "app.example")
	c := dialExec(t, url, nil)
	pid := pidOf(t, c.expect("hello"))
	c.expectClose(websocket.StatusGoingAway, "idle timeout")
	waitGone(t, pid)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Proxy: websocket.NoProxy,
		Header: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a page from another origin: err %v, response %v", err, resp)
	}
	ok := dialExec(t, url, http.Header{"Origin": {"https://app.example"}})
	ok.expect("hello")
}

func TestExecBinaryMode(t *testing.T) {
	srv := startDuplexServer(t, "exec", "--addr", "127.0.0.1:0", "--binary", "--", "cat")
	c := dialExec(t, srv.url, nil)
	msg := []byte{0, 1, 2, 0xff, '\n', 'x'}
	if err := c.c.Write(context.Background(), websocket.MessageBinary, msg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, p, err := c.c.Read(ctx)
	if err != nil || typ != websocket.MessageBinary || string(p) != string(msg) {
		t.Fatalf("got %v %q %v, want binary %q", typ, p, err, msg)
	}
}

func TestExecUsage(t *testing.T) {
	checkUsageError(t, runDuplex(t, "", "exec", "--addr", "127.0.0.1:0"), "give the program to run")
	checkUsageError(t, runDuplex(t, "", "exec", "--max-procs", "0", "--", "cat"), "--max-procs, --max-message and --kill-after must be positive")
	// A program that cannot run is reported at once, not at the first
	// connection.
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.sh")
	if err := os.WriteFile(plain, []byte("echo hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkOneLineError(t, runDuplex(t, "", "exec", "--addr", "127.0.0.1:0", "--", filepath.Join(dir, "missing.sh")), 1,
		"cannot run "+filepath.Join(dir, "missing.sh")+": no such file or directory")
	checkOneLineError(t, runDuplex(t, "", "exec", "--addr", "127.0.0.1:0", "--", plain), 1, "it is not executable (chmod +x")
	checkOneLineError(t, runDuplex(t, "", "exec", "--addr", "127.0.0.1:0", "no-such-program-here"), 1,
		"cannot run no-such-program-here: it is not an executable found in PATH")
	checkOneLineError(t, runDuplex(t, "", "exec", "--addr", "127.0.0.1:0", "--dir", dir, "--", "./missing.sh"), 1,
		"cannot run ./missing.sh: no such file or directory")

	// An address in use names the flag to change.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	checkOneLineError(t, runDuplex(t, "", "exec", "--addr", ln.Addr().String(), "cat"), 1,
		"address "+ln.Addr().String()+" is already in use; choose another with --addr HOST:PORT")

	// Without "--", the flags end at the program: the rest are its own.
	srv := startDuplexServer(t, "exec", "--addr", "127.0.0.1:0", "sh", "-c", `echo "args: $0 $1"`, "first", "--second")
	if !strings.Contains(srv.stdout.String(), `running sh -c 'echo "args: $0 $1"' first --second`) {
		t.Fatalf("the listening line shows %q", srv.stdout.String())
	}
	c := dialExec(t, srv.url, nil)
	c.expect("args: first --second")
	c.expectClose(websocket.StatusNormalClosure, "program exited")
}
