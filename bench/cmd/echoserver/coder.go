package main

import (
	"context"
	"io"
	"net/http"

	"github.com/coder/websocket"
)

func init() {
	register("coder", runCoder)
	notes["coder"] = "flate level fixed at 1 (BestSpeed) by the library"
}

// runCoder is coder/websocket's own echo example: Reader/Writer streaming
// with io.Copy, which reuses the connection's buffers.
func runCoder(cfg config) error {
	opts := &websocket.AcceptOptions{InsecureSkipVerify: true}
	if cfg.compress {
		opts.CompressionMode = websocket.CompressionNoContextTakeover
		opts.CompressionThreshold = compressThreshold
	}
	return serveHTTP(cfg.addr, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(readLimit)
		ctx := context.Background()
		for {
			typ, rd, err := c.Reader(ctx)
			if err != nil {
				return
			}
			wr, err := c.Writer(ctx, typ)
			if err != nil {
				return
			}
			if _, err := io.Copy(wr, rd); err != nil {
				return
			}
			if err := wr.Close(); err != nil {
				return
			}
		}
	})
}
