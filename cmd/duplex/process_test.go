package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/duplexws/duplex/internal/testenv"
)

// duplexBin is the duplex binary built once for this package's tests, which
// drive the commands as a user would: as processes.
var duplexBin string

func TestMain(m *testing.M) {
	bin, cleanup, err := testenv.BuildDuplex(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	duplexBin = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// lockedBuffer collects a process's output for a test to read while it runs.
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

// proc is a duplex process started by a test.
type proc struct {
	cmd    *exec.Cmd
	stdout *lockedBuffer
	stderr *lockedBuffer
	url    string
}

var wsURLPattern = regexp.MustCompile(`ws://[0-9.:\[\]]+/`)

// startDuplexServer runs "duplex ARGS" (a command that listens and prints
// its ws:// URL), waits for the URL and stops the process at cleanup.
func startDuplexServer(t *testing.T, args ...string) *proc {
	t.Helper()
	return startServerProcess(t, exec.Command(duplexBin, args...))
}

// startServerProcess starts cmd, which prints its ws:// URL on standard
// output once it listens, and stops it at cleanup.
func startServerProcess(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	args := cmd.Args
	p := &proc{cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}}
	pr, pw := io.Pipe()
	p.cmd.Stdout = pw
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		pw.Close()
		close(waited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-waited
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.stdout.Write([]byte(line + "\n"))
			if u := wsURLPattern.FindString(line); u != "" && !sent {
				found <- u
				sent = true
			}
		}
		_, _ = io.Copy(p.stdout, pr)
	}()
	select {
	case p.url = <-found:
	case <-waited:
		t.Fatalf("%s exited before listening: %s", strings.Join(args, " "), p.stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not print its URL: %s", strings.Join(args, " "), p.stderr.String())
	}
	return p
}

// result is how a duplex process run to its end went.
type result struct {
	stdout, stderr string
	code           int
}

// runDuplex runs "duplex ARGS" with stdin as its input and waits for it
// to exit (at most a minute).
func runDuplex(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runDuplexEnv(t, nil, stdin, args...)
}

// runDuplexEnv is runDuplex with variables added to the environment.
func runDuplexEnv(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, duplexBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running duplex %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("duplex %s did not finish within a minute; stderr: %s", strings.Join(args, " "), errb.String())
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// needPeer skips a test whose external peer is missing, except in CI
// (CI=true), where a missing peer is a failure.
func needPeer(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (test/install.sh installs it)", what)
	}
	t.Skipf("%s is missing; install it to run this test", what)
}

// checkOneLineError checks that a failed run explained itself in one line.
func checkOneLineError(t *testing.T, r result, wantCode int, wantText string) {
	t.Helper()
	if r.code != wantCode {
		t.Fatalf("exit status %d, want %d; stderr: %q", r.code, wantCode, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(r.stderr, wantText) {
		t.Fatalf("stderr should be one line containing %q, got %q", wantText, r.stderr)
	}
}

// checkUsageError checks that a run was refused as a usage error: exit
// status 2, the problem in one line, and where to find the flags.
func checkUsageError(t *testing.T, r result, wantText string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if r.code != 2 || len(lines) != 2 || !strings.Contains(lines[0], wantText) || !strings.Contains(lines[1], "--help") {
		t.Fatalf("want exit 2 and %q then a pointer to --help; got exit %d, stderr %q", wantText, r.code, r.stderr)
	}
}

// runDuplexOpenInput is runDuplex with an input that is not closed after
// stdin was written: the process sees no end of input, as with a user who
// has not typed Ctrl-D yet.
func runDuplexOpenInput(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, duplexBin, args...)
	cmd.Stdin = pr
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	if _, err := io.WriteString(pw, stdin); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("duplex %s did not finish within a minute; stderr: %s", strings.Join(args, " "), errb.String())
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}
