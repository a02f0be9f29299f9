//go:build duplex

package main

import (
	"context"
	"net/http"
	"sync"

	"github.com/duplexws/duplex/websocket"
)

func init() {
	register("duplex-event", runDuplexEvent)
	notes["duplex-event"] = "EventLoop (epoll): no goroutine or read buffer per idle connection"
	register("duplex-event-writes", func(cfg config) error {
		return serveDuplexEvent(cfg, websocket.EventLoopOptions{NoIOUring: true})
	})
	notes["duplex-event-writes"] = "duplex-event with NoIOUring: a write per connection, not one io_uring_enter per round"
}

// runDuplexEvent is our package in event mode, as its documentation
// recommends for many mostly idle connections: Accept in the HTTP handler,
// hand the connection to an EventLoop and return; the loop calls OnMessage,
// which writes the message back from the loop goroutine. A message longer
// than the loop's read buffer (256 KiB) comes in parts as it arrives
// (OnMessagePart), and each part goes straight back through a
// MessageWriter, as coder/websocket's echo streams its messages.
func runDuplexEvent(cfg config) error { return serveDuplexEvent(cfg, websocket.EventLoopOptions{}) }

func serveDuplexEvent(cfg config, lo websocket.EventLoopOptions) error {
	loop, err := websocket.NewEventLoop(lo)
	if err != nil {
		return err
	}
	defer loop.Close()
	opts := &websocket.AcceptOptions{
		InsecureSkipVerify: true,
		ReadLimit:          readLimit,
	}
	if cfg.compress {
		opts.Compression = &websocket.CompressionOptions{
			Level:                   compressLevel,
			Threshold:               -1, // compress every message, like the others
			ServerNoContextTakeover: true,
			ClientNoContextTakeover: true,
			ServerMaxWindowBits:     15,
			ClientMaxWindowBits:     15,
		}
	}
	h := &echoHandler{w: make(map[*websocket.Conn]*websocket.MessageWriter)}
	return serveHTTP(cfg.addr, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		if err := loop.Serve(c, h); err != nil {
			_ = c.CloseNow()
		}
	})
}

// echoHandler sends every message back with the same type; w holds the
// writer of each message being echoed in parts.
type echoHandler struct {
	mu sync.Mutex
	w  map[*websocket.Conn]*websocket.MessageWriter
}

func (*echoHandler) OnMessage(c *websocket.Conn, typ websocket.MessageType, p []byte) {
	work()
	_ = c.Write(context.Background(), typ, p)
}

func (h *echoHandler) OnMessagePart(c *websocket.Conn, typ websocket.MessageType, p []byte, final bool) {
	h.mu.Lock()
	w := h.w[c]
	if final {
		delete(h.w, c)
	}
	h.mu.Unlock()
	if w == nil {
		work() // once a message, at its first part
		var err error
		if w, err = c.Writer(context.Background(), typ); err != nil {
			return
		}
		if !final {
			h.mu.Lock()
			h.w[c] = w
			h.mu.Unlock()
		}
	}
	if final {
		_ = w.CloseWith(p) // the last part and the end of the message in one frame
		return
	}
	if _, err := w.Write(p); err != nil {
		_ = w.Close()
	}
}

func (h *echoHandler) OnClose(c *websocket.Conn, _ error) {
	h.mu.Lock()
	w := h.w[c]
	delete(h.w, c)
	h.mu.Unlock()
	if w != nil {
		_ = w.Close()
	}
}
