//go:build duplex

package main

import (
	"context"
	"net/http"

	"github.com/duplexws/duplex/websocket"
)

func init() {
	register("duplex-event", runDuplexEvent)
	notes["duplex-event"] = "EventLoop (epoll): no goroutine or read buffer per idle connection"
}

// runDuplexEvent is our package in event mode, as its documentation
// recommends for many mostly idle connections: Accept in the HTTP handler,
// hand the connection to an EventLoop and return; the loop calls OnMessage,
// which writes the message back from the loop goroutine.
func runDuplexEvent(cfg config) error {
	loop, err := websocket.NewEventLoop(websocket.EventLoopOptions{})
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
	return serveHTTP(cfg.addr, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		if err := loop.Serve(c, echoHandler{}); err != nil {
			_ = c.CloseNow()
		}
	})
}

// echoHandler sends every message back with the same type.
type echoHandler struct{}

func (echoHandler) OnMessage(c *websocket.Conn, typ websocket.MessageType, p []byte) {
	_ = c.Write(context.Background(), typ, p)
}

func (echoHandler) OnClose(*websocket.Conn, error) {}
