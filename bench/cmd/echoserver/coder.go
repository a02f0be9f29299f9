package main

import (
	"context"
	"io"
	"net/http"
	"sync"

	"github.com/coder/websocket"
)

func init() {
	register("coder", runCoder)
	notes["coder"] = "flate level fixed at 1 (BestSpeed) by the library"
}

// coderBufs holds the copy buffers: coder's reader and writer implement
// neither WriterTo nor ReaderFrom, so a plain io.Copy would allocate 32 KiB
// per message. Pooling them (rather than one per connection, as the
// library's own echo test does) keeps idle connections from holding one.
var coderBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// runCoder is coder/websocket's own echo loop (internal/test/wstest):
// Reader/Writer streaming through io.CopyBuffer with a 32 KiB buffer.
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
			work()
			wr, err := c.Writer(ctx, typ)
			if err != nil {
				return
			}
			bp := coderBufs.Get().(*[]byte)
			_, err = io.CopyBuffer(wr, rd, *bp)
			coderBufs.Put(bp)
			if err != nil {
				return
			}
			if err := wr.Close(); err != nil {
				return
			}
		}
	})
}
