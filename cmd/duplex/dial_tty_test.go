package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmuxSession runs a command in a detached tmux session on its own server
// socket, so that it has a real terminal that the test types into and reads.
type tmuxSession struct {
	t    *testing.T
	sock string
}

func newTmuxSession(t *testing.T, command string) *tmuxSession {
	t.Helper()
	_, err := exec.LookPath("tmux")
	needPeer(t, err == nil, "tmux (apt-get install tmux)")
	s := &tmuxSession{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	// The shell stays after the command so that its exit status can be read.
	s.run("new-session", "-d", "-s", "dial", "-x", "110", "-y", "30", command+"; echo EXIT=$?; sleep 60")
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", s.sock, "kill-server").Run() })
	return s
}

func (s *tmuxSession) run(args ...string) string {
	s.t.Helper()
	cmd := exec.Command("tmux", append([]string{"-S", s.sock}, args...)...)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// typeLine types text and Enter.
func (s *tmuxSession) typeLine(text string) {
	s.t.Helper()
	s.run("send-keys", "-t", "dial", "-l", text)
	s.run("send-keys", "-t", "dial", "Enter")
}

// pressKey sends one key, in tmux's names (C-d, Up, ...).
func (s *tmuxSession) pressKey(key string) {
	s.t.Helper()
	s.run("send-keys", "-t", "dial", key)
}

// waitFor waits until the screen shows every one of texts, and returns it.
func (s *tmuxSession) waitFor(texts ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var screen string
	for time.Now().Before(deadline) {
		screen = s.run("capture-pane", "-p", "-t", "dial")
		all := true
		for _, x := range texts {
			all = all && strings.Contains(screen, x)
		}
		if all {
			return screen
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("the screen never showed %q; it shows:\n%s", texts, screen)
	return ""
}

func TestDialInteractiveTerminal(t *testing.T) {
	echo := startDuplexServer(t, "echo", "--addr", "127.0.0.1:0", "--compress")
	s := newTmuxSession(t, fmt.Sprintf("%s dial %s", duplexBin, echo.url))
	s.waitFor("* connected to "+echo.url, "permessage-deflate", "/help for commands")

	s.typeLine("hello terminal")
	s.waitFor("> hello terminal", "< hello terminal")

	s.typeLine("/ping")
	s.waitFor("* ping sent", "* pong received after")

	s.typeLine("/binary 00ff10")
	s.waitFor("< [binary, 3 bytes] 00ff10")

	s.typeLine("//not a command")
	s.waitFor("< /not a command")

	s.typeLine("/frobnicate")
	s.waitFor("unknown command /frobnicate; /help lists them")

	// A close code that may not be sent, or a reason too long for a close
	// frame, is refused and the session goes on.
	s.typeLine("/close 1005")
	s.waitFor("* close code 1005 may not be sent")
	s.typeLine("/close 4000 " + strings.Repeat("r", 124))
	s.waitFor("* the close reason is 124 bytes; at most 123 fit")
	s.typeLine("still here")
	s.waitFor("< still here")

	s.typeLine("/close 4000 bye now")
	screen := s.waitFor(`* close sent: 4000 "bye now"`, "* connection closed", "EXIT=0")
	if strings.Count(screen, "< hello terminal") != 1 {
		t.Fatalf("the echo should be shown once:\n%s", screen)
	}
}

func TestDialInteractiveServerClose(t *testing.T) {
	srv := closingServer(t)
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/?code=4500"
	s := newTmuxSession(t, fmt.Sprintf("%s dial %s", duplexBin, ws))
	s.waitFor("* connected to")
	s.typeLine("anything")
	s.waitFor(`* the server closed the connection with 4500: "told to"`, "EXIT=3")
}

func TestDialInteractiveCtrlDAndHistory(t *testing.T) {
	echo := startDuplexServer(t, "echo", "--addr", "127.0.0.1:0")
	s := newTmuxSession(t, fmt.Sprintf("%s dial %s", duplexBin, echo.url))
	s.waitFor("* connected to " + echo.url)
	s.typeLine("first line")
	s.waitFor("< first line")
	// Up recalls the last line; Enter sends it again.
	s.pressKey("Up")
	s.pressKey("Enter")
	s.waitFor("> first line\n< first line\n> first line\n< first line")
	s.pressKey("C-d")
	s.waitFor("* close sent: 1000 (normal closure)", "* close received: 1000", "* connection closed", "EXIT=0")
}
