package interop

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// freePort returns a loopback port that was free a moment ago, for peers
// that cannot bind port 0 and report it (nginx, tinyproxy).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDaemon starts a peer that listens on a port from freePort, given
// the config that conf writes for that port, and returns its address once
// it accepts connections. A port taken meanwhile by someone else makes the
// daemon exit; then it is tried again on another port.
func startDaemon(t *testing.T, bin string, conf func(port int) []string) string {
	t.Helper()
	var lastErr string
	for range 3 {
		port := freePort(t)
		p := startPeer(t, bin, conf(port)...)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		deadline := time.Now().Add(peerTimeout)
		for time.Now().Before(deadline) {
			select {
			case <-p.exited:
				lastErr = fmt.Sprintf("%s exited: %v\n%s", p.name, p.err, p.stderr.String())
			default:
				nc, err := net.DialTimeout("tcp", addr, time.Second)
				if err == nil {
					nc.Close()
					return addr
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			break
		}
		if !strings.Contains(lastErr, "in use") {
			break
		}
	}
	t.Fatalf("%s did not start: %s", bin, lastErr)
	return ""
}

// startNginx runs nginx as a WebSocket reverse proxy to backend (host:port)
// with its own configuration in a temporary directory, and returns its
// address.
func startNginx(t *testing.T, backend string) string {
	t.Helper()
	bin := needBinary(t, "nginx")
	dir := t.TempDir()
	return startDaemon(t, bin, func(port int) []string {
		conf := fmt.Sprintf(`# One process in the foreground, every file in this directory.
daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log notice;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    # Forward the upgrade; other requests get "Connection: close".
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }
    server {
        listen 127.0.0.1:%[2]d;
        location / {
            proxy_pass http://%[3]s;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_read_timeout 300s;
            proxy_send_timeout 300s;
        }
    }
}
`, dir, port, backend)
		if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		// -e: the error log before the configuration is read, which
		// would otherwise be /var/log/nginx/error.log.
		return []string{"-p", dir, "-c", "nginx.conf", "-e", filepath.Join(dir, "error.log")}
	})
}

// startTinyproxy runs tinyproxy in the foreground with a configuration that
// allows CONNECT to any port (the stock one allows only 443 and 563) and,
// when user is not empty, requires basic authentication.
func startTinyproxy(t *testing.T, user, password string) string {
	t.Helper()
	bin := needBinary(t, "tinyproxy")
	dir := t.TempDir()
	return startDaemon(t, bin, func(port int) []string {
		conf := fmt.Sprintf(`# No ConnectPort line: CONNECT to every port is allowed.
Port %d
Listen 127.0.0.1
Allow 127.0.0.1
Timeout 60
MaxClients 32
LogLevel Info
DisableViaHeader Yes
`, port)
		if user != "" {
			conf += fmt.Sprintf("BasicAuth %s %s\n", user, password)
		}
		path := filepath.Join(dir, "tinyproxy.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		return []string{"-d", "-c", path}
	})
}

// echoServerClose reports, for dialScenario, what our echo server saw when
// a connection ended.
func echoServerClose(s *echoServer) peerClose {
	return func(t *testing.T) (int, string) {
		t.Helper()
		r := s.next(t)
		if r.SentClose != 0 {
			// We closed: Close returns nil once the peer's close frame
			// came back through the proxy.
			if r.CloseErr != nil {
				t.Fatalf("our server's Close(%v): %v", r.SentClose, r.CloseErr)
			}
			return int(r.SentClose), ""
		}
		return int(r.CloseCode), r.CloseReason
	}
}

func TestNginxOurClientOurServer(t *testing.T) {
	s := startEchoServer(t, serverConfig{})
	proxy := startNginx(t, strings.TrimPrefix(s.HTTPURL, "http://"))
	dialScenario(t, "ws://"+proxy+"/ws", nil, echoServerClose(s))
}

func TestNginxCompression(t *testing.T) {
	for _, tc := range []struct {
		name string
		ours func() *websocket.CompressionOptions
		want string
	}{
		// nginx forwards Sec-WebSocket-Extensions untouched, so this is
		// our offer and our answer.
		{"default", noTakeover, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"takeover", takeover, "permessage-deflate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startEchoServer(t, serverConfig{Accept: &websocket.AcceptOptions{Compression: tc.ours()}})
			proxy := startNginx(t, strings.TrimPrefix(s.HTTPURL, "http://"))
			counted := &byteCounter{}
			c := dial(t, "ws://"+proxy+"/ws", &websocket.DialOptions{Compression: tc.ours(), NetDialContext: countingDialer(counted)})
			if got := c.Extensions(); got != tc.want {
				t.Errorf("our client negotiated %q, want %q", got, tc.want)
			}
			dialCompressionScenario(t, c, counted)
			if rep := s.next(t); rep.Extensions != tc.want || rep.CloseCode != websocket.StatusNormalClosure {
				t.Errorf("our server negotiated %q and ended with %v (%v); want %q and a normal closure", rep.Extensions, rep.CloseCode, rep.Err, tc.want)
			}
		})
	}
}

// viaProxy returns DialOptions that use the HTTP proxy at addr. The proxy is
// set explicitly: http.ProxyFromEnvironment never proxies loopback hosts.
func viaProxy(addr string, user *url.Userinfo) *websocket.DialOptions {
	return &websocket.DialOptions{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: addr, User: user})}
}

func TestTinyproxyConnect(t *testing.T) {
	s := startEchoServer(t, serverConfig{})
	proxy := startTinyproxy(t, "", "")
	dialScenario(t, s.URL, viaProxy(proxy, nil), echoServerClose(s))
}

func TestTinyproxyBasicAuth(t *testing.T) {
	s := startEchoServer(t, serverConfig{})
	proxy := startTinyproxy(t, "duplex", "s3cret")

	c := dial(t, s.URL, viaProxy(proxy, url.UserPassword("duplex", "s3cret")))
	expectEcho(t, c, "through the authenticated proxy", websocket.MessageBinary, patternBytes(1<<20, 3))
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for _, tc := range []struct {
		name   string
		user   *url.Userinfo
		status []string // acceptable answers
	}{
		// RFC 9110 §15.5.8 wants 407 for proxy authentication; tinyproxy
		// 1.11 answers wrong credentials with 401 (docs/interop.md).
		{"wrong password", url.UserPassword("duplex", "wrong"), []string{"401", "407"}},
		{"no credentials", nil, []string{"407"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
			defer cancel()
			c, _, err := websocket.Dial(ctx, s.URL, viaProxy(proxy, tc.user))
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial through the proxy succeeded without valid credentials")
			}
			t.Logf("Dial error: %v", err)
			msg := err.Error()
			if !strings.Contains(msg, proxy) || !strings.Contains(msg, "refused CONNECT") {
				t.Fatalf("Dial error %q does not say that proxy %s refused the CONNECT", msg, proxy)
			}
			if !slices.ContainsFunc(tc.status, func(code string) bool { return strings.Contains(msg, ": "+code+" ") }) {
				t.Fatalf("Dial error %q does not carry the proxy's status, one of %v", msg, tc.status)
			}
		})
	}
}
