package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/duplexws/duplex/websocket"
)

func init() {
	register(&command{name: "echo-client", short: "drive a conformance fuzzing server as an echoing client", run: runEchoClient})
}

// runEchoClient follows the fuzzing server protocol of the Autobahn
// TestSuite: ask for the number of cases, run each one by echoing every
// message, then ask the server to write its reports.
func runEchoClient(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("echo-client", "echo-client --url ws://HOST:PORT [--agent NAME] [--compress] [--cases N,M-K]", stderr)
	base := fs.String("url", "ws://127.0.0.1:9001", "URL of the fuzzing server")
	agent := fs.String("agent", "duplex", "agent name reported to the server")
	compress := fs.Bool("compress", false, "offer permessage-deflate, with context takeover allowed")
	only := fs.String("cases", "", "run only these case numbers (1-based, e.g. 1,5-9)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	b := strings.TrimSuffix(*base, "/")
	opts := &websocket.DialOptions{ReadLimit: echoReadLimit, Proxy: websocket.NoProxy}
	if *compress {
		// Two offers: one with the client_no_context_takeover hint and
		// client_max_window_bits, one with client_max_window_bits alone,
		// so that the server side of every compression case can pick
		// the parameters it wants; server-to-client takeover stays on.
		opts.Compression = &websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover, ClientNoContextTakeover: true, Threshold: -1}
	}
	n, err := caseCount(ctx, b)
	if err != nil {
		return err
	}
	sel, err := parseCaseList(*only, n)
	if err != nil {
		return err
	}
	failed := 0
	for i := 1; i <= n; i++ {
		if sel != nil && !sel[i] {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		u := fmt.Sprintf("%s/runCase?case=%d&agent=%s", b, i, url.QueryEscape(*agent))
		c, _, err := websocket.Dial(ctx, u, opts)
		if err != nil {
			fmt.Fprintf(stderr, "case %d: %v\n", i, err)
			failed++
			continue
		}
		echoLoop(ctx, c)
		c.CloseNow()
	}
	fmt.Fprintf(stdout, "ran %d cases as agent %q\n", n, *agent)
	c, _, err := websocket.Dial(ctx, fmt.Sprintf("%s/updateReports?agent=%s", b, url.QueryEscape(*agent)), opts)
	if err != nil {
		return fmt.Errorf("updating reports: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(cctx); err != nil {
			break
		}
	}
	c.CloseNow()
	if failed > 0 {
		// The reports are written; the exit status still tells a script
		// that some cases never ran.
		return fmt.Errorf("%d of %d cases could not connect (see above)", failed, n)
	}
	return nil
}

func caseCount(ctx context.Context, base string) (int, error) {
	c, _, err := websocket.Dial(ctx, base+"/getCaseCount", &websocket.DialOptions{Proxy: websocket.NoProxy})
	if err != nil {
		return 0, fmt.Errorf("asking for the case count: %w", err)
	}
	defer c.CloseNow()
	_, p, err := c.Read(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the case count: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(p)))
	if err != nil {
		return 0, fmt.Errorf("the case count %q is not a number", p)
	}
	_ = c.Close(websocket.StatusNormalClosure, "")
	return n, nil
}

// parseCaseList parses "1,5-9" into a set; "" means all.
func parseCaseList(s string, n int) (map[int]bool, error) {
	if s == "" {
		return nil, nil
	}
	sel := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("bad case list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("bad case list %q", s)
			}
		}
		for i := a; i <= b && i <= n; i++ {
			sel[i] = true
		}
	}
	return sel, nil
}
