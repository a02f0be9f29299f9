package main

import (
	"compress/flate"
	"io"
	"net/http"
	"sync"

	"github.com/gorilla/websocket"
)

func init() {
	register("gorilla", func(cfg config) error { return runGorilla(cfg, 4<<10) })
	register("gorilla-64k", func(cfg config) error { return runGorilla(cfg, 64<<10) })
	notes["gorilla-64k"] = "gorilla with 64 KiB read and write buffers: fewer system calls for long messages, 60 KiB more per connection (the write buffer is pooled)"
}

// runGorilla follows gorilla's own advice for speed: buffers of bufSize
// (4 KiB, the library's default, or larger when messages are long, as its
// docs suggest) with a shared write-buffer pool (so idle connections hold
// no write buffer), and streaming echo with NextReader/NextWriter, whose
// writer reads straight into its buffer (io.Copy uses its ReadFrom)
// instead of allocating a message per read.
func runGorilla(cfg config, bufSize int) error {
	up := websocket.Upgrader{
		ReadBufferSize:    bufSize,
		WriteBufferSize:   bufSize,
		WriteBufferPool:   &sync.Pool{},
		EnableCompression: cfg.compress,
		CheckOrigin:       func(*http.Request) bool { return true },
	}
	return serveHTTP(cfg.addr, func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadLimit(readLimit)
		if cfg.compress {
			if err := c.SetCompressionLevel(flate.BestSpeed); err != nil {
				return
			}
		}
		for {
			typ, rd, err := c.NextReader()
			if err != nil {
				return
			}
			work()
			wr, err := c.NextWriter(typ)
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
