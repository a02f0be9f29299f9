package conformance_test

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServer runs every case against `duplex echo`, the command reviewers
// point the Autobahn TestSuite's fuzzingclient at, with its default flags:
// connections served by a websocket.EventLoop (epoll on Linux, messages
// assembled from a shared buffer, answers corked). We play the client,
// writing masked frames byte for byte.
func TestServer(t *testing.T) {
	addr := startEchoServer(t)
	runServerCases(t, false, func(*testing.T) string { return addr })
}

// TestServerGoroutine runs the same cases against `duplex echo --io
// goroutine`, whose connections are read with Conn.ReadInto, one goroutine
// each: the library's default mode, with a read path of its own.
func TestServerGoroutine(t *testing.T) {
	addr := startEchoServer(t, "--io", "goroutine")
	runServerCases(t, false, func(*testing.T) string { return addr })
}

// TestServerOneProcessor runs the same cases against `duplex echo` with
// GOMAXPROCS=1, as on a one-CPU machine or container: the event loop has
// no processor to spare, so between sparse events it parks on Go's poller
// instead of sleeping in epoll_wait.
func TestServerOneProcessor(t *testing.T) {
	addr := startEchoServerEnv(t, []string{"GOMAXPROCS=1"})
	runServerCases(t, false, func(*testing.T) string { return addr })
}

// runServerCases runs every case that applies to a server, each against
// the echo server whose address target returns.
func runServerCases(t *testing.T, parallel bool, target func(t *testing.T) string) {
	t.Helper()
	for _, c := range allCases() {
		if !c.appliesTo(true) {
			continue
		}
		t.Run(c.name(), func(t *testing.T) {
			if parallel {
				t.Parallel()
			}
			t.Log(c.desc)
			p := dialEcho(t, target(t), c.withHandshake)
			c.run(p)
		})
	}
}

// startEchoServer starts `duplex echo --addr 127.0.0.1:0` with extra flags
// and returns the address it listens on.
func startEchoServer(t *testing.T, flags ...string) string {
	t.Helper()
	return startEchoServerEnv(t, nil, flags...)
}

// startEchoServerEnv is startEchoServer with env added to the process's
// environment.
func startEchoServerEnv(t *testing.T, env []string, flags ...string) string {
	t.Helper()
	proc := startDuplexEnv(t, env, append([]string{"echo", "--addr", "127.0.0.1:0"}, flags...)...)
	line := proc.firstLine(t, "listening on ws://")
	addr := strings.TrimSuffix(line[strings.Index(line, "ws://")+len("ws://"):], "/")
	if _, _, err := net.SplitHostPort(addr); err != nil {
		t.Fatalf("cannot read the address from %q: %v", line, err)
	}
	return addr
}

// acceptFor computes Sec-WebSocket-Accept for key (RFC 6455 §4.2.2).
func acceptFor(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// dialEcho opens a raw TCP connection to addr, performs the opening
// handshake by hand (sending extra in the same write) and checks the
// server's answer.
func dialEcho(t *testing.T, addr string, extra func(p *peer) []byte) *peer {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, guardTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	p := newPeer(t, nc, bufio.NewReaderSize(nc, 64<<10), true)
	key := newKey()
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	b := []byte(req)
	if extra != nil {
		b = append(b, extra(p)...)
	}
	if err := p.write(b); err != nil {
		t.Fatalf("sending the opening handshake: %v", err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(guardTimeout))
	resp, err := http.ReadResponse(p.br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("reading the handshake response: %v", err)
	}
	checkServerHandshake(t, resp, key)
	return p
}

// checkServerHandshake checks a 101 answer as a client must (RFC 6455
// §4.1, last list).
func checkServerHandshake(t testing.TB, resp *http.Response, key string) {
	t.Helper()
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		t.Fatalf("handshake answered %s, want 101", resp.Status)
	case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"):
		t.Fatalf("Upgrade header %q, want websocket", resp.Header.Get("Upgrade"))
	case !strings.EqualFold(resp.Header.Get("Connection"), "upgrade"):
		t.Fatalf("Connection header %q, want Upgrade", resp.Header.Get("Connection"))
	case resp.Header.Get("Sec-WebSocket-Accept") != acceptFor(key):
		t.Fatalf("Sec-WebSocket-Accept %q, want %q", resp.Header.Get("Sec-WebSocket-Accept"), acceptFor(key))
	case resp.Header.Get("Sec-WebSocket-Extensions") != "":
		t.Fatalf("the server chose extension %q that was not offered", resp.Header.Get("Sec-WebSocket-Extensions"))
	case resp.Header.Get("Sec-WebSocket-Protocol") != "":
		t.Fatalf("the server chose subprotocol %q that was not offered", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
}

func base64Decode(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
