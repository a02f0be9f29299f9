package websocket

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
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

// statusRecorder is a typical logging middleware's wrapper: it hides the
// http.Hijacker of the writer it wraps, and gives that writer back through
// Unwrap, which http.ResponseController follows.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// opaqueWrapper hides the writer it wraps completely.
type opaqueWrapper struct{ w http.ResponseWriter }

func (o opaqueWrapper) Header() http.Header         { return o.w.Header() }
func (o opaqueWrapper) Write(p []byte) (int, error) { return o.w.Write(p) }
func (o opaqueWrapper) WriteHeader(code int)        { o.w.WriteHeader(code) }

// Accept works behind middleware whose wrapper has Unwrap, and says how to
// fix a wrapper that has none.
func TestAcceptBehindMiddleware(t *testing.T) {
	accepted := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		accepted <- err
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, p, err := c.Read(r.Context())
		if err == nil {
			_ = c.Write(r.Context(), typ, p)
		}
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("opaque") != "" {
			mux.ServeHTTP(opaqueWrapper{w}, r)
			return
		}
		mux.ServeHTTP(&statusRecorder{ResponseWriter: w}, r)
	}))
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"

	c := dialT(t, url, nil)
	if err := <-accepted; err != nil {
		t.Fatalf("Accept behind an Unwrap-ing wrapper: %v", err)
	}
	ctx := context.Background()
	if err := c.Write(ctx, MessageText, []byte("through the middleware")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.Read(ctx); err != nil || string(p) != "through the middleware" {
		t.Fatalf("echo: %q %v", p, err)
	}

	_, resp, err := Dial(ctx, url+"?opaque=1", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("Dial through an opaque wrapper: resp %v, err %v; want a 500 refusal", resp, err)
	}
	err = <-accepted
	if !errors.Is(err, ErrNotHijackable) || !strings.Contains(err.Error(), "Unwrap() http.ResponseWriter") {
		t.Errorf("Accept behind an opaque wrapper: %v; want ErrNotHijackable naming the Unwrap method", err)
	}
}
