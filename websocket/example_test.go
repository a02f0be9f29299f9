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

// A server that echoes every message, and a client that talks to it.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return // Accept has answered with an HTTP error
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
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
	if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		log.Fatal(err)
	}
	// Output: text hello
}

// Accept with a subprotocol, extra allowed origins and compression.
func ExampleAccept() {
	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols:   []string{"chat.v1"},
			OriginPatterns: []string{"*.example.com"},
			Compression:    &websocket.CompressionOptions{}, // no per-connection memory
			ReadLimit:      1 << 20,
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		_ = c.Write(r.Context(), websocket.MessageText, []byte("welcome, "+c.Subprotocol()))
		_ = c.Close(websocket.StatusNormalClosure, "")
	})
}

// Dial through an explicit proxy with a header, and read how the server
// closed the connection.
func ExampleDial() {
	ctx := context.Background()
	c, resp, err := websocket.Dial(ctx, "wss://example.com/ws", &websocket.DialOptions{
		Header:       http.Header{"Authorization": {"Bearer token"}},
		Subprotocols: []string{"chat.v1"},
	})
	if err != nil {
		if resp != nil {
			log.Printf("handshake failed with HTTP %d", resp.StatusCode)
		}
		return
	}
	defer c.CloseNow()
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			log.Printf("closed with %v", websocket.CloseStatus(err))
			return
		}
		log.Printf("got %s", msg)
	}
}

// Frame a message once and send it to many connections.
func ExampleNewPreparedMessage() {
	var conns []*websocket.Conn // the subscribers of a channel
	pm := websocket.NewPreparedMessage(websocket.MessageText, []byte(`{"price":42}`))
	for _, c := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := c.WritePrepared(ctx, pm); err != nil {
			c.CloseNow()
		}
		cancel()
	}
}
