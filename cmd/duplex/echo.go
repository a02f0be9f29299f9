package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/duplexws/duplex/websocket"
)

func init() {
	register(&command{name: "echo", short: "run a WebSocket echo server (conformance and benchmark target)", run: runEcho})
}

// echoReadLimit accepts the largest messages conformance suites send (16 MiB)
// with room to spare.
const echoReadLimit = 64 << 20

func runEcho(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("echo", "echo [--addr HOST:PORT] [--compress]", stderr)
	addr := fs.String("addr", "127.0.0.1:9001", "address to listen on")
	compress := fs.Bool("compress", false, "accept permessage-deflate, with context takeover where the client allows it")
	limit := fs.Int64("max-message", echoReadLimit, "largest message accepted, in bytes")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ln, err := listen(ctx, *addr, "--addr")
	if err != nil {
		return err
	}
	opts := &websocket.AcceptOptions{InsecureSkipVerify: true, ReadLimit: *limit}
	if *compress {
		opts.Compression = &websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover, Threshold: -1}
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { echoHandler(w, r, opts) }),
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Fprintf(stdout, "duplex echo listening on ws://%s/\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// echoHandler answers every message with one of the same type and payload.
func echoHandler(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions) {
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return
	}
	defer c.CloseNow()
	echoLoop(context.Background(), c)
}

// echoLoop echoes until the connection ends, then completes the close.
func echoLoop(ctx context.Context, c *websocket.Conn) {
	var buf []byte
	for {
		typ, p, err := c.ReadInto(ctx, buf)
		if err != nil {
			return
		}
		buf = p
		if err := c.Write(ctx, typ, p); err != nil {
			return
		}
	}
}
