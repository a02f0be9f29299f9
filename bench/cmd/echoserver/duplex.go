//go:build duplex

package main

import (
	"context"
	"net/http"

	"github.com/duplexws/duplex/websocket"
)

func init() { register("duplex", runDuplex) }

// runDuplex is our own package used as its documentation recommends for
// speed: Accept, then ReadInto with one buffer per connection that is
// reused for every message (it grows to the largest message seen and then
// stays), and Write of the same bytes.
func runDuplex(cfg config) error {
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
		// Serve the connection from a fresh goroutine and return: the
		// net/http goroutine's grown stack is freed at once.
		go echo(c)
	})
}

func echo(c *websocket.Conn) {
	defer c.CloseNow()
	ctx := context.Background()
	var buf []byte
	for {
		typ, p, err := c.ReadInto(ctx, buf)
		if err != nil {
			return
		}
		buf = p
		work()
		if err := c.Write(ctx, typ, p); err != nil {
			return
		}
	}
}
