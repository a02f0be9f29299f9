package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// newFlagSet returns a flag set for a command whose flags explain it. Its
// help ("--help") goes to standard output; usage errors are one line on
// stderr (see parseFlags).
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	return newCommandFlags(name, synopsis, "", "", os.Stdout, stderr)
}

// newCommandFlags is newFlagSet with a description and examples in the
// help, for commands whose flags alone do not explain them; the help goes
// to stdout.
func newCommandFlags(name, synopsis, about, examples string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("duplex "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := stdout
		fmt.Fprintf(w, "Usage: duplex %s\n\n", synopsis)
		if about != "" {
			fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(about))
		}
		fmt.Fprintln(w, "Flags:")
		printFlags(w, fs)
		if examples != "" {
			fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(examples, "\n"))
		}
	}
	return fs
}

// printFlags lists the flags as they are typed: "--name VALUE" (or "-H"
// for one letter), the usage indented below, and the default when it is
// not the zero value and the usage does not already say it.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, "internal:") {
			return // between duplex processes, not for people
		}
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		arg, usage := flag.UnquoteUsage(f)
		line := "  " + dash + f.Name
		if arg != "" {
			line += " " + arg
		}
		switch f.DefValue {
		case "", "0", "false", "0s", "[]":
		default:
			if !strings.Contains(usage, "(default") {
				if g, ok := f.Value.(flag.Getter); ok && isString(g.Get()) {
					usage += fmt.Sprintf(" (default %q)", f.DefValue)
				} else {
					usage += fmt.Sprintf(" (default %s)", f.DefValue)
				}
			}
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, strings.ReplaceAll(usage, "\n", "\n      "))
	})
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}
