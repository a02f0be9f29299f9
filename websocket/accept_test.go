package websocket

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// upgradeRequest is a valid RFC 6455 opening handshake for the HTTP/1.1
// path of Accept.
func upgradeRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/ws", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate")
	return r
}

// extendedConnectRequest is an RFC 8441 handshake, as net/http hands it to
// a handler.
func extendedConnectRequest() *http.Request {
	r := httptest.NewRequest(http.MethodConnect, "https://example.com/ws", nil)
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.Header.Set(":protocol", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Extensions", "permessage-deflate")
	return r
}

// The refusals that happen after the request itself was found valid: the
// server's own options are invalid, or the ResponseWriter cannot be
// hijacked. Each answers 500, and none may carry AcceptOptions.ResponseHeader,
// which is meant for the 101 answer (a cookie set on an error page is a
// cookie the application never meant to set).
func TestAcceptRefusalsAfterAValidRequest(t *testing.T) {
	cookie := http.Header{"Set-Cookie": {"session=1"}}
	badCompression := &CompressionOptions{Level: 12}
	for _, tc := range []struct {
		name      string
		req       func() *http.Request
		opts      *AcceptOptions
		hijackErr bool // want ErrNotHijackable rather than a *HandshakeError
	}{
		{"invalid compression options", upgradeRequest, &AcceptOptions{ResponseHeader: cookie, Compression: badCompression}, false},
		{"not hijackable", upgradeRequest, &AcceptOptions{ResponseHeader: cookie}, true},
		{"extended CONNECT, invalid compression options", extendedConnectRequest, &AcceptOptions{ResponseHeader: cookie, Compression: badCompression}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder() // implements no http.Hijacker
			c, err := Accept(w, tc.req(), tc.opts)
			if c != nil {
				t.Fatal("Accept returned a connection")
			}
			if w.Code != http.StatusInternalServerError {
				t.Errorf("status %d, want 500", w.Code)
			}
			if tc.hijackErr {
				if !errors.Is(err, ErrNotHijackable) {
					t.Errorf("err = %v, want ErrNotHijackable", err)
				}
			} else {
				var he *HandshakeError
				if !errors.As(err, &he) || he.Status != http.StatusInternalServerError {
					t.Errorf("err = %v, want a *HandshakeError with status 500", err)
				}
			}
			if got := w.Result().Header.Values("Set-Cookie"); len(got) != 0 {
				t.Errorf("the refusal carries ResponseHeader's Set-Cookie %q", got)
			}
		})
	}
}
