package websocket_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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

// streamEcho echoes long messages as their parts arrive, through a
// MessageWriter per connection; short ones whole.
type streamEcho struct {
	echoHandler
	mu sync.Mutex
	w  map[*websocket.Conn]*websocket.MessageWriter
}

func (h *streamEcho) OnMessagePart(c *websocket.Conn, typ websocket.MessageType, p []byte, final bool) {
	h.mu.Lock() // loops run side by side: the map is shared
	w := h.w[c]
	h.mu.Unlock()
	if w == nil {
		var err error
		if w, err = c.Writer(context.Background(), typ); err != nil {
			return
		}
		h.mu.Lock()
		h.w[c] = w
		h.mu.Unlock()
	}
	if !final {
		if _, err := w.Write(p); err == nil { // a long p leaves as one frame, with no copy
			return
		}
	}
	// The last part and the end of the message leave in one frame.
	_ = w.CloseWith(p)
	h.mu.Lock()
	delete(h.w, c)
	h.mu.Unlock()
}

// A handler that takes messages longer than PartsAbove in parts: the echo
// of a 1 MiB message starts before the message has all arrived, and no
// buffer of that size is ever held.
func ExampleEventPartHandler() {
	loop, err := websocket.NewEventLoop(websocket.EventLoopOptions{PartsAbove: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	h := &streamEcho{echoHandler: echoHandler{ended: make(chan error, 1)}, w: make(map[*websocket.Conn]*websocket.MessageWriter)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		if err := loop.Serve(c, h); err != nil {
			log.Print(err)
			c.CloseNow()
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{ReadLimit: 4 << 20})
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	long := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	if err := c.Write(ctx, websocket.MessageBinary, long); err != nil {
		log.Fatal(err)
	}
	_, reply, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(reply), bytes.Equal(reply, long))
	// Output:
	// 1048576 true
}
