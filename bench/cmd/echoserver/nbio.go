package main

import (
	"net/http"

	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
)

func init() {
	register("nbio", runNbio)
	notes["nbio"] = "frames outgoing messages at 32 KiB (library default)"
}

// runNbio uses nbhttp's own non-blocking engine (epoll, a few pollers and a
// handler pool instead of a goroutine per connection), the setup nbio
// recommends for many connections, with payload buffers released back to
// its pool after each OnMessage.
func runNbio(cfg config) error {
	logging.SetLevel(logging.LevelNone)
	up := websocket.NewUpgrader()
	up.CheckOrigin = func(*http.Request) bool { return true }
	up.MessageLengthLimit = readLimit
	if cfg.compress {
		up.EnableCompression(true)
		if err := up.SetCompressionLevel(compressLevel); err != nil {
			return err
		}
	}
	up.OnMessage(func(c *websocket.Conn, typ websocket.MessageType, data []byte) {
		work()
		_ = c.WriteMessage(typ, data)
	})
	engine := nbhttp.NewEngine(nbhttp.Config{
		Network:                 "tcp",
		Addrs:                   []string{cfg.addr},
		ReleaseWebsocketPayload: true,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = up.Upgrade(w, r, nil)
		}),
	})
	if err := engine.Start(); err != nil {
		return err
	}
	select {}
}
