package websocket

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// selfSigned returns a certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "duplex test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// h3StreamConn is the client side of an HTTP/3 request stream as a net.Conn.
type h3StreamConn struct {
	*http3.RequestStream
	local, remote net.Addr
}

func (s h3StreamConn) LocalAddr() net.Addr  { return s.local }
func (s h3StreamConn) RemoteAddr() net.Addr { return s.remote }

// TestHTTP3ExtendedConnect runs a WebSocket over an HTTP/3 stream (RFC
// 9220): Accept sees a CONNECT whose :protocol is websocket.
func TestHTTP3ExtendedConnect(t *testing.T) {
	cert := selfSigned(t)
	srv := &http3.Server{
		TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}}),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := Accept(w, r, nil)
			if err != nil {
				t.Errorf("accept: %v", err)
				return
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
		}),
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(pc)
	t.Cleanup(func() { srv.Close(); pc.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	qc, err := quic.DialAddr(ctx, pc.LocalAddr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}}, nil)
	if err != nil {
		t.Fatalf("quic dial: %v", err)
	}
	t.Cleanup(func() { qc.CloseWithError(0, "") })
	tr := &http3.Transport{}
	cc := tr.NewClientConn(qc)
	select {
	case <-cc.ReceivedSettings():
	case <-ctx.Done():
		t.Fatal("no SETTINGS from the server")
	}
	if !cc.Settings().EnableExtendedConnect {
		t.Fatal("server did not enable extended CONNECT")
	}
	rs, err := cc.OpenRequestStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodConnect, "https://"+pc.LocalAddr().String()+"/ws", nil)
	req.Proto = "websocket"
	req.Header.Set("Sec-WebSocket-Version", "13")
	if err := rs.SendRequestHeader(req); err != nil {
		t.Fatal(err)
	}
	resp, err := rs.ReadResponse()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	c := newConn(h3StreamConn{rs, qc.LocalAddr(), qc.RemoteAddr()}, true, newConnConfig(0, 0, 0, 0, 0, 0), nil)
	for _, msg := range []string{"over", "HTTP/3", strings.Repeat("quic ", 40000)} {
		if err := c.Write(ctx, MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, p, err := c.Read(ctx)
		if err != nil || string(p) != msg {
			t.Fatalf("echo over HTTP/3: %d bytes, %v", len(p), err)
		}
	}
	c.CloseNow()
}
