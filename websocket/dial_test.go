package websocket

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Every mistake in Dial's arguments is refused before anything is dialed:
// no connection to the server or a proxy is opened (or tunnelled) for a
// request that could not be sent, and the error says what to change.
func TestDialRefusesBadArgumentsBeforeDialing(t *testing.T) {
	socks, _ := url.Parse("socks5://127.0.0.1:1080")
	for _, tc := range []struct {
		name string
		url  string
		opts DialOptions
		want string // in the error
	}{
		{"scheme", "ftp://example.com/", DialOptions{}, "scheme must be ws or wss"},
		{"no host", "ws:///chat", DialOptions{}, "has no host"},
		{"fragment", "ws://example.com/chat#top", DialOptions{}, "fragment"},
		{"unparsable URL", "ws://exa mple.com/", DialOptions{}, "invalid character"},
		{"Host header", "ws://example.com/", DialOptions{Header: http.Header{"Host": {"other"}}}, "set by Dial"},
		{"key header", "ws://example.com/", DialOptions{Header: http.Header{"Sec-WebSocket-Key": {"x"}}}, "set by Dial"},
		{"extensions header", "ws://example.com/", DialOptions{Header: http.Header{"sec-websocket-extensions": {"x"}}}, "set by Dial"},
		{"protocol header", "ws://example.com/", DialOptions{Header: http.Header{"Sec-WebSocket-Protocol": {"chat"}}}, "DialOptions.Subprotocols"},
		{"header value with CRLF", "ws://example.com/", DialOptions{Header: http.Header{"X-A": {"1\r\nX-Injected: yes"}}}, "line break"},
		{"header name with colon", "ws://example.com/", DialOptions{Header: http.Header{"X-A: b": {"1"}}}, "line break or colon"},
		{"subprotocol with CRLF", "ws://example.com/", DialOptions{Subprotocols: []string{"chat\r\nX-Injected: yes"}}, "not an HTTP token"},
		{"subprotocol with a comma", "ws://example.com/", DialOptions{Subprotocols: []string{"a,b"}}, "not an HTTP token"},
		{"subprotocol with a space", "ws://example.com/", DialOptions{Subprotocols: []string{"chat v2"}}, "not an HTTP token"},
		{"empty subprotocol", "ws://example.com/", DialOptions{Subprotocols: []string{""}}, "not an HTTP token"},
		{"compression options", "ws://example.com/", DialOptions{Compression: &CompressionOptions{ServerMaxWindowBits: 16}}, "ServerMaxWindowBits 16"},
		{"proxy scheme", "ws://example.com/", DialOptions{Proxy: http.ProxyURL(socks)}, `proxy scheme "socks5" is not supported`},
		{"proxy function fails", "ws://example.com/", DialOptions{Proxy: func(*http.Request) (*url.URL, error) { return nil, errors.New("no proxy today") }}, "no proxy today"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dials atomic.Int32
			opts := tc.opts
			opts.NetDialContext = func(context.Context, string, string) (net.Conn, error) {
				dials.Add(1)
				return nil, errors.New("dialed")
			}
			if opts.Proxy == nil {
				opts.Proxy = NoProxy
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := Dial(ctx, tc.url, &opts)
			if c != nil || resp != nil {
				t.Fatal("Dial returned a connection or a response")
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
			if n := dials.Load(); n != 0 {
				t.Errorf("Dial opened %d connections before refusing", n)
			}
		})
	}
}

// The failures of the transport itself: nothing listening, and a TLS
// server whose certificate is not trusted.
func TestDialTransportFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(tlsSrv.Close)

	for _, tc := range []struct {
		name, url, want string
	}{
		{"connection refused", "ws://" + closedAddr + "/", "dial " + closedAddr},
		{"untrusted certificate", "wss://" + strings.TrimPrefix(tlsSrv.URL, "https://") + "/", "TLS handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := Dial(ctx, tc.url, &DialOptions{Proxy: NoProxy})
			if c != nil || resp != nil {
				t.Fatal("Dial returned a connection or a response")
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// User info in the URL becomes Basic credentials, unless the caller gives
// an Authorization header, under whatever spelling of its name: never
// two Authorization headers.
func TestDialURLCredentials(t *testing.T) {
	got := make(chan []string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Values("Authorization")
		if c, err := Accept(w, r, nil); err == nil {
			c.CloseNow()
		}
	}))
	t.Cleanup(srv.Close)
	u := "ws://alice:s3cret@" + strings.TrimPrefix(srv.URL, "http://") + "/"
	for _, tc := range []struct {
		name   string
		header http.Header
		want   string
	}{
		{"from the URL", nil, "Basic YWxpY2U6czNjcmV0"},
		{"caller's header wins", http.Header{"Authorization": {"Bearer t"}}, "Bearer t"},
		{"caller's header in lower case wins", http.Header{"authorization": {"Bearer t"}}, "Bearer t"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, _, err := Dial(ctx, u, &DialOptions{Header: tc.header, Proxy: NoProxy})
			if err != nil {
				t.Fatal(err)
			}
			c.CloseNow()
			if vs := <-got; len(vs) != 1 || vs[0] != tc.want {
				t.Errorf("Authorization headers %q, want exactly %q", vs, tc.want)
			}
		})
	}
}
