package conformance_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The suite runs the real command line, built once per test binary run, so
// that the exact commands reviewers point the Autobahn TestSuite at are the
// ones tested. Under -race the command is built with -race too, and a data
// race it reports fails the test that ran it.

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// duplexBinary builds cmd/duplex on first use and returns its path. The
// environment variable DUPLEX_BIN names a prebuilt binary to test instead.
func duplexBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("DUPLEX_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "duplex-conformance-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(buildDir, "duplex")
		args := []string{"build", "-o", buildPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/duplex")
		cmd := exec.Command(goTool(), args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building cmd/duplex: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// moduleRoot finds the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; run the suite from inside the module")
		}
		dir = parent
	}
}

// goTool is the go command: the one "go env GOROOT" of the toolchain on
// PATH names, as the go command that runs the tests puts itself first there.
func goTool() string {
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// process is a running duplex command.
type process struct {
	cmd      *exec.Cmd
	stdout   *lockedBuffer
	stderr   *lockedBuffer
	lines    chan string // stdout lines, as they come
	exited   chan struct{}
	waitErr  error
	copyDone chan struct{}
}

// lockedBuffer is a bytes.Buffer safe for a writer goroutine and readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDuplex runs the duplex binary with args. At cleanup it is
// interrupted (if still running) and its stderr is checked for data races
// and panics.
func startDuplex(t *testing.T, args ...string) *process {
	t.Helper()
	return startDuplexEnv(t, nil, args...)
}

// startDuplexEnv is startDuplex with env added to the process's
// environment.
func startDuplexEnv(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	bin := duplexBinary(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "GORACE=halt_on_error=0"), env...)
	dieWithParent(cmd)
	p := &process{cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{},
		lines: make(chan string, 64), exited: make(chan struct{}), copyDone: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting duplex %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		defer close(p.copyDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.stdout.Write([]byte(line + "\n"))
			select {
			case p.lines <- line:
			default:
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		<-p.copyDone
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop(t)
		p.checkStderr(t)
	})
	return p
}

// stop interrupts the process and waits for it, killing it if it does not
// exit in time.
func (p *process) stop(t testing.TB) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("duplex %v did not exit within 10s of SIGINT; killing it", p.cmd.Args[1:])
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// checkStderr fails the test when the process reported a data race or
// panicked.
func (p *process) checkStderr(t testing.TB) {
	s := p.stderr.String()
	for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
		if strings.Contains(s, bad) {
			t.Errorf("duplex %v reported %q; its stderr:\n%s", p.cmd.Args[1:], bad, s)
			return
		}
	}
}

// firstLine waits for a stdout line containing substr.
func (p *process) firstLine(t testing.TB, substr string) string {
	t.Helper()
	timeout := time.After(guardTimeout)
	for {
		select {
		case l := <-p.lines:
			if strings.Contains(l, substr) {
				return l
			}
		case <-p.exited:
			t.Fatalf("duplex %v exited (%v) before printing %q; stderr:\n%s", p.cmd.Args[1:], p.waitErr, substr, p.stderr.String())
		case <-timeout:
			t.Fatalf("duplex %v did not print %q within %v", p.cmd.Args[1:], substr, guardTimeout)
		}
	}
}
