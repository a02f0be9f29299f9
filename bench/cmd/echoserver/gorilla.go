package main

import (
	"compress/flate"
	"io"
	"net/http"
	"sync"

	"github.com/gorilla/websocket"
)

func init() { register("gorilla", runGorilla) }

// runGorilla follows gorilla's own advice for speed: 4 KiB buffers with a
// shared write-buffer pool (so idle connections hold no write buffer), and
// streaming echo with NextReader/NextWriter, whose writer reads straight
// into its buffer (io.Copy uses its ReadFrom) instead of allocating a
// message per read.
func runGorilla(cfg config) error {
	up := websocket.Upgrader{
		ReadBufferSize:    4096,
		WriteBufferSize:   4096,
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
