package conformance_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// rawServer accepts connections on 127.0.0.1 and runs serve for each with
// the parsed opening request. serve owns the connection.
func rawServer(t *testing.T, serve func(nc net.Conn, br *bufio.Reader, req *http.Request)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(guardTimeout))
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				serve(nc, br, req)
			}()
		}
	}()
	return ln.Addr().String()
}

// answer returns a serve function that writes the response built from the
// request's key, then waits for the client to go away.
func answer(resp func(key string) string) func(net.Conn, *bufio.Reader, *http.Request) {
	return func(nc net.Conn, br *bufio.Reader, req *http.Request) {
		_, _ = io.WriteString(nc, resp(req.Header.Get("Sec-WebSocket-Key")))
		_, _ = io.Copy(io.Discard, br)
	}
}

func dialOpts() *websocket.DialOptions {
	return &websocket.DialOptions{Proxy: websocket.NoProxy, HandshakeTimeout: guardTimeout}
}

// TestDial checks the client side of the opening handshake (RFC 6455
// §4.1): the request it sends and every check of the server's answer.
func TestDial(t *testing.T) {
	t.Run("RFC6455_4_1_request", func(t *testing.T) {
		reqs := make(chan *http.Request, 1)
		addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
			reqs <- req
			_, _ = io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Accept: "+acceptFor(req.Header.Get("Sec-WebSocket-Key"))+"\r\nSec-WebSocket-Protocol: chat\r\n\r\n")
			_, _ = io.Copy(io.Discard, br)
		})
		opts := dialOpts()
		opts.Subprotocols = []string{"chat", "superchat"}
		opts.Header = http.Header{"Origin": {"http://example.com"}}
		c, resp, err := websocket.Dial(context.Background(), "ws://"+addr+"/chat?room=1", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		req := <-reqs
		key, problem := checkClientRequest(req)
		if problem != nil {
			t.Error(problem)
		}
		if req.RequestURI != "/chat?room=1" {
			t.Errorf("request target %q, want /chat?room=1", req.RequestURI)
		}
		if req.Host != addr {
			t.Errorf("Host %q, want %q", req.Host, addr)
		}
		if got := strings.Join(req.Header.Values("Sec-WebSocket-Protocol"), ","); strings.ReplaceAll(got, " ", "") != "chat,superchat" {
			t.Errorf("Sec-WebSocket-Protocol %q, want chat, superchat in order", got)
		}
		if req.Header.Get("Origin") != "http://example.com" {
			t.Errorf("Origin %q not passed on", req.Header.Get("Origin"))
		}
		if c.Subprotocol() != "chat" || resp.StatusCode != 101 {
			t.Errorf("Subprotocol %q, status %d; want chat, 101", c.Subprotocol(), resp.StatusCode)
		}
		if resp.Header.Get("Sec-WebSocket-Accept") != acceptFor(key) {
			t.Errorf("response not returned as received")
		}
	})

	t.Run("RFC6455_4_1_fresh_key_per_connection", func(t *testing.T) {
		keys := make(chan string, 2)
		addr := rawServer(t, answer(func(key string) string {
			keys <- key
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptFor(key) + "\r\n\r\n"
		}))
		for range 2 {
			c, _, err := websocket.Dial(context.Background(), "ws://"+addr, dialOpts())
			if err != nil {
				t.Fatal(err)
			}
			c.CloseNow()
		}
		if a, b := <-keys, <-keys; a == b {
			t.Errorf("two connections used the same Sec-WebSocket-Key %q", a)
		}
	})

	t.Run("RFC6455_5_3_every_frame_masked_with_a_fresh_key", func(t *testing.T) {
		type got struct {
			frames []wireFrame
			keys   map[[4]byte]bool
			err    error
		}
		res := make(chan got, 1)
		addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
			_, _ = io.WriteString(nc, handshakeResponse(req.Header.Get("Sec-WebSocket-Key")))
			g := got{keys: map[[4]byte]bool{}}
			for range 8 {
				var key [4]byte
				f, err := readWireFrameKey(br, &key)
				if err != nil {
					g.err = err
					break
				}
				g.frames = append(g.frames, f)
				g.keys[key] = true
			}
			res <- g
		})
		c, _, err := websocket.Dial(context.Background(), "ws://"+addr, dialOpts())
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		for i := range 8 {
			payload := bytes.Repeat([]byte{byte('a' + i)}, 10+i*1000)
			if err := c.Write(context.Background(), websocket.MessageBinary, payload); err != nil {
				t.Fatal(err)
			}
		}
		g := <-res
		if g.err != nil {
			t.Fatal(g.err)
		}
		for i, f := range g.frames {
			if !f.masked || f.op != opBinary || !bytes.Equal(f.payload, bytes.Repeat([]byte{byte('a' + i)}, 10+i*1000)) {
				t.Errorf("frame %d: %v, want a masked binary frame carrying message %d", i, f, i)
			}
		}
		if len(g.keys) < 7 { // 8 random 32-bit keys colliding twice is not chance
			t.Errorf("8 frames used only %d distinct masking keys; RFC 6455 §5.3 wants a fresh unpredictable key per frame", len(g.keys))
		}
	})

	ok101 := func(extra string) func(string) string {
		return func(key string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
				acceptFor(key) + "\r\n" + extra + "\r\n"
		}
	}
	for _, tc := range []struct {
		name string
		resp func(key string) string
	}{
		{"upgrade_any_case", func(key string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: UPGRADE\r\nsec-websocket-accept: " + acceptFor(key) + "\r\n\r\n"
		}},
		{"connection_list", func(key string) string {
			return "HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: " + acceptFor(key) + "\r\n\r\n"
		}},
		{"extra_headers", ok101("Server: test\r\nSet-Cookie: a=b\r\n")},
	} {
		t.Run("RFC6455_4_1_accepts_"+tc.name, func(t *testing.T) {
			addr := rawServer(t, answer(tc.resp))
			c, _, err := websocket.Dial(context.Background(), "ws://"+addr, dialOpts())
			if err != nil {
				t.Fatalf("Dial refused a valid answer: %v", err)
			}
			c.CloseNow()
		})
	}

	// Every way the answer can be wrong (RFC 6455 §4.1, the client's
	// checks 1 to 6): Dial fails with ErrBadHandshake and returns the
	// response.
	for _, tc := range []struct {
		name    string
		offer   []string
		resp    func(key string) string
		status  int
		body    string
		compare string // expected text in the error
	}{
		{name: "wrong_accept", resp: func(string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptFor("dGhlIHNhbXBsZSBub25jZQ==") + "\r\n\r\n"
		}, status: 101, compare: "Sec-WebSocket-Accept"},
		{name: "accept_computed_wrongly", resp: func(key string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptFor(key+" ") + "\r\n\r\n"
		}, status: 101, compare: "Sec-WebSocket-Accept"},
		{name: "no_accept", resp: func(string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
		}, status: 101, compare: "Sec-WebSocket-Accept"},
		{name: "no_upgrade", resp: func(key string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptFor(key) + "\r\n\r\n"
		}, status: 101, compare: "Upgrade"},
		{name: "upgrade_other", resp: func(key string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptFor(key) + "\r\n\r\n"
		}, status: 101, compare: "Upgrade"},
		{name: "no_connection", resp: func(key string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " + acceptFor(key) + "\r\n\r\n"
		}, status: 101, compare: "Connection"},
		{name: "status_200", resp: func(string) string {
			return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world"
		}, status: 200, body: "hello world", compare: "200"},
		{name: "status_403_body_readable", resp: func(string) string {
			return "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n\r\norigin not allowed, go"
		}, status: 403, body: "origin not allowed, go", compare: "403"},
		{name: "status_426_chunked_body", resp: func(string) string {
			return "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nversion\r\n4\r\n 13!\r\n0\r\n\r\n"
		}, status: 426, body: "version 13!", compare: "426"},
		{name: "unrequested_subprotocol", resp: ok101("Sec-WebSocket-Protocol: chat\r\n"), status: 101, compare: "chat"},
		{name: "subprotocol_not_offered", offer: []string{"chat"}, resp: ok101("Sec-WebSocket-Protocol: superchat\r\n"), status: 101, compare: "superchat"},
		{name: "two_subprotocols", offer: []string{"chat", "superchat"}, resp: ok101("Sec-WebSocket-Protocol: chat, superchat\r\n"), status: 101, compare: "subprotocol"},
		{name: "unrequested_extension", resp: ok101("Sec-WebSocket-Extensions: permessage-deflate\r\n"), status: 101, compare: "extension"},
		{name: "unknown_extension", resp: ok101("Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n"), status: 101, compare: "extension"},
	} {
		t.Run("RFC6455_4_1_rejects_"+tc.name, func(t *testing.T) {
			addr := rawServer(t, answer(tc.resp))
			opts := dialOpts()
			opts.Subprotocols = tc.offer
			c, resp, err := websocket.Dial(context.Background(), "ws://"+addr, opts)
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial accepted a bad handshake answer")
			}
			if !errors.Is(err, websocket.ErrBadHandshake) {
				t.Errorf("error %v does not wrap ErrBadHandshake", err)
			}
			if !strings.Contains(err.Error(), tc.compare) {
				t.Errorf("error %q does not mention %q", err, tc.compare)
			}
			if resp == nil {
				t.Fatal("no response returned with the error")
			}
			if resp.StatusCode != tc.status {
				t.Errorf("response status %d, want %d", resp.StatusCode, tc.status)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || string(body) != tc.body {
				t.Errorf("response body %q (%v), want %q", body, err, tc.body)
			}
		})
	}

	for _, tc := range []struct{ name, resp string }{
		{"closed_without_answer", ""},
		{"not_http", "SSH-2.0-OpenSSH_9.2\r\n\r\n"},
		{"tls_record_instead_of_http", "\x16\x03\x01\x02\x00"},
	} {
		t.Run("RFC6455_4_1_fails_"+tc.name, func(t *testing.T) {
			addr := rawServer(t, func(nc net.Conn, _ *bufio.Reader, _ *http.Request) { _, _ = io.WriteString(nc, tc.resp) })
			c, _, err := websocket.Dial(context.Background(), "ws://"+addr, dialOpts())
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded")
			}
		})
	}

	t.Run("RFC6455_4_1_handshake_timeout", func(t *testing.T) {
		addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, _ *http.Request) { _, _ = io.Copy(io.Discard, br) })
		opts := dialOpts()
		opts.HandshakeTimeout = 200 * time.Millisecond
		c, _, err := websocket.Dial(context.Background(), "ws://"+addr, opts)
		if err == nil {
			c.CloseNow()
			t.Fatal("Dial succeeded against a server that never answers")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want one wrapping context.DeadlineExceeded", err)
		}
	})

	t.Run("RFC6455_4_1_frames_right_behind_the_101", func(t *testing.T) {
		pong := make(chan []byte, 1)
		addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
			b := []byte(handshakeResponse(req.Header.Get("Sec-WebSocket-Key")))
			b = append(b, encodeFrame(true, 0, opText, []byte("first"), nil)...)
			b = append(b, encodeFrame(true, 0, opPing, []byte("ping"), nil)...)
			_, _ = nc.Write(b)
			f, err := readWireFrame(br, 1<<10)
			if err == nil {
				pong <- f.payload
			}
			_, _ = io.Copy(io.Discard, br)
		})
		c, _, err := websocket.Dial(context.Background(), "ws://"+addr, dialOpts())
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), guardTimeout)
		defer cancel()
		typ, p, err := c.Read(ctx)
		if err != nil || typ != websocket.MessageText || string(p) != "first" {
			t.Fatalf("first message %v %q %v, want text \"first\"", typ, p, err)
		}
		// Only one reader at a time: the second read, which answers the
		// ping, starts once the first has returned.
		go func() { _, _, _ = c.Read(ctx) }()
		select {
		case p := <-pong:
			if string(p) != "ping" {
				t.Errorf("pong payload %q, want ping", p)
			}
		case <-ctx.Done():
			t.Fatal("the ping behind the 101 was never answered")
		}
	})

	t.Run("RFC6455_4_1_answer_split_at_every_byte", func(t *testing.T) {
		var mu sync.Mutex
		cut := 0
		addr := rawServer(t, func(nc net.Conn, br *bufio.Reader, req *http.Request) {
			b := []byte(handshakeResponse(req.Header.Get("Sec-WebSocket-Key")))
			b = append(b, encodeFrame(true, 0, opText, []byte("after the split"), nil)...)
			mu.Lock()
			k := cut
			mu.Unlock()
			_, _ = nc.Write(b[:k])
			time.Sleep(time.Millisecond)
			_, _ = nc.Write(b[k:])
			_, _ = io.Copy(io.Discard, br)
		})
		n := len(handshakeResponse(newKey())) + 17
		for k := 1; k < n; k++ {
			mu.Lock()
			cut = k
			mu.Unlock()
			c, _, err := websocket.Dial(context.Background(), "ws://"+addr, dialOpts())
			if err != nil {
				t.Fatalf("answer split at byte %d: %v", k, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), guardTimeout)
			_, p, err := c.Read(ctx)
			cancel()
			c.CloseNow()
			if err != nil || string(p) != "after the split" {
				t.Fatalf("answer split at byte %d: read %q, %v", k, p, err)
			}
		}
	})
}

// readWireFrameKey is readWireFrame that also reports the masking key.
func readWireFrameKey(br *bufio.Reader, key *[4]byte) (wireFrame, error) {
	b, err := br.Peek(2)
	if err != nil {
		return wireFrame{}, err
	}
	off := 2
	switch b[1] & 0x7F {
	case 126:
		off += 2
	case 127:
		off += 8
	}
	if b[1]&0x80 != 0 {
		hdr, err := br.Peek(off + 4)
		if err != nil {
			return wireFrame{}, err
		}
		copy(key[:], hdr[off:])
	}
	return readWireFrame(br, 1<<20)
}
