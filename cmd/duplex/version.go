package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func init() {
	register(&command{name: "version", short: "print the version of duplex", run: runVersion})
}

// releaseVersion is the version of this release. Builds may override it
// with -ldflags "-X main.releaseVersion=1.2.3".
var releaseVersion = "0.1.0"

// versionString says which duplex this is: the release, the source
// revision it was built from when known, and the Go toolchain.
func versionString() string {
	s := "duplex " + releaseVersion
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				rev = kv.Value
			case "vcs.modified":
				modified = kv.Value
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			s += " (" + rev
			if modified == "true" {
				s += ", modified"
			}
			s += ")"
		}
	}
	return fmt.Sprintf("%s %s %s/%s", s, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "version", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, versionString())
	return nil
}
