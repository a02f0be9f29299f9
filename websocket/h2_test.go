//lint:file-ignore SA1019 net/http.Transport refuses the :protocol pseudo-header of RFC 8441; x/net/http2.Transport still sends it.

package websocket

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// pipeConn is a client-side net.Conn over an HTTP/2 stream: the request
// body pipe out, the response body in.
type pipeConn struct {
	w *io.PipeWriter
	r io.ReadCloser
}

func (p *pipeConn) Read(b []byte) (int, error)       { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error)      { return p.w.Write(b) }
func (p *pipeConn) Close() error                     { p.w.Close(); return p.r.Close() }
func (p *pipeConn) LocalAddr() net.Addr              { return addrString("h2-client") }
func (p *pipeConn) RemoteAddr() net.Addr             { return addrString("h2-server") }
func (p *pipeConn) SetDeadline(time.Time) error      { return nil }
func (p *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (p *pipeConn) SetWriteDeadline(time.Time) error { return nil }

// TestHTTP2ExtendedConnect runs a WebSocket over an HTTP/2 stream (RFC
// 8441). Go's server only accepts extended CONNECT when the process starts
// with GODEBUG=http2xconnect=1, so the test re-runs itself with it.
func TestHTTP2ExtendedConnect(t *testing.T) {
	if !strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHTTP2ExtendedConnect$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "GODEBUG=http2xconnect=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestHTTP2ExtendedConnect") {
			t.Fatalf("HTTP/2 run failed: %v\n%s", err, out)
		}
		return
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{Subprotocols: []string{"chat"}})
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		if r.ProtoMajor != 2 {
			t.Errorf("request over %s, want HTTP/2", r.Proto)
		}
		defer c.CloseNow()
		for {
			typ, p, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, p); err != nil {
				return
			}
		}
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)

	tr := &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	t.Cleanup(tr.CloseIdleConnections)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodConnect, srv.URL+"/ws", pr)
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Protocol", "chat")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req = req.WithContext(ctx)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("extended CONNECT: %v", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Sec-WebSocket-Protocol") != "chat" {
		t.Fatalf("response %d, protocol %q", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	c := newConn(&pipeConn{w: pw, r: resp.Body}, true, newConnConfig(0, 0, 0, 0, 0, 0), nil)
	for _, msg := range []string{"over", "HTTP/2", strings.Repeat("big ", 50000)} {
		if err := c.Write(ctx, MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, p, err := c.Read(ctx)
		if err != nil || string(p) != msg {
			t.Fatalf("echo over HTTP/2: %d bytes, %v", len(p), err)
		}
	}
	c.CloseNow()
}
