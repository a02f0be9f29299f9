// Command duplex is the Duplex command line: a real-time messaging server,
// WebSocket echo servers and clients, a load generator and more.
//
// Run "duplex help" for the list of commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand.
type command struct {
	name  string
	short string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// errUsage marks a usage error already explained to the user.
var errUsage = errors.New("usage error")

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			c, ok := commands[args[1]]
			if !ok {
				fmt.Fprintf(stderr, "duplex: unknown command %q; run \"duplex help\" for the list\n", args[1])
				return 2
			}
			_ = c.run(ctx, []string{"--help"}, stdout, stderr)
			return 0
		}
		usage(stdout)
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		fmt.Fprintln(stdout, versionString())
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "duplex: unknown command %q; run \"duplex help\" for the list\n", args[0])
		return 2
	}
	err := c.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "duplex %s: %v\n", c.name, err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "duplex — WebSocket server, client and tools")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: duplex COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].short)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "duplex COMMAND --help" (or "duplex help COMMAND") for what a command does,`)
	fmt.Fprintln(w, `its flags and examples; "duplex version" prints the version.`)
}

// parseFlags parses args. A request for help prints the command's help
// (fs.Usage) and returns flag.ErrHelp; a bad flag is reported in one line,
// with where to find the flags, and returns errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(out)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		usage()
		return err
	}
	// The flag package names flags with one dash; the help shows two.
	msg := strings.Replace(err.Error(), "flag provided but not defined:", "unknown flag", 1)
	msg = flagName.ReplaceAllString(msg, "$1--$2")
	return usageError(fs, "%s", msg)
}

var flagName = regexp.MustCompile(`(^|\s)-([a-zA-Z0-9][a-zA-Z0-9-]+)`)
