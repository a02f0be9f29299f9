package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// newCommandFlags is newFlagSet with a description and examples in the
// help, for commands whose flags alone do not explain them.
func newCommandFlags(name, synopsis, about, examples string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("duplex "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: duplex %s\n\n", synopsis)
		if about != "" {
			fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(about))
		}
		fmt.Fprintln(w, "Flags:")
		fs.PrintDefaults()
		if examples != "" {
			fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(examples, "\n"))
		}
	}
	return fs
}
