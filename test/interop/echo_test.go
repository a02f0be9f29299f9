package interop

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// connReport is what our echo server saw on one connection.
type connReport struct {
	Extensions  string
	Messages    int
	CloseCode   websocket.StatusCode // CloseStatus of the final read error
	CloseReason string               // the peer's close reason, if it closed
	SentClose   websocket.StatusCode // the code we closed with on "cmd:close", or 0
	CloseErr    error                // what our Close returned
	Err         error                // the error that ended the connection
}

// echoServer is our Accept side: it echoes every message and obeys the
// control messages "cmd:close CODE REASON" and "cmd:ping" (see
// python/ws_peer.py). It reports each connection when it ends.
type echoServer struct {
	URL     string // ws://127.0.0.1:PORT/ws
	HTTPURL string // http://127.0.0.1:PORT
	Bytes   *byteCounter
	opts    *websocket.AcceptOptions
	reports chan connReport

	mu    sync.Mutex
	conns map[*websocket.Conn]bool
}

// serverConfig configures startEchoServer.
type serverConfig struct {
	Accept *websocket.AcceptOptions
	// Extra handlers served beside /ws, by ServeMux pattern.
	Extra map[string]http.Handler
	// CountBytes wraps accepted connections to count their bytes into
	// echoServer.Bytes. Off by default, so that the library sees the real
	// *net.TCPConn.
	CountBytes bool
}

// startEchoServer serves the echo endpoint at /ws, and extra handlers, on a
// free loopback port until the test ends.
func startEchoServer(t *testing.T, cfg serverConfig) *echoServer {
	t.Helper()
	s := &echoServer{
		Bytes:   &byteCounter{},
		opts:    cfg.Accept,
		reports: make(chan connReport, 64),
		conns:   map[*websocket.Conn]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.serveWS)
	for pattern, h := range cfg.Extra {
		mux.Handle(pattern, h)
	}
	srv := httptest.NewUnstartedServer(mux)
	if cfg.CountBytes {
		srv.Listener = &countingListener{Listener: srv.Listener, c: s.Bytes}
	}
	srv.Start()
	s.HTTPURL = srv.URL
	s.URL = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	t.Cleanup(func() {
		srv.Close()
		// Hijacked connections outlive srv.Close: end them so that no
		// handler goroutine survives the test.
		s.mu.Lock()
		for c := range s.conns {
			_ = c.CloseNow()
		}
		s.mu.Unlock()
	})
	return s
}

func (s *echoServer) serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, s.opts)
	if err != nil {
		s.reports <- connReport{Err: err, CloseCode: -1}
		return
	}
	s.mu.Lock()
	s.conns[c] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.CloseNow()
	}()
	s.reports <- s.echo(c)
}

// echo runs one connection to its end.
func (s *echoServer) echo(c *websocket.Conn) connReport {
	ctx := context.Background()
	rep := connReport{Extensions: c.Extensions(), CloseCode: -1}
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			rep.Err = err
			rep.CloseCode = websocket.CloseStatus(err)
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				rep.CloseReason = ce.Reason
			}
			return rep
		}
		rep.Messages++
		if typ == websocket.MessageText {
			if code, reason, ok := parseCloseCommand(msg); ok {
				rep.SentClose = code
				rep.CloseErr = c.Close(code, reason)
				return rep
			}
			if string(msg) == "cmd:ping" {
				// Ping waits for the pong, which this loop reads.
				go func() {
					reply := "cmd:pinged"
					if _, err := c.Ping(ctx); err != nil {
						reply = "cmd:ping failed: " + err.Error()
					}
					_ = c.Write(ctx, websocket.MessageText, []byte(reply))
				}()
				continue
			}
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			rep.Err = err
			return rep
		}
	}
}

// parseCloseCommand decodes "cmd:close CODE REASON".
func parseCloseCommand(msg []byte) (websocket.StatusCode, string, bool) {
	rest, ok := bytes.CutPrefix(msg, []byte("cmd:close "))
	if !ok {
		return 0, "", false
	}
	codeText, reason, _ := strings.Cut(string(rest), " ")
	code, err := strconv.Atoi(codeText)
	if err != nil {
		return 0, "", false
	}
	return websocket.StatusCode(code), reason, true
}

// next returns the report of the next connection to end.
func (s *echoServer) next(t *testing.T) connReport {
	t.Helper()
	select {
	case r := <-s.reports:
		return r
	case <-time.After(peerTimeout):
		t.Fatalf("no connection ended on the echo server within %v", peerTimeout)
	}
	return connReport{}
}

// byteCounter counts the bytes that crossed connections, both ways.
type byteCounter struct {
	read, written atomic.Int64
}

// Reset zeroes the counts.
func (b *byteCounter) Reset() {
	b.read.Store(0)
	b.written.Store(0)
}

type countingConn struct {
	net.Conn
	c *byteCounter
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.c.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.c.written.Add(int64(n))
	return n, err
}

type countingListener struct {
	net.Listener
	c *byteCounter
}

func (l *countingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: nc, c: l.c}, nil
}

// countingDialer is a DialOptions.NetDialContext that counts bytes into c.
func countingDialer(c *byteCounter) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: nc, c: c}, nil
	}
}
