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

const echoAbout = `
An echo server: every message is sent back with the same type and payload.
It is the target of conformance suites (the Autobahn TestSuite's
fuzzingclient; messages up to --max-message, 64 MiB by default, since the
suites send 16 MiB ones) and of load generators such as duplex bench.

--io picks how connections are read. "event" (the default) hands them to
a websocket.EventLoop: on Linux a few epoll loops read every connection,
with no goroutine or read buffer per idle connection, and the answers to
all the messages of one read leave in one write. "goroutine" reads each
connection with Conn.ReadInto in a goroutine of its own, the library's
default mode.

With --compress, permessage-deflate is accepted with context takeover in
both directions wherever the client's offer allows it, and every message
is compressed.`

const echoExamples = `  duplex echo --addr 127.0.0.1:9001
  duplex echo --addr 127.0.0.1:9001 --compress
  duplex echo --addr :9001 --io goroutine`

func runEcho(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCommandFlags("echo", "echo [--addr HOST:PORT] [--compress] [--io event|goroutine] [--max-message N]", echoAbout, echoExamples, stdout, stderr)
	addr := fs.String("addr", "127.0.0.1:9001", "address to listen on")
	compress := fs.Bool("compress", false, "accept permessage-deflate, with context takeover where the client allows it")
	limit := fs.Int64("max-message", echoReadLimit, "largest message accepted, in bytes")
	ioMode := fs.String("io", "event", "how connections are read: event (epoll loops) or goroutine (one per connection)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *ioMode != "event" && *ioMode != "goroutine" {
		return usageError(fs, "--io must be event or goroutine, not %q", *ioMode)
	}
	ln, err := listen(ctx, *addr, "--addr")
	if err != nil {
		return err
	}
	opts := &websocket.AcceptOptions{InsecureSkipVerify: true, ReadLimit: *limit}
	if *compress {
		opts.Compression = &websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover, Threshold: -1}
	}
	h := &echoServer{opts: opts}
	if *ioMode == "event" {
		loop, err := websocket.NewEventLoop(websocket.EventLoopOptions{})
		if err != nil {
			ln.Close()
			return err
		}
		defer loop.Close()
		h.loop = loop
	}
	srv := &http.Server{
		Handler:           h,
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

// echoServer accepts WebSocket connections and echoes every message, from
// an event loop when it has one, else from a goroutine per connection.
type echoServer struct {
	opts *websocket.AcceptOptions
	loop *websocket.EventLoop
}

func (e *echoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, e.opts)
	if err != nil {
		return
	}
	if e.loop != nil {
		err := e.loop.Serve(c, echoEvents{})
		if err == nil {
			return
		}
		if !errors.Is(err, websocket.ErrNotServable) {
			_ = c.CloseNow()
			return
		}
		// Not plain TCP (an HTTP/2 stream, say): read it here instead.
	}
	defer c.CloseNow()
	echoLoop(context.Background(), c)
}

// echoEvents echoes from the event loop. A write that fails has closed the
// connection already, and the loop reports its end.
type echoEvents struct{}

func (echoEvents) OnMessage(c *websocket.Conn, typ websocket.MessageType, p []byte) {
	_ = c.Write(context.Background(), typ, p)
}

func (echoEvents) OnClose(*websocket.Conn, error) {}

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
