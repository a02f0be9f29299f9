package websocket_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// Dial with a header and a subprotocol, and read how the server closed the
// connection. Proxies come from HTTP_PROXY, HTTPS_PROXY and NO_PROXY unless
// DialOptions.Proxy says otherwise.
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

// Dial through an HTTP proxy that requires Basic authentication: the proxy
// is asked to CONNECT to the server, and the URL's user info becomes
// Proxy-Authorization. Use websocket.NoProxy to ignore the environment.
func ExampleDial_proxy() {
	proxy := &url.URL{Scheme: "http", Host: "proxy.example.com:3128", User: url.UserPassword("user", "secret")}
	c, _, err := websocket.Dial(context.Background(), "wss://example.com/ws", &websocket.DialOptions{
		Proxy: http.ProxyURL(proxy),
	})
	if err != nil {
		log.Print(err) // for example: proxy proxy.example.com:3128 refused CONNECT example.com:443: 407 ...
		return
	}
	defer c.CloseNow()
}

// echoURL starts an echo server for the examples below and returns its
// ws:// URL and a function that stops it.
func echoURL() (string, func()) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
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
	return "ws" + strings.TrimPrefix(srv.URL, "http"), srv.Close
}

// Stream a message in pieces of any size, and read one as a stream: neither
// side holds the whole message.
func ExampleConn_Writer() {
	u, stop := echoURL()
	defer stop()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()

	w, err := c.Writer(ctx, websocket.MessageText)
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range []string{"one\n", "two\n", "three\n"} {
		if _, err := io.WriteString(w, line); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil { // ends the message
		log.Fatal(err)
	}

	typ, r, err := c.Reader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	lines := bufio.NewScanner(r)
	for lines.Scan() {
		fmt.Println(typ, lines.Text())
	}
	_ = c.Close(websocket.StatusNormalClosure, "")
	// Output:
	// text one
	// text two
	// text three
}

// Ping measures the round trip. Pongs are read by the reading goroutine, so
// an application that does not read calls CloseRead first.
func ExampleConn_Ping() {
	u, stop := echoURL()
	defer stop()
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	ctx = c.CloseRead(ctx)

	rtt, err := c.Ping(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pong received:", rtt > 0)
	// Output: pong received: true
}

// CloseStatus tells how the peer closed the connection: its code, or -1
// when the connection ended some other way.
func ExampleCloseStatus() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		_ = c.Close(4001, "session expired")
	}))
	defer srv.Close()
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	_, _, err = c.Read(context.Background())
	fmt.Println(websocket.CloseStatus(err))
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		fmt.Println(ce.Reason)
	}
	// Output:
	// 4001
	// session expired
}

// NetConn carries any stream protocol over a WebSocket: here a line-based
// one, served with bufio as over TCP.
func ExampleNetConn() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		nc := websocket.NetConn(r.Context(), c, websocket.MessageBinary)
		defer nc.Close()
		lines := bufio.NewScanner(nc)
		for lines.Scan() {
			if _, err := fmt.Fprintf(nc, "%s\n", strings.ToUpper(lines.Text())); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	nc := websocket.NetConn(ctx, c, websocket.MessageBinary)
	defer nc.Close()
	replies := bufio.NewReader(nc)
	for _, line := range []string{"hello", "over websocket"} {
		fmt.Fprintf(nc, "%s\n", line)
		reply, err := replies.ReadString('\n')
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(reply)
	}
	// Output:
	// HELLO
	// OVER WEBSOCKET
}

// Compression with context takeover and smaller windows: better ratios on
// small, similar messages, for about 1 MiB of sending state per connection
// (docs/compression.md has the measurements). The zero CompressionOptions
// keeps no compression memory on idle connections.
func ExampleCompressionOptions() {
	http.HandleFunc("/feed", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Compression: &websocket.CompressionOptions{
				Mode:                websocket.CompressionContextTakeover,
				ServerMaxWindowBits: 12, // 4 KiB of history for the client to keep
				ClientMaxWindowBits: 12, // and for us, from clients that allow it
			},
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		_ = c.Write(r.Context(), websocket.MessageText, []byte(`{"price":42}`))
	})
}
