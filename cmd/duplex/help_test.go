package main

import (
	"regexp"
	"strings"
	"testing"
)

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
		// Both spellings show the command's description, flags and examples.
		for _, args := range [][]string{{"help", tc.cmd}, {tc.cmd, "--help"}} {
			r := runDuplex(t, "", args...)
			out := r.stdout + r.stderr
			if r.code != 0 || !strings.Contains(out, "Usage: duplex "+tc.cmd) || !strings.Contains(out, tc.want) ||
				!strings.Contains(out, "Examples:") {
				t.Errorf("duplex %s: exit %d, output:\n%s", strings.Join(args, " "), r.code, out)
			}
		}
	}
	version := regexp.MustCompile(`^duplex \d+\.\d+\.\d+.* go1\.\d+.* \w+/\w+\n$`)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if r := runDuplex(t, "", args...); r.code != 0 || !version.MatchString(r.stdout) {
			t.Errorf("duplex %s: exit %d, %q", args[0], r.code, r.stdout)
		}
	}
	r = runDuplex(t, "", "frobnicate")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", r.code, r.stderr)
	}
}
