package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// TestUWSEchoServer starts the uWebSockets echo server the way the matrix
// does and checks that it echoes text and binary messages, small and
// large, with and without compression: a server that echoed nothing
// would measure as free. It needs Node.js and "npm ci --prefix uws"; in
// CI (CI=true) their absence is a failure.
func TestUWSEchoServer(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		missingPeer(t, "node")
	}
	if _, err := os.Stat(filepath.Join("..", "..", "uws", "node_modules", "uws-js", "package.json")); err != nil {
		missingPeer(t, "uws/node_modules (npm ci --prefix uws)")
	}
	if err := os.Chdir(filepath.Join("..", "..")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chdir(filepath.Join("cmd", "matrix")) })

	for _, compress := range []bool{false, true} {
		r := &runner{s: &settings{pin: false}}
		srv, err := r.startServer("uws", compress)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.stop)

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		t.Cleanup(cancel)
		opts := &websocket.DialOptions{ReadLimit: 4 << 20}
		if compress {
			opts.Compression = &websocket.CompressionOptions{}
		}
		c, resp, err := websocket.Dial(ctx, "ws://"+srv.addr+"/", opts)
		if err != nil {
			t.Fatalf("compress %v: dial: %v", compress, err)
		}
		t.Cleanup(func() { _ = c.CloseNow() })
		ext := resp.Header.Get("Sec-WebSocket-Extensions")
		if compress != (ext != "") {
			t.Errorf("compress %v: the server answered extensions %q", compress, ext)
		}
		for _, m := range []struct {
			typ  websocket.MessageType
			data []byte
		}{
			{websocket.MessageText, []byte("hello")},
			{websocket.MessageBinary, bytes.Repeat([]byte{0, 1, 2, 0xff}, 16)},
			{websocket.MessageBinary, bytes.Repeat([]byte("0123456789abcdef"), 1<<16)},
		} {
			if err := c.Write(ctx, m.typ, m.data); err != nil {
				t.Fatalf("compress %v: write: %v", compress, err)
			}
			typ, got, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("compress %v: read: %v", compress, err)
			}
			if typ != m.typ || !bytes.Equal(got, m.data) {
				t.Errorf("compress %v: echo of %d bytes of type %v: got %d bytes of type %v", compress, len(m.data), m.typ, len(got), typ)
			}
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Errorf("compress %v: close: %v", compress, err)
		}
		srv.stop()
	}
}

func missingPeer(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s is missing (test/install.sh installs it)", what)
	}
	t.Skipf("%s is missing (test/install.sh installs it)", what)
}

// TestComparisonWithUWS checks that uWebSockets, when measured, is the
// "uWS" column (not an estimate) and never the "best Go peer".
func TestComparisonWithUWS(t *testing.T) {
	rec := func(lib string, us float64) *record {
		return &record{Cell: "echo-64-100-off", Kind: "echo", Lib: lib, Rep: 1, Size: 64, Conns: 100, Inflight: 1,
			Gen: genDuplex, Load: &loadResult{ServerUsPerMsg: us, MsgPerSec: 1000, Messages: 1}}
	}
	var out bytes.Buffer
	printComparison(&out, []*record{rec("duplex-event", 3.0), rec("duplex", 3.5), rec("gws", 4.0), rec("uws", 2.0)})
	row := ""
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "| 64 B | 100 |") {
			row = l
		}
	}
	for _, want := range []string{"| 4.00 (gws) |", "| 0.75 |", "| 2.00 | 1.50 |"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}

	// Without uws in the cell, the estimate from gws's figure.
	out.Reset()
	printComparison(&out, []*record{rec("duplex-event", 3.0), rec("gws", 4.0)})
	if !strings.Contains(out.String(), "| 0.48–0.68 (est.) | 4.41–6.25 (est.) |") {
		t.Errorf("estimate missing:\n%s", out.String())
	}

	// With work per message (-work) the ratios say nothing: no
	// estimate.
	out.Reset()
	ev, gws := rec("duplex-event", 8.0), rec("gws", 9.0)
	ev.Work, gws.Work = "5µs", "5µs"
	printComparison(&out, []*record{ev, gws})
	if !strings.Contains(out.String(), "| 9.00 (gws) | 0.89 | – | – | – |") {
		t.Errorf("an estimate with -work:\n%s", out.String())
	}
}
