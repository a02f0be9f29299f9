package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

func TestDialPipeAgainstDuplexEcho(t *testing.T) {
	echo := startDuplexServer(t, "echo", "--addr", "127.0.0.1:0", "--compress")
	r := runDuplex(t, "hello\nwörld\n\r\nlast line without newline", "dial", echo.url)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if want := "hello\nwörld\n\nlast line without newline\n"; r.stdout != want {
		t.Fatalf("stdout %q, want %q", r.stdout, want)
	}
	if r.stderr != "" {
		t.Fatalf("a clean pipe run should print nothing on stderr, got %q", r.stderr)
	}

	// A line that is not UTF-8 cannot be a text message: it goes as
	// binary, and its echo is shown in hex.
	r = runDuplex(t, "text\n\xff\xfe\n", "dial", echo.url)
	if r.code != 0 || r.stdout != "text\nfffe\n" {
		t.Fatalf("non-UTF-8 line: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// Binary mode: the input is one chunk, the echo is shown in hex or base64.
	r = runDuplex(t, "\x00\x01\xfe\xff", "dial", "--binary", echo.url)
	if r.code != 0 || r.stdout != "0001feff\n" {
		t.Fatalf("binary: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runDuplex(t, "\x00\x01\xfe\xff", "dial", "--binary", "--binary-format", "base64", echo.url)
	if r.code != 0 || r.stdout != "AAH+/w==\n" {
		t.Fatalf("base64: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// Close frames are shown on stderr when asked.
	r = runDuplex(t, "x\n", "dial", "--show-control", "--compress=false", echo.url)
	if r.code != 0 || r.stdout != "x\n" || !strings.Contains(r.stderr, "close sent: 1000") || !strings.Contains(r.stderr, "close received: 1000") {
		t.Fatalf("show-control: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestDialOneShot(t *testing.T) {
	echo := startDuplexServer(t, "echo", "--addr", "127.0.0.1:0")
	r := runDuplex(t, "", "dial", "--send", "ping?", "--count", "3", echo.url)
	if r.code != 0 || r.stdout != "ping?\nping?\nping?\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// The URL may come first and flags after it.
	r = runDuplex(t, "", "dial", echo.url, "--send", "a", "--count", "2", "--expect", "3", "--wait", "300ms")
	if r.stdout != "a\na\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	checkOneLineError(t, r, 1, "got 2 of 3 expected messages")
}

// closingServer answers the way the query asks: close with ?code=N after
// the first message, drop the TCP connection (?drop), echo the
// handshake's headers, subprotocol and extensions (?headers), or send a
// ping, wait for its pong and close with 1000 (?ping), or close with 1000
// once two pings came (?pinged).
func closingServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pings := make(chan struct{}, 16)
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			InsecureSkipVerify: true, Subprotocols: []string{"chat.v2", "chat.v1"},
			Compression: &websocket.CompressionOptions{},
			OnPing:      func([]byte) { pings <- struct{}{} },
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		q := r.URL.Query()
		if q.Has("pinged") {
			go func() {
				for {
					if _, _, err := c.Read(ctx); err != nil {
						return
					}
				}
			}()
			<-pings
			<-pings
			_ = c.Close(websocket.StatusNormalClosure, "pinged twice")
			return
		}
		if q.Has("headers") {
			b, _ := json.Marshal(map[string]any{"origin": r.Header.Get("Origin"), "auth": r.Header.Get("Authorization"),
				"x": r.Header.Get("X-Test"), "proto": c.Subprotocol(), "ext": c.Extensions()})
			_ = c.Write(ctx, websocket.MessageText, b)
		}
		if q.Has("ping") {
			go func() {
				for {
					if _, _, err := c.Read(ctx); err != nil {
						return
					}
				}
			}()
			if _, err := c.Ping(ctx); err == nil {
				_ = c.Close(websocket.StatusNormalClosure, "pinged")
			}
			return
		}
		if _, _, err := c.Read(ctx); err != nil {
			return
		}
		switch {
		case q.Has("drop"):
			return // CloseNow, without a close frame
		case q.Has("code"):
			n, _ := strconv.Atoi(q.Get("code"))
			_ = c.Close(websocket.StatusCode(n), "told to")
		default:
			_ = c.Close(websocket.StatusNormalClosure, "")
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// emptyCloseServer answers the handshake by hand, reads one frame and
// closes with a close frame that has no code, as RFC 6455 §5.5.1 allows.
func emptyCloseServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
					base64.StdEncoding.EncodeToString(sum[:]))
				// Skip a short masked frame of the client: header, mask
				// and payload.
				skipFrame := func() error {
					var hdr [2]byte
					if _, err := io.ReadFull(br, hdr[:]); err != nil {
						return err
					}
					_, err := io.CopyN(io.Discard, br, int64(4+hdr[1]&0x7f))
					return err
				}
				if skipFrame() != nil {
					return
				}
				_, _ = nc.Write([]byte{0x88, 0x00})
				_ = skipFrame() // the client's answering close frame
			}()
		}
	}()
	return "ws://" + ln.Addr().String() + "/"
}

func TestDialExitStatus(t *testing.T) {
	srv := closingServer(t)
	ws := "ws" + strings.TrimPrefix(srv.URL, "http")
	for _, tc := range []struct {
		query string
		code  int
		text  string
	}{
		{"?code=1000", 0, ""},
		{"?code=1001", 0, ""},
		{"?code=1011", 3, `the server closed the connection with 1011 (internal error): "told to"`},
		{"?code=4500", 3, "with 4500"},
		{"?drop", 1, "the connection was lost without a close frame"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := runDuplexOpenInput(t, "one\ntwo\n", "dial", ws+"/"+tc.query)
			if tc.code == 0 {
				if r.code != 0 || r.stderr != "" {
					t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
				}
				return
			}
			checkOneLineError(t, r, tc.code, tc.text)
		})
	}

	// A close frame without a code is a clean end.
	if r := runDuplexOpenInput(t, "one\n", "dial", "--show-control", emptyCloseServer(t)); r.code != 0 ||
		r.stderr != "* the server closed the connection: 1005 (no status)\n" {
		t.Fatalf("empty close frame: exit %d, stderr %q", r.code, r.stderr)
	}

	// Failures before the connection exists.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "ws://" + ln.Addr().String() + "/"
	ln.Close()
	checkOneLineError(t, runDuplex(t, "", "dial", refused), 1, "nothing is listening at "+refused)
	notWS := httptest.NewServer(http.NotFoundHandler())
	defer notWS.Close()
	checkOneLineError(t, runDuplex(t, "", "dial", "ws"+strings.TrimPrefix(notWS.URL, "http")+"/nope"), 1,
		`answered 404 Not Found instead of switching to WebSocket: "404 page not found" (is the path right?)`)

	// A message over --max-message: this side closes with 1009 and says so.
	echo := startDuplexServer(t, "echo", "--addr", "127.0.0.1:0")
	checkOneLineError(t, runDuplex(t, strings.Repeat("x", 100)+"\n", "dial", "--max-message", "10", echo.url), 1,
		"a message was larger than --max-message 10 bytes; the connection was closed with 1009")
	// wss:// to a server without TLS.
	checkOneLineError(t, runDuplex(t, "", "dial", "wss"+strings.TrimPrefix(echo.url, "ws")), 1,
		"does not speak TLS (for a server without TLS, use ws:// instead of wss://)")
	// Without a scheme, ws:// is meant.
	if r := runDuplex(t, "bare\n", "dial", strings.TrimPrefix(echo.url, "ws://")); r.code != 0 || r.stdout != "bare\n" {
		t.Fatalf("URL without a scheme: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// Usage errors: exit status 2, one line, and where the flags are.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "give exactly one URL"},
		{[]string{"ftp://127.0.0.1/"}, `URL "ftp://127.0.0.1/" must start with ws:// or wss://`},
		{[]string{"ws://127.0.0.1:99999/"}, "a port is a number from 1 to 65535"},
		{[]string{"--frobnicate", "ws://127.0.0.1:1/"}, "unknown flag --frobnicate"},
		{[]string{"--count", "many", "ws://127.0.0.1:1/"}, `invalid value "many" for flag --count`},
		{[]string{"-H", "no colon", "ws://127.0.0.1:1/"}, `header "no colon" must look like "Name: value"`},
		{[]string{"--auth", "nopassword", "ws://127.0.0.1:1/"}, "--auth must be USER:PASSWORD"},
	} {
		checkUsageError(t, runDuplex(t, "", append([]string{"dial"}, tc.args...)...), tc.want)
	}
	checkOneLineError(t, runDuplex(t, "", "dial", "--cacert", filepath.Join(t.TempDir(), "none.pem"), "wss://127.0.0.1:1/"), 1,
		"reading --cacert: open ")
}

func TestDialShowsServerPings(t *testing.T) {
	srv := closingServer(t)
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/?ping"
	// The input stays open: the server ends the connection.
	r := runDuplexOpenInput(t, "", "dial", "--show-control", ws)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// The websocket package pings with an 8-byte counter: shown in hex.
	want := "* ping received 0000000000000001, pong sent\n* the server closed the connection: 1000 (normal closure) \"pinged\"\n"
	if r.stderr != want {
		t.Fatalf("stderr %q, want %q", r.stderr, want)
	}

	// --ping-interval: the pings, and the pong of the first with its
	// round trip (the server closes on the second).
	ws = "ws" + strings.TrimPrefix(srv.URL, "http") + "/?pinged"
	r = runDuplexOpenInput(t, "", "dial", "--show-control", "--ping-interval", "20ms", ws)
	if r.code != 0 || !strings.HasPrefix(r.stderr, "* ping sent\n") || strings.Count(r.stderr, "* ping sent\n") < 2 ||
		!regexp.MustCompile(`\n\* pong received after [0-9.]+[µm]?s\n`).MatchString(r.stderr) ||
		!strings.Contains(r.stderr, "* the server closed the connection: 1000 (normal closure) \"pinged twice\"\n") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestDialHandshakeFlags(t *testing.T) {
	srv := closingServer(t)
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/?headers"
	r := runDuplex(t, "bye\n", "dial", "-H", "X-Test: 42", "--origin", "http://page.example",
		"--auth", "ann:s3cret", "--subprotocol", "chat.v1", ws)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &got); err != nil {
		t.Fatalf("stdout %q: %v", r.stdout, err)
	}
	want := map[string]string{"origin": "http://page.example", "auth": "Basic YW5uOnMzY3JldA==", "x": "42",
		"proto": "chat.v1", "ext": got["ext"]}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if !strings.HasPrefix(got["ext"], "permessage-deflate") {
		t.Errorf("compression is on by default, but the server saw extensions %q", got["ext"])
	}
	r = runDuplex(t, "bye\n", "dial", "--compress=false", ws)
	if !strings.Contains(r.stdout, `"ext":""`) {
		t.Errorf("--compress=false still negotiated an extension: %q", r.stdout)
	}
}

// writeCert makes a self-signed certificate for 127.0.0.1 and writes it and
// its key as PEM files.
func writeCert(t *testing.T, dir, name string) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certFile, keyFile
}

func TestDialTLS(t *testing.T) {
	dir := t.TempDir()
	serverCert, caFile, _ := writeCert(t, dir, "server")
	clientCert, clientFile, clientKey := writeCert(t, dir, "client")
	clientPool := x509.NewCertPool()
	clientPool.AddCert(clientCert.Leaf)
	var sawClient atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			sawClient.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, p, err := c.Read(r.Context())
			if err != nil {
				return
			}
			_ = c.Write(r.Context(), typ, p)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: clientPool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	wss := "wss" + strings.TrimPrefix(srv.URL, "https") + "/"

	checkOneLineError(t, runDuplex(t, "x\n", "dial", wss), 1, "certificate is not trusted (use --cacert FILE, or --insecure")
	if r := runDuplex(t, "x\n", "dial", "--insecure", wss); r.code != 0 || r.stdout != "x\n" {
		t.Fatalf("--insecure: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := runDuplex(t, "y\n", "dial", "--cacert", caFile, wss); r.code != 0 || r.stdout != "y\n" {
		t.Fatalf("--cacert: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if sawClient.Load() != nil {
		t.Fatal("no client certificate was given, yet the server saw one")
	}
	if r := runDuplex(t, "z\n", "dial", "--cacert", caFile, "--cert", clientFile, "--key", clientKey, wss); r.code != 0 || r.stdout != "z\n" {
		t.Fatalf("--cert: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := sawClient.Load(); got != "client" {
		t.Fatalf("the server saw client certificate %v, want CN client", got)
	}
}

// connectProxy is an HTTP proxy that allows CONNECT to one host name
// only, which it maps to target: the name need not resolve, so that a
// client that reaches target through it must have used the proxy.
func connectProxy(t *testing.T, name, target string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var connects atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect || r.Host != name {
			http.Error(w, "only CONNECT "+name, http.StatusForbidden)
			return
		}
		connects.Add(1)
		up, err := net.Dial("tcp", target)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.Close()
		w.WriteHeader(http.StatusOK)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = brw.Flush()
		go func() { _, _ = io.Copy(up, brw) }()
		_, _ = io.Copy(conn, up)
	}))
	t.Cleanup(proxy.Close)
	return proxy, &connects
}

func TestDialProxy(t *testing.T) {
	echo := startDuplexServer(t, "echo", "--addr", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(echo.url, "ws://"), "/"))
	// "echo.invalid" never resolves (RFC 2606): only the proxy knows it.
	name := net.JoinHostPort("echo.invalid", port)
	proxy, connects := connectProxy(t, name, "127.0.0.1:"+port)
	wsURL := "ws://" + name + "/"

	r := runDuplex(t, "through\n", "dial", "--proxy", proxy.URL, wsURL)
	if r.code != 0 || r.stdout != "through\n" || connects.Load() != 1 {
		t.Fatalf("--proxy: exit %d, stdout %q, stderr %q, CONNECTs %d", r.code, r.stdout, r.stderr, connects.Load())
	}
	// The proxy from the environment, as curl and Go programs take it.
	env := []string{"HTTP_PROXY=" + proxy.URL, "http_proxy=" + proxy.URL, "NO_PROXY=", "no_proxy="}
	r = runDuplexEnv(t, env, "from env\n", "dial", wsURL)
	if r.code != 0 || r.stdout != "from env\n" || connects.Load() != 2 {
		t.Fatalf("HTTP_PROXY: exit %d, stdout %q, stderr %q, CONNECTs %d", r.code, r.stdout, r.stderr, connects.Load())
	}
	// NO_PROXY and --no-proxy go direct, where the name does not resolve.
	r = runDuplexEnv(t, append(env, "NO_PROXY=echo.invalid", "no_proxy=echo.invalid"), "x\n", "dial", wsURL)
	checkOneLineError(t, r, 1, "cannot resolve the host echo.invalid")
	checkOneLineError(t, runDuplexEnv(t, env, "x\n", "dial", "--no-proxy", wsURL), 1, "cannot resolve the host echo.invalid")
	if connects.Load() != 2 {
		t.Fatalf("the proxy saw %d CONNECTs, want 2", connects.Load())
	}

	// A proxy that is not there is named as the culprit, not the server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	checkOneLineError(t, runDuplex(t, "x\n", "dial", "--proxy", dead, echo.url), 1, "nothing is listening at the proxy "+dead)
	checkOneLineError(t, runDuplexEnv(t, []string{"HTTP_PROXY=" + dead, "http_proxy=" + dead, "NO_PROXY=", "no_proxy="}, "x\n", "dial", wsURL), 1,
		"the proxy comes from the environment; --no-proxy connects directly")
	// A proxy that refuses the CONNECT.
	checkOneLineError(t, runDuplex(t, "x\n", "dial", "--proxy", proxy.URL, "ws://elsewhere.invalid/"), 1, "403 Forbidden")
}
