package websocket

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"

	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// AcceptOptions configures Accept. The zero value is a safe default.
type AcceptOptions struct {
	// Subprotocols lists the subprotocols the server speaks, most preferred
	// first. The first one the client also offers is chosen.
	Subprotocols []string

	// OriginPatterns lists hosts, besides the request's own Host, that a
	// browser page may connect from. Each is a path.Match pattern matched
	// against the Origin's host (with port, if any), or against
	// "scheme://host" when the pattern contains "://". Requests without an
	// Origin header (non-browser clients) are always allowed.
	OriginPatterns []string

	// InsecureSkipVerify disables the Origin check. Any web page can then
	// open a connection with the visitor's cookies: only use it for
	// endpoints that do not rely on cookies or other ambient credentials.
	InsecureSkipVerify bool

	// ResponseHeader holds headers added to the 101 response, such as
	// Set-Cookie. They are never sent with a refusal.
	ResponseHeader http.Header

	// HandshakeTimeout bounds the writing of the handshake response.
	// Zero means DefaultHandshakeTimeout. (The request itself is read by
	// net/http: bound it with http.Server.ReadHeaderTimeout.)
	HandshakeTimeout time.Duration

	// ReadLimit is the largest message accepted, in bytes. Zero means
	// DefaultReadLimit; negative means no limit.
	ReadLimit int64

	// CloseTimeout bounds the close handshake. Zero means DefaultCloseTimeout.
	CloseTimeout time.Duration

	// PingInterval, when positive, makes the connection ping the peer at
	// that interval and close it with StatusInternalError when no pong comes
	// back within PingTimeout (default: PingInterval). Pongs are seen by the
	// reading goroutine, so the application must keep reading. Both are
	// rounded up by at most a 32nd, so that the heartbeats of many
	// connections fall due together and cost less.
	PingInterval time.Duration
	PingTimeout  time.Duration

	// ReadBufferSize and WriteBufferSize size the pooled I/O buffers.
	// Zero means DefaultBufferSize. On a TCP connection the read buffer
	// grows, up to 16 times ReadBufferSize, while reads fill it (a peer
	// with many messages in flight), and shrinks back when they do not;
	// it is borrowed from a pool only while it holds input.
	ReadBufferSize  int
	WriteBufferSize int

	// Compression enables permessage-deflate (RFC 7692) when the client
	// offers it. Nil leaves compression off.
	Compression *CompressionOptions

	// OnPing and OnPong, when set, are called by the reading goroutine
	// with the payload of each ping and pong received, before the
	// automatic answer to a ping. The payload is valid only during the
	// call. They must not block.
	OnPing func(payload []byte)
	OnPong func(payload []byte)
}

// HandshakeError is returned by Accept when the request is not a valid
// WebSocket opening handshake (a 4xx Status), or when AcceptOptions itself is
// invalid (500). Accept has already written an HTTP error response with
// Status.
type HandshakeError struct {
	// Status is the HTTP status code of the refusal, such as 400, 403 or 426.
	Status int
	// Reason says what was wrong; it is also the body of the refusal.
	Reason string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("websocket: bad handshake (HTTP %d): %s", e.Status, e.Reason)
}

// ErrNotHijackable is wrapped by the error of Accept when the
// http.ResponseWriter cannot hand over its connection: an HTTP/2 or HTTP/3
// request not using extended CONNECT, or a middleware wrapper that hides the
// hijacker and has no Unwrap method.
var ErrNotHijackable = errors.New("websocket: the ResponseWriter does not support hijacking the connection")

// Accept completes the server side of the opening handshake (RFC 6455 §4.2)
// and returns the connection. When the request is not acceptable, Accept
// writes an HTTP error response and returns an error: the handler should
// just return.
//
// Accept works behind any router or middleware whose ResponseWriter wrapper
// implements Unwrap (http.ResponseController reaches through it).
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	if r.Method == http.MethodConnect && r.ProtoMajor >= 2 {
		return acceptExtendedConnect(w, r, opts)
	}
	key, err := checkRequest(w, r, opts)
	if err != nil {
		return nil, err
	}
	subprotocol := selectSubprotocol(r, opts.Subprotocols)
	cfg := newConnConfig(opts.ReadLimit, opts.CloseTimeout, opts.PingInterval, opts.PingTimeout, opts.ReadBufferSize, opts.WriteBufferSize)
	cfg.onPing, cfg.onPong = opts.OnPing, opts.OnPong
	extensions, err := cfg.negotiateServer(r, opts.Compression)
	if err != nil {
		return nil, reject(w, http.StatusInternalServerError, err.Error())
	}

	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		err = fmt.Errorf("%w (%w); a middleware that wraps the ResponseWriter must give it back with an Unwrap() http.ResponseWriter method", ErrNotHijackable, err)
		http.Error(w, "websocket: "+err.Error(), http.StatusInternalServerError)
		return nil, err
	}
	// ResponseHeader belongs to the 101 answer only: added here, once no
	// refusal can carry it (a Set-Cookie on an error page would be wrong).
	h := w.Header()
	for k, v := range opts.ResponseHeader {
		h[k] = v
	}
	// net/http may have set deadlines from the server's timeouts; the
	// WebSocket connection lives past them.
	_ = nc.SetDeadline(time.Time{})
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	_ = nc.SetWriteDeadline(time.Now().Add(timeout))

	// The answer is built in the hijacked writer's buffer, which is ours
	// now and otherwise unused, to spare allocations per handshake.
	var b []byte
	if brw != nil && brw.Writer != nil && brw.Writer.Buffered() == 0 {
		b = brw.Writer.AvailableBuffer()
	}
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = appendAcceptKey(b, key)
	b = append(b, "\r\n"...)
	if subprotocol != "" {
		b = append(append(append(b, "Sec-WebSocket-Protocol: "...), subprotocol...), "\r\n"...)
	}
	if extensions != "" {
		b = append(append(append(b, "Sec-WebSocket-Extensions: "...), extensions...), "\r\n"...)
	}
	for k, vs := range h {
		switch http.CanonicalHeaderKey(k) {
		case "Upgrade", "Connection", "Sec-Websocket-Accept", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions", "Content-Type", "Content-Length":
			continue
		}
		for _, v := range vs {
			if strings.ContainsAny(k, "\r\n:") || strings.ContainsAny(v, "\r\n") {
				continue // never let a header value split the response
			}
			b = append(append(append(append(b, k...), ": "...), v...), "\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	if _, err := nc.Write(b); err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: writing the handshake response: %w", err)
	}
	_ = nc.SetWriteDeadline(time.Time{})

	buffered := drainBuffered(brw.Reader)
	c := newConn(nc, false, cfg, buffered)
	c.setHandshake(subprotocol, extensions)
	return c, nil
}

// drainBuffered returns the bytes the HTTP server read past the request:
// frames a client sent right behind its handshake.
func drainBuffered(br *bufio.Reader) []byte {
	if br == nil || br.Buffered() == 0 {
		return nil
	}
	p, _ := br.Peek(br.Buffered())
	return append([]byte(nil), p...)
}

// checkRequest validates the opening handshake as RFC 6455 §4.2.1 lists it
// and returns the Sec-WebSocket-Key.
func checkRequest(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (string, error) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		return "", reject(w, http.StatusMethodNotAllowed, "the method must be GET, not "+r.Method)
	}
	if !r.ProtoAtLeast(1, 1) {
		return "", reject(w, http.StatusHTTPVersionNotSupported, "the request must be HTTP/1.1 or later, not "+r.Proto)
	}
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		return "", reject(w, http.StatusUpgradeRequired, `the Upgrade header must contain "websocket"`)
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		return "", reject(w, http.StatusUpgradeRequired, `the Connection header must contain "Upgrade"`)
	}
	if r.Host == "" {
		return "", reject(w, http.StatusBadRequest, "the Host header is missing")
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		return "", reject(w, http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version "+strings.Join(v, ", ")+"; this server speaks version 13")
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return "", reject(w, http.StatusBadRequest, "exactly one Sec-WebSocket-Key header is required")
	}
	key := strings.TrimSpace(keys[0])
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		return "", reject(w, http.StatusBadRequest, "Sec-WebSocket-Key must be 16 bytes in base64")
	}
	if !opts.InsecureSkipVerify {
		if err := checkOrigin(r, opts.OriginPatterns); err != nil {
			return "", reject(w, http.StatusForbidden, err.Error())
		}
	}
	return key, nil
}

// checkOrigin allows requests without Origin, from the request's own host,
// or from a host matching one of patterns.
func checkOrigin(r *http.Request, patterns []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return fmt.Errorf("the Origin header %q is not a valid origin", origin)
	}
	if strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); err != nil {
			return fmt.Errorf("bad origin pattern %q: %w", p, err)
		} else if ok {
			return nil
		}
	}
	return fmt.Errorf("the origin %q is not allowed; add it to AcceptOptions.OriginPatterns", origin)
}

// selectSubprotocol picks the first of the server's subprotocols that the
// client offered.
func selectSubprotocol(r *http.Request, server []string) string {
	offered := headerTokens(r.Header, "Sec-WebSocket-Protocol")
	for _, s := range server {
		for _, o := range offered {
			if o == s {
				return s
			}
		}
	}
	return ""
}

// reject writes an HTTP error response and returns the matching error.
func reject(w http.ResponseWriter, status int, reason string) error {
	http.Error(w, "websocket: "+reason, status)
	return &HandshakeError{Status: status, Reason: reason}
}
