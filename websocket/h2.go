package websocket

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// acceptExtendedConnect completes a WebSocket handshake carried by an
// HTTP/2 (RFC 8441) or HTTP/3 (RFC 9220) extended CONNECT request: the
// stream itself becomes the connection. The handler must not return while
// the connection is in use, because net/http ends the stream when it does.
//
// Go's HTTP/2 server accepts extended CONNECT only when the process starts
// with GODEBUG=http2xconnect=1.
func acceptExtendedConnect(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	proto := r.Header.Get(":protocol")
	if proto == "" && r.ProtoMajor == 3 {
		proto = r.Proto // quic-go hands the :protocol value over in Proto
	}
	if !strings.EqualFold(proto, "websocket") {
		return nil, reject(w, http.StatusBadRequest, "extended CONNECT for protocol "+proto+", not websocket")
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		return nil, reject(w, http.StatusBadRequest, "unsupported Sec-WebSocket-Version "+strings.Join(v, ", ")+"; this server speaks version 13")
	}
	if !opts.InsecureSkipVerify {
		if err := checkOrigin(r, opts.OriginPatterns); err != nil {
			return nil, reject(w, http.StatusForbidden, err.Error())
		}
	}
	subprotocol := selectSubprotocol(r, opts.Subprotocols)
	cfg := newConnConfig(opts.ReadLimit, opts.CloseTimeout, opts.PingInterval, opts.PingTimeout, opts.ReadBufferSize, opts.WriteBufferSize)
	cfg.onPing, cfg.onPong = opts.OnPing, opts.OnPong
	extensions, err := cfg.negotiateServer(r, opts.Compression)
	if err != nil {
		// Invalid CompressionOptions: the server's fault, as in Accept.
		return nil, reject(w, http.StatusInternalServerError, err.Error())
	}
	h := w.Header()
	for k, v := range opts.ResponseHeader {
		h[k] = v
	}
	if subprotocol != "" {
		h.Set("Sec-WebSocket-Protocol", subprotocol)
	}
	if extensions != "" {
		h.Set("Sec-WebSocket-Extensions", extensions)
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return nil, fmt.Errorf("websocket: flushing the extended CONNECT response: %w", err)
	}
	sc := &streamConn{body: r.Body, w: w, rc: rc, remote: addrString(r.RemoteAddr), local: localAddr(r)}
	c := newConn(sc, false, cfg, nil)
	c.setHandshake(subprotocol, extensions)
	return c, nil
}

// streamConn presents an HTTP/2 or HTTP/3 request stream as a net.Conn:
// reads come from the request body, writes go to the response and are
// flushed at once.
type streamConn struct {
	body   io.ReadCloser
	w      http.ResponseWriter
	rc     *http.ResponseController
	remote net.Addr
	local  net.Addr
}

func (s *streamConn) Read(p []byte) (int, error) { return s.body.Read(p) }

func (s *streamConn) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, s.rc.Flush()
}

func (s *streamConn) Close() error {
	// Closing the body ends our half; the stream ends when the handler
	// returns.
	return s.body.Close()
}

func (s *streamConn) LocalAddr() net.Addr  { return s.local }
func (s *streamConn) RemoteAddr() net.Addr { return s.remote }

func (s *streamConn) SetDeadline(t time.Time) error {
	return errors.Join(s.rc.SetReadDeadline(t), s.rc.SetWriteDeadline(t))
}
func (s *streamConn) SetReadDeadline(t time.Time) error  { return s.rc.SetReadDeadline(t) }
func (s *streamConn) SetWriteDeadline(t time.Time) error { return s.rc.SetWriteDeadline(t) }

// addrString is a net.Addr for an address known only as text.
type addrString string

func (a addrString) Network() string { return "tcp" }
func (a addrString) String() string  { return string(a) }

func localAddr(r *http.Request) net.Addr {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a
	}
	return addrString("")
}
