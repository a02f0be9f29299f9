package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// deflateOffer is the only permessage-deflate offer the generator makes: no
// context takeover in either direction, so that every message is compressed
// on its own. Its own frames are then compressed once, up front, and the
// server's echo of a given message is always the same bytes.
const deflateOffer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Target says where generator connections go and how they shake hands.
type Target struct {
	// URL is the ws:// or wss:// URL to connect to.
	URL *url.URL
	// Header holds extra request headers (Authorization, Origin...).
	Header http.Header
	// TLS configures wss:// connections; nil uses the defaults.
	TLS *tls.Config
	// Compress offers permessage-deflate without context takeover.
	Compress bool
	// Sources are the local addresses connections are spread over, the
	// i-th connection using Sources[i%len(Sources)]; empty lets the kernel
	// choose. Each source address has its own range of ephemeral ports.
	Sources []net.IP
	// Timeout bounds the TCP connect and the handshake; zero means 10 s.
	Timeout time.Duration

	once    sync.Once
	dialers []*net.Dialer
	request []byte // the handshake request up to the key's value
	tail    []byte // the rest of the request after the key
	addr    string
}

// ParseTarget checks rawURL and returns a Target for it.
func ParseTarget(rawURL string) (*Target, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("URL %q must start with ws:// or wss://", rawURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("URL %q has no host", rawURL)
	}
	return &Target{URL: u}, nil
}

// prepare builds what every dial shares, once: runs in one process may
// share a Target.
func (t *Target) prepare() { t.once.Do(t.build) }

func (t *Target) build() {
	if t.Timeout <= 0 {
		t.Timeout = 10 * time.Second
	}
	host := t.URL.Host
	t.addr = host
	if t.URL.Port() == "" {
		port := "80"
		if t.URL.Scheme == "wss" {
			port = "443"
		}
		t.addr = net.JoinHostPort(t.URL.Hostname(), port)
	}
	path := t.URL.RequestURI()
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")
	if t.Compress {
		b.WriteString("Sec-WebSocket-Extensions: " + deflateOffer + "\r\n")
	}
	for k, vs := range t.Header {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("Sec-WebSocket-Key: ")
	t.request = []byte(b.String())
	t.tail = []byte("\r\n\r\n")
	if len(t.Sources) == 0 {
		t.dialers = []*net.Dialer{{Timeout: t.Timeout}}
		return
	}
	for _, ip := range t.Sources {
		t.dialers = append(t.dialers, &net.Dialer{Timeout: t.Timeout, LocalAddr: &net.TCPAddr{IP: ip}})
	}
}

// rawConn is a connection after a successful handshake.
type rawConn struct {
	nc      net.Conn
	buf     []byte // read buffer; buf[r:w] is unread
	r, w    int
	deflate bool // permessage-deflate was negotiated
}

// dial opens connection number i and performs the opening handshake
// (RFC 6455 §4.1). bufSize is the size of its read buffer.
func (t *Target) dial(ctx context.Context, i, bufSize int) (*rawConn, error) {
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	d := t.dialers[i%len(t.dialers)]
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", t.addr, err)
	}
	if t.URL.Scheme == "wss" {
		cfg := &tls.Config{}
		if t.TLS != nil {
			cfg = t.TLS.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = t.URL.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", t.addr, err)
		}
		nc = tc
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	c := &rawConn{nc: nc, buf: make([]byte, max(bufSize, 4096))}
	if err := t.handshake(c); err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("handshake with %s did not finish within %v", t.addr, t.Timeout)
		}
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

func (t *Target) handshake(c *rawConn) error {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	req := make([]byte, 0, len(t.request)+len(key)+len(t.tail))
	req = append(append(append(req, t.request...), key...), t.tail...)
	if _, err := c.nc.Write(req); err != nil {
		return fmt.Errorf("send the handshake request: %w", err)
	}
	end := -1
	for end < 0 {
		if c.w == len(c.buf) {
			return errors.New("the handshake response is larger than the read buffer")
		}
		n, err := c.nc.Read(c.buf[c.w:])
		c.w += n
		if end = bytes.Index(c.buf[:c.w], []byte("\r\n\r\n")); end >= 0 {
			break
		}
		if err != nil {
			return fmt.Errorf("read the handshake response: %w", err)
		}
	}
	c.r = end + 4
	deflate, err := checkUpgrade(string(c.buf[:end]), key, t.Compress)
	c.deflate = deflate
	return err
}

// checkUpgrade validates a handshake response head (without its final blank
// line) and reports whether permessage-deflate was agreed.
func checkUpgrade(head, key string, offered bool) (deflate bool, err error) {
	status, rest, _ := strings.Cut(head, "\r\n")
	if !strings.HasPrefix(status, "HTTP/1.1 101") {
		return false, fmt.Errorf("the server answered %q instead of 101 Switching Protocols", status)
	}
	sum := sha1.Sum([]byte(key + acceptGUID))
	want := base64.StdEncoding.EncodeToString(sum[:])
	var accept, ext string
	for _, line := range strings.Split(rest, "\r\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "sec-websocket-accept":
			accept = val
		case "sec-websocket-extensions":
			if ext != "" {
				ext += ", "
			}
			ext += val
		}
	}
	if accept != want {
		return false, fmt.Errorf("wrong Sec-WebSocket-Accept %q (want %q)", accept, want)
	}
	if ext == "" {
		return false, nil
	}
	if !offered {
		return false, fmt.Errorf("the server chose extensions %q that were not offered", ext)
	}
	params := strings.Split(ext, ";")
	if strings.TrimSpace(params[0]) != "permessage-deflate" || strings.Contains(ext, ",") {
		return false, fmt.Errorf("the server answered extensions %q; only permessage-deflate was offered", ext)
	}
	serverNoTakeover := false
	for _, p := range params[1:] {
		if strings.TrimSpace(p) == "server_no_context_takeover" {
			serverNoTakeover = true
		}
	}
	if !serverNoTakeover {
		return false, fmt.Errorf("the server accepted permessage-deflate without server_no_context_takeover (%q); the generator needs it to check echoes cheaply", ext)
	}
	return true, nil
}

// LoopbackSources returns n source addresses 127.B.x.y, counting from
// 127.B.0.1, for a target on 127.0.0.0/8: every one has its own range of
// ephemeral ports, so n of them carry n times as many connections. B keeps
// the blocks of several generator processes apart. It returns nil when the
// target is not an IPv4 loopback address, where spreading does not apply.
func LoopbackSources(host string, n, block int) []net.IP {
	ip := net.ParseIP(host)
	if host == "localhost" {
		ip = net.IPv4(127, 0, 0, 1)
	}
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() || n <= 0 {
		return nil
	}
	out := make([]net.IP, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, net.IPv4(127, byte(block), byte(i>>8), byte(i)))
	}
	return out
}
