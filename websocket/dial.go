package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DialOptions configures Dial. The zero value is a safe default.
type DialOptions struct {
	// Header holds extra request headers, such as Origin, Cookie or
	// Authorization.
	Header http.Header

	// Subprotocols lists the subprotocols to offer, most preferred first.
	Subprotocols []string

	// TLSConfig configures wss:// connections. Nil uses the defaults with
	// the URL's host as ServerName.
	TLSConfig *tls.Config

	// Proxy returns the HTTP proxy for a request, or nil for none. Nil
	// means http.ProxyFromEnvironment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY);
	// use NoProxy to connect directly. The proxy is asked to CONNECT to the
	// server; a proxy URL's user info becomes Proxy-Authorization.
	Proxy func(*http.Request) (*url.URL, error)

	// NetDialContext dials TCP connections, to the server or the proxy.
	// Nil uses a net.Dialer.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// HandshakeTimeout bounds the whole opening handshake, proxy and TLS
	// included, within ctx's own deadline. Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// ReadLimit, CloseTimeout, PingInterval, PingTimeout, ReadBufferSize
	// and WriteBufferSize are as in AcceptOptions.
	ReadLimit       int64
	CloseTimeout    time.Duration
	PingInterval    time.Duration
	PingTimeout     time.Duration
	ReadBufferSize  int
	WriteBufferSize int

	// Compression offers permessage-deflate (RFC 7692). Nil offers none.
	Compression *CompressionOptions

	// OnPing and OnPong are as in AcceptOptions.
	OnPing func(payload []byte)
	OnPong func(payload []byte)
}

// NoProxy is a DialOptions.Proxy that never uses a proxy.
func NoProxy(*http.Request) (*url.URL, error) { return nil, nil }

// ErrBadHandshake is wrapped by the error of Dial when the server's answer
// is not a valid WebSocket handshake response. Dial then also returns the
// response, with up to 64 KiB of its body, for inspection.
var ErrBadHandshake = errors.New("websocket: bad handshake response")

// maxErrorBody is how much of a failed handshake's body Dial keeps.
const maxErrorBody = 64 << 10

// Dial opens a WebSocket connection to rawURL (ws://, wss://, or http://
// and https:// as synonyms) and performs the client handshake (RFC 6455
// §4.1). The response is returned in every case where one was received, so
// that a failed handshake can be inspected.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("websocket: dial: %w", err)
	}
	secure := false
	switch u.Scheme {
	case "ws", "http":
	case "wss", "https":
		secure = true
	default:
		return nil, nil, fmt.Errorf("websocket: dial: URL scheme must be ws or wss, not %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, nil, fmt.Errorf("websocket: dial: URL %q has no host", rawURL)
	}
	if u.Fragment != "" {
		return nil, nil, errors.New("websocket: dial: a WebSocket URL may not have a fragment")
	}
	timeout := opts.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// Every mistake in the options is reported before anything is dialed.
	key := newHandshakeKey()
	request, err := handshakeRequest(u, key, opts)
	if err != nil {
		return nil, nil, err
	}

	hostPort := u.Host
	if u.Port() == "" {
		if secure {
			hostPort = net.JoinHostPort(u.Hostname(), "443")
		} else {
			hostPort = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	nc, err := dialTransport(ctx, u, hostPort, secure, opts)
	if err != nil {
		return nil, nil, err
	}
	// From here on, ctx bounds every read and write of the handshake.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(aLongTimeAgo) })
	c, resp, err := clientHandshake(nc, u, key, request, opts)
	if !stop() || ctx.Err() != nil {
		nc.Close()
		return nil, resp, fmt.Errorf("websocket: dial %s: %w", u.Redacted(), context.Cause(ctx))
	}
	if err != nil {
		nc.Close()
		return nil, resp, err
	}
	return c, resp, nil
}

// dialTransport opens the TCP connection, through a proxy when one is
// configured, and the TLS session for wss.
func dialTransport(ctx context.Context, u *url.URL, hostPort string, secure bool, opts *DialOptions) (net.Conn, error) {
	dial := opts.NetDialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	proxyFn := opts.Proxy
	if proxyFn == nil {
		proxyFn = http.ProxyFromEnvironment
	}
	httpURL := *u
	httpURL.Scheme = "http"
	if secure {
		httpURL.Scheme = "https"
	}
	proxyURL, err := proxyFn(&http.Request{URL: &httpURL, Header: http.Header{}})
	if err != nil {
		return nil, fmt.Errorf("websocket: choosing a proxy: %w", err)
	}
	var nc net.Conn
	if proxyURL != nil {
		nc, err = dialProxy(ctx, dial, proxyURL, hostPort)
	} else {
		nc, err = dial(ctx, "tcp", hostPort)
		if err != nil {
			err = fmt.Errorf("websocket: dial %s: %w", hostPort, err)
		}
	}
	if err != nil {
		return nil, err
	}
	if !secure {
		return nc, nil
	}
	cfg := opts.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	// The connection speaks HTTP/1.1 after TLS; never let ALPN pick h2.
	cfg.NextProtos = []string{"http/1.1"}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: TLS handshake with %s: %w", hostPort, err)
	}
	return tc, nil
}

// newHandshakeKey returns a fresh Sec-WebSocket-Key: 16 random bytes in
// base64 (RFC 6455 §4.1).
func newHandshakeKey() string {
	var keyRaw [16]byte
	_, _ = rand.Read(keyRaw[:])
	return base64.StdEncoding.EncodeToString(keyRaw[:])
}

// handshakeRequest builds the opening request, refusing options that
// cannot make a valid one.
func handshakeRequest(u *url.URL, key string, opts *DialOptions) (string, error) {
	var b strings.Builder
	b.WriteString("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n")
	b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n")
	if len(opts.Subprotocols) > 0 {
		for _, sp := range opts.Subprotocols {
			if !isToken(sp) {
				return "", fmt.Errorf("websocket: dial: subprotocol %q is not an HTTP token (RFC 6455 §4.1): use letters, digits and !#$%%&'*+-.^_`|~ only", sp)
			}
		}
		b.WriteString("Sec-WebSocket-Protocol: " + strings.Join(opts.Subprotocols, ", ") + "\r\n")
	}
	if opts.Compression != nil {
		if err := opts.Compression.validate(); err != nil {
			return "", err
		}
		b.WriteString("Sec-WebSocket-Extensions: " + deflateClientOffer(opts.Compression) + "\r\n")
	}
	if u.User != nil && !hasHeader(opts.Header, "Authorization") {
		pw, _ := u.User.Password()
		b.WriteString("Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw)) + "\r\n")
	}
	for k, vs := range opts.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Host", "Upgrade", "Connection", "Sec-Websocket-Version", "Sec-Websocket-Key", "Sec-Websocket-Extensions":
			return "", fmt.Errorf("websocket: dial: header %s is set by Dial and may not be given in DialOptions.Header", k)
		case "Sec-Websocket-Protocol":
			return "", errors.New("websocket: dial: use DialOptions.Subprotocols, not a Sec-WebSocket-Protocol header")
		}
		for _, v := range vs {
			if strings.ContainsAny(k, "\r\n:") || strings.ContainsAny(v, "\r\n") {
				return "", fmt.Errorf("websocket: dial: header %q has a line break or colon", k)
			}
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.String(), nil
}

// clientHandshake sends the opening request and checks the answer.
func clientHandshake(nc net.Conn, u *url.URL, key, request string, opts *DialOptions) (*Conn, *http.Response, error) {
	if _, err := io.WriteString(nc, request); err != nil {
		return nil, nil, fmt.Errorf("websocket: sending the handshake: %w", err)
	}

	br := bufio.NewReaderSize(nc, 4096)
	req := &http.Request{Method: http.MethodGet, URL: u}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, fmt.Errorf("websocket: reading the handshake response: %w", err)
	}
	fail := func(format string, args ...any) (*Conn, *http.Response, error) {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil, resp, fmt.Errorf("%w: "+format, append([]any{ErrBadHandshake}, args...)...)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fail("the server answered %s instead of 101 Switching Protocols", resp.Status)
	}
	if !headerHasToken(resp.Header, "Upgrade", "websocket") {
		return fail(`Upgrade header is %q, not "websocket"`, resp.Header.Get("Upgrade"))
	}
	if !headerHasToken(resp.Header, "Connection", "upgrade") {
		return fail(`Connection header is %q, not "Upgrade"`, resp.Header.Get("Connection"))
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != acceptKey(key) {
		return fail("Sec-WebSocket-Accept is %q, expected %q", got, acceptKey(key))
	}
	subprotocol := ""
	if sp := resp.Header.Values("Sec-WebSocket-Protocol"); len(sp) > 0 {
		subprotocol = strings.TrimSpace(strings.Join(sp, ","))
		found := false
		for _, o := range opts.Subprotocols {
			if o == subprotocol {
				found = true
			}
		}
		if !found {
			return fail("the server chose subprotocol %q, which was not offered", subprotocol)
		}
	}
	cfg := newConnConfig(opts.ReadLimit, opts.CloseTimeout, opts.PingInterval, opts.PingTimeout, opts.ReadBufferSize, opts.WriteBufferSize)
	cfg.onPing, cfg.onPong = opts.OnPing, opts.OnPong
	extensions, err := cfg.negotiateClient(resp.Header.Values("Sec-WebSocket-Extensions"), opts.Compression)
	if err != nil {
		return fail("%v", err)
	}
	resp.Body = http.NoBody
	var buffered []byte
	if n := br.Buffered(); n > 0 {
		buffered, _ = br.Peek(n)
	}
	c := newConn(nc, true, cfg, buffered)
	c.setHandshake(subprotocol, extensions)
	return c, resp, nil
}

// dialProxy connects to the proxy and asks it to CONNECT to hostPort.
func dialProxy(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), proxyURL *url.URL, hostPort string) (net.Conn, error) {
	paddr := proxyURL.Host
	if proxyURL.Port() == "" {
		switch proxyURL.Scheme {
		case "https":
			paddr = net.JoinHostPort(proxyURL.Hostname(), "443")
		default:
			paddr = net.JoinHostPort(proxyURL.Hostname(), "80")
		}
	}
	switch proxyURL.Scheme {
	case "http", "https", "":
	default:
		return nil, fmt.Errorf("websocket: proxy scheme %q is not supported; use http or https", proxyURL.Scheme)
	}
	nc, err := dial(ctx, "tcp", paddr)
	if err != nil {
		return nil, fmt.Errorf("websocket: dial proxy %s: %w", paddr, err)
	}
	if proxyURL.Scheme == "https" {
		tc := tls.Client(nc, &tls.Config{ServerName: proxyURL.Hostname(), NextProtos: []string{"http/1.1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("websocket: TLS handshake with proxy %s: %w", paddr, err)
		}
		nc = tc
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(aLongTimeAgo) })
	defer stop()
	var b strings.Builder
	b.WriteString("CONNECT " + hostPort + " HTTP/1.1\r\nHost: " + hostPort + "\r\n")
	if u := proxyURL.User; u != nil {
		pw, _ := u.Password()
		b.WriteString("Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)) + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(nc, b.String()); err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: sending CONNECT to proxy %s: %w", paddr, err)
	}
	// Read the proxy's answer byte by byte up to the blank line, so that
	// nothing the server sends after it is swallowed by a buffer.
	head, err := readHeaderBlock(nc, 16<<10)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: reading the answer of proxy %s: %w", paddr, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), &http.Request{Method: http.MethodConnect})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: reading the answer of proxy %s: %w", paddr, err)
	}
	if resp.StatusCode != http.StatusOK {
		nc.Close()
		hint := "check that the proxy allows CONNECT to this host and port"
		switch resp.StatusCode {
		case http.StatusProxyAuthRequired, http.StatusUnauthorized:
			hint = "check the credentials in the proxy URL (http://user:password@host:port)"
		}
		return nil, fmt.Errorf("websocket: proxy %s refused CONNECT %s: %s; %s", paddr, hostPort, resp.Status, hint)
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, nil
}

// readHeaderBlock reads an HTTP header block up to and including the empty
// line, at most limit bytes.
func readHeaderBlock(r io.Reader, limit int) ([]byte, error) {
	var buf []byte
	var one [1]byte
	for len(buf) < limit {
		if _, err := io.ReadFull(r, one[:]); err != nil {
			return nil, err
		}
		buf = append(buf, one[0])
		if bytes.HasSuffix(buf, []byte("\r\n\r\n")) {
			return buf, nil
		}
	}
	return nil, fmt.Errorf("header block longer than %d bytes", limit)
}

// isToken reports whether s is a token of RFC 9110 §5.6.2, as a
// subprotocol name must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// hasHeader reports whether h has the header name under any spelling of
// its key (a map literal need not use canonical keys).
func hasHeader(h http.Header, name string) bool {
	for k := range h {
		if http.CanonicalHeaderKey(k) == name {
			return true
		}
	}
	return false
}
