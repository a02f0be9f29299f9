package websocket_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// echoHandler sends every message back and reports how each connection
// ended.
type echoHandler struct {
	ended chan error
}

func (h echoHandler) OnMessage(c *websocket.Conn, typ websocket.MessageType, p []byte) {
	// p is only valid during the call; Write is done with it when it
	// returns. A handler that keeps p must copy it.
	if err := c.Write(context.Background(), typ, p); err != nil {
		log.Printf("echo to %v: %v", c.RemoteAddr(), err)
	}
}

func (h echoHandler) OnClose(c *websocket.Conn, err error) { h.ended <- err }

// A server whose connections are served by an event loop: the HTTP
// handler returns at once, and an idle connection holds no goroutine and
// no read buffer.
func ExampleEventLoop() {
	loop, err := websocket.NewEventLoop(websocket.EventLoopOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	h := echoHandler{ended: make(chan error, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		if err := loop.Serve(c, h); err != nil {
			// Not servable (TLS, HTTP/2): read it here with c.Read instead.
			log.Print(err)
			c.CloseNow()
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	typ, reply, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(typ, string(reply))
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("server saw:", websocket.CloseStatus(<-h.ended))
	// Output:
	// text hello
	// server saw: 1000 (normal closure)
}
