package e2e

import (
	"bufio"
	"context"
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

// duplexBin is the duplex binary, built once for the package.
var duplexBin string

func TestMain(m *testing.M) {
	bin, cleanup, err := testenv.BuildDuplex("../../cmd/duplex")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	duplexBin = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// serverProc is a running "duplex serve".
type serverProc struct {
	cmd    *exec.Cmd
	addr   string // host:port it listens on
	mu     sync.Mutex
	out    strings.Builder
	waited chan struct{}
}

var listenRE = regexp.MustCompile(`listening on ([0-9.]+:[0-9]+)`)

// startDuplex runs "duplex serve" with args and waits until it listens.
func startDuplex(t *testing.T, args ...string) *serverProc {
	t.Helper()
	p := &serverProc{cmd: exec.Command(duplexBin, append([]string{"serve"}, args...)...), waited: make(chan struct{})}
	pr, pw := io.Pipe()
	p.cmd.Stdout = pw
	p.cmd.Stderr = pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		pw.Close()
		close(p.waited)
	}()
	t.Cleanup(func() { p.stop(t) })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case p.addr = <-found:
	case <-p.waited:
		t.Fatalf("duplex serve exited before listening:\n%s", p.output())
	case <-time.After(20 * time.Second):
		t.Fatalf("duplex serve did not start listening:\n%s", p.output())
	}
	return p
}

func (p *serverProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// stop sends SIGTERM (a graceful drain) and waits for the process.
func (p *serverProc) stop(t *testing.T) {
	select {
	case <-p.waited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.waited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.waited
		t.Errorf("duplex serve did not stop within 20 s of SIGTERM:\n%s", p.output())
	}
}

// chromiumPath finds Debian's chromium; without it the test is skipped,
// except in CI where it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is missing (test/install.sh installs it: apt-get install -y chromium)")
	}
	t.Skip("chromium is missing; apt-get install -y chromium to run the end-to-end tests")
	return ""
}

// startBrowser starts headless Chromium with a fresh profile.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	return testenv.StartChromium(t, chromiumPath(t))
}
