package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// parseInterspersed parses flags that may come before or after the
// positional arguments ("duplex dial URL -H ..." as well as "duplex dial
// -H ... URL"), which the flag package alone does not allow. Everything
// after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs stops at the first non-flag or after "--".
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// multiFlag is a flag that may be given several times.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// headerFlags turns "Name: value" flags into a header.
func headerFlags(hs []string) (http.Header, error) {
	h := http.Header{}
	for _, s := range hs {
		name, val, ok := strings.Cut(s, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
			return nil, fmt.Errorf("header %q must look like \"Name: value\"", s)
		}
		h.Add(name, strings.TrimSpace(val))
	}
	return h, nil
}

// usageError prints a one-line usage problem and returns errUsage.
func usageError(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fmt.Fprintf(fs.Output(), "Run \"%s --help\" for the flags.\n", fs.Name())
	return errUsage
}

var errInterrupted = errors.New("interrupted")

// wsURL checks a WebSocket URL given on the command line and returns it
// in full. "HOST:PORT/path" without a scheme means ws://; http:// and
// https:// are taken as ws:// and wss://.
func wsURL(raw string) (string, error) {
	s := raw
	if !strings.Contains(s, "://") {
		s = "ws://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL such as ws://127.0.0.1:9001/", raw)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return "", fmt.Errorf("URL %q must start with ws:// or wss://", raw)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("URL %q has no host; use one such as ws://127.0.0.1:9001/", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("URL %q has port %s; a port is a number from 1 to 65535", raw, p)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return "", fmt.Errorf("URL %q has an empty port", raw)
	}
	if u.Fragment != "" {
		return "", fmt.Errorf("URL %q has a #fragment, which a WebSocket URL may not have", raw)
	}
	return u.String(), nil
}
