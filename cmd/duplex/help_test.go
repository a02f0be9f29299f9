package main

import (
	"regexp"
	"strings"
	"testing"
)

// oneDashFlag matches a long flag listed with one dash.
var oneDashFlag = regexp.MustCompile(`(?m)^  -[a-z][a-z-]+\b`)

func TestHelpAndVersion(t *testing.T) {
	r := runDuplex(t, "", "--help")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	for _, name := range []string{"bench", "dial", "echo", "exec", "version"} {
		if !regexp.MustCompile(`(?m)^  ` + name + ` +\S`).MatchString(r.stdout) {
			t.Errorf("duplex --help does not list %s with a description:\n%s", name, r.stdout)
		}
	}
	for _, tc := range []struct{ cmd, want string }{
		{"dial", "/close [CODE [REASON]]"},
		{"bench", "--server-pid"},
		{"exec", "DUPLEX_CONNECTION_ID"},
	} {
		// Every spelling shows the command's description, flags and
		// examples on standard output (so that "| less" works).
		for _, args := range [][]string{{"help", tc.cmd}, {tc.cmd, "--help"}, {tc.cmd, "-h"}} {
			r := runDuplex(t, "", args...)
			out := r.stdout
			if r.code != 0 || r.stderr != "" || !strings.Contains(out, "Usage: duplex "+tc.cmd) || !strings.Contains(out, tc.want) ||
				!strings.Contains(out, "Examples:") {
				t.Errorf("duplex %s: exit %d, stdout:\n%s\nstderr: %q", strings.Join(args, " "), r.code, out, r.stderr)
			}
			// Flags are shown as they are typed.
			if !strings.Contains(out, "\n  --") || oneDashFlag.MatchString(out) {
				t.Errorf("duplex %s does not list its flags with two dashes:\n%s", strings.Join(args, " "), out)
			}
		}
		// A bad flag is one line and a pointer to the help, not the help.
		checkUsageError(t, runDuplex(t, "", tc.cmd, "--no-such-flag"), "unknown flag --no-such-flag")
	}
	version := regexp.MustCompile(`^duplex \d+\.\d+\.\d+.* go1\.\d+.* \w+/\w+\n$`)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if r := runDuplex(t, "", args...); r.code != 0 || !version.MatchString(r.stdout) {
			t.Errorf("duplex %s: exit %d, %q", args[0], r.code, r.stdout)
		}
	}
	for _, args := range [][]string{{"frobnicate"}, {"help", "frobnicate"}} {
		r = runDuplex(t, "", args...)
		if r.code != 2 || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
			t.Errorf("duplex %s: exit %d, %q", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}
