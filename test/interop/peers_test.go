package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// inCI is true under CI=true, where every peer must be installed.
var inCI = os.Getenv("CI") == "true"

// peerTimeout bounds every wait for a peer: generous, since the machine is
// shared, but finite so that a stuck peer fails the test instead of hanging.
const peerTimeout = 90 * time.Second

// systemPython is Debian's interpreter: the python3 first on PATH may be a
// separate build that cannot import Debian's python3-* modules.
const systemPython = "/usr/bin/python3"

// need skips the test, or fails it in CI, when a peer is missing.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	msg := what + " is not installed; run test/install.sh"
	if inCI {
		t.Fatal("CI=true and " + msg)
	}
	t.Skip(msg)
}

var (
	probeMu    sync.Mutex
	probeCache = map[string]bool{}
)

// probe runs a command once per test binary and caches whether it succeeded.
func probe(name string, args ...string) bool {
	key := name + " " + strings.Join(args, " ")
	probeMu.Lock()
	defer probeMu.Unlock()
	ok, seen := probeCache[key]
	if !seen {
		ok = exec.Command(name, args...).Run() == nil
		probeCache[key] = ok
	}
	return ok
}

// needPythonModule requires Debian's Python with module importable.
func needPythonModule(t *testing.T, module string) {
	t.Helper()
	need(t, probe(systemPython, "-c", "import "+module), "Python module "+module+" for "+systemPython)
}

// needNodeWS requires node and the ws package pinned in node/package-lock.json.
func needNodeWS(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("node")
	need(t, err == nil, "node")
	_, err = os.Stat(filepath.Join("node", "node_modules", "ws", "package.json"))
	need(t, err == nil, "the npm package ws in test/interop/node")
}

// needBinary requires an executable on PATH and returns its path.
func needBinary(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		// Debian puts daemons in /usr/sbin, which may be off PATH.
		if _, serr := os.Stat("/usr/sbin/" + name); serr == nil {
			return "/usr/sbin/" + name
		}
	}
	need(t, err == nil, name)
	return p
}

// peerEvent is one JSON line printed by a peer script.
type peerEvent struct {
	Event        string `json:"event"`
	Port         int    `json:"port"`
	Name         string `json:"name"`
	Path         string `json:"path"`
	Code         int    `json:"code"`
	Reason       string `json:"reason"`
	Extensions   string `json:"extensions"`
	Error        string `json:"error"`
	EchoedCode   int    `json:"echoed_code"`
	EchoedReason string `json:"echoed_reason"`
	InUse        string `json:"in_use"` // autobahn: extensions in use
}

// peer is a running subprocess whose stdout carries JSON events.
type peer struct {
	name   string
	cmd    *exec.Cmd
	events chan peerEvent // closed when stdout ends
	stderr *syncBuffer
	exited chan struct{} // closed when the process has been waited for
	err    error         // the Wait error, valid after exited
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine of exec.Cmd
// and the test reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startPeer starts name with args in its own process group. The process
// group is killed when the test ends; the peer's stderr is logged if the
// test failed.
func startPeer(t *testing.T, name string, args ...string) *peer {
	t.Helper()
	p := &peer{
		name:   filepath.Base(name) + " " + strings.Join(args, " "),
		events: make(chan peerEvent, 256),
		stderr: &syncBuffer{},
		exited: make(chan struct{}),
	}
	p.cmd = exec.Command(name, args...)
	p.cmd.SysProcAttr = peerProcAttr()
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	scanDone := make(chan struct{})
	// The kernel sends Pdeathsig when the thread that started the process
	// exits (go.dev/issue/27505): start and wait from one locked thread.
	started := make(chan error, 1)
	waited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := p.cmd.Start()
		started <- err
		if err == nil {
			waited <- waitAfterStdout(p.cmd, scanDone)
		}
	}()
	if err := <-started; err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		defer close(scanDone)
		defer close(p.events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var ev peerEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Event == "" {
				// Not an event: keep it for the log.
				_, _ = fmt.Fprintf(p.stderr, "stdout: %s\n", sc.Text())
				continue
			}
			p.events <- ev
		}
	}()
	go func() {
		p.err = <-waited
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			killPeer(p.cmd.Process)
			go func() { // unblock the scanner if nobody reads events
				for range p.events {
				}
			}()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", p.name, p.stderr.String())
		}
	})
	return p
}

// waitAfterStdout waits for cmd once its stdout has been read to the end:
// Wait closes the pipe, which would lose what was not read yet.
func waitAfterStdout(cmd *exec.Cmd, stdoutDone <-chan struct{}) error {
	<-stdoutDone
	return cmd.Wait()
}

// next returns the next event, failing the test when the peer reports a
// failure, exits, or says nothing within peerTimeout.
func (p *peer) next(t *testing.T) peerEvent {
	t.Helper()
	select {
	case ev, ok := <-p.events:
		if !ok {
			<-p.exited
			t.Fatalf("%s exited (%v) before the expected event; stderr:\n%s", p.name, p.err, p.stderr.String())
		}
		if ev.Event == "fail" {
			t.Fatalf("%s reports a failure: %s", p.name, ev.Error)
		}
		return ev
	case <-time.After(peerTimeout):
		t.Fatalf("%s said nothing for %v; stderr:\n%s", p.name, peerTimeout, p.stderr.String())
	}
	panic("unreachable")
}

// waitFor skips events until one named event arrives and returns it.
func (p *peer) waitFor(t *testing.T, event string) peerEvent {
	t.Helper()
	for {
		if ev := p.next(t); ev.Event == event {
			return ev
		}
	}
}

// finish waits for a peer that runs to completion (a client script),
// requires exit status 0 and a final "done" event, and returns its events.
func (p *peer) finish(t *testing.T) []peerEvent {
	t.Helper()
	var evs []peerEvent
	timeout := time.After(peerTimeout)
	for {
		select {
		case ev, ok := <-p.events:
			if !ok {
				<-p.exited
				for _, ev := range evs {
					if ev.Event == "fail" {
						t.Fatalf("%s reports a failure: %s", p.name, ev.Error)
					}
				}
				if p.err != nil {
					t.Fatalf("%s: %v; stderr:\n%s", p.name, p.err, p.stderr.String())
				}
				if len(evs) == 0 || evs[len(evs)-1].Event != "done" {
					t.Fatalf("%s exited without reporting done; events %+v", p.name, evs)
				}
				return evs
			}
			evs = append(evs, ev)
		case <-timeout:
			t.Fatalf("%s did not finish within %v; events so far %+v", p.name, peerTimeout, evs)
		}
	}
}

// checks returns the names of the "check" events, in order.
func checks(evs []peerEvent) []string {
	var names []string
	for _, ev := range evs {
		if ev.Event == "check" {
			names = append(names, ev.Name)
		}
	}
	return names
}

// findEvent returns the first event named event, failing the test if none.
func findEvent(t *testing.T, evs []peerEvent, event string) peerEvent {
	t.Helper()
	for _, ev := range evs {
		if ev.Event == event {
			return ev
		}
	}
	t.Fatalf("no %q event among %+v", event, evs)
	return peerEvent{}
}

// testContext is a context bounded by peerTimeout and the test's lifetime.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	t.Cleanup(cancel)
	return ctx
}
