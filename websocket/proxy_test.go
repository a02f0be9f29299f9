package websocket

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// connectProxy is a minimal HTTP CONNECT proxy that requires basic auth
// "user:secret" and counts the tunnels it opened.
func connectProxy(t *testing.T) (addr string, tunnels *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	tunnels = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil || req.Method != http.MethodConnect {
					return
				}
				want := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:secret"))
				if req.Header.Get("Proxy-Authorization") != want {
					io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
					return
				}
				up, err := net.Dial("tcp", req.Host)
				if err != nil {
					io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
					return
				}
				defer up.Close()
				tunnels.Add(1)
				io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
				go io.Copy(up, br)
				io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().String(), tunnels
}

func TestDialThroughConnectProxy(t *testing.T) {
	url0 := echoServer(t, nil)
	paddr, tunnels := connectProxy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	good, _ := url.Parse("http://user:secret@" + paddr)
	c, _, err := Dial(ctx, url0, &DialOptions{Proxy: http.ProxyURL(good)})
	if err != nil {
		t.Fatalf("dial through proxy: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, MessageText, []byte("via proxy")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.Read(ctx); err != nil || string(p) != "via proxy" {
		t.Fatalf("echo through proxy: %q %v", p, err)
	}
	if tunnels.Load() != 1 {
		t.Fatalf("proxy opened %d tunnels, want 1", tunnels.Load())
	}

	bad, _ := url.Parse("http://user:wrong@" + paddr)
	_, _, err = Dial(ctx, url0, &DialOptions{Proxy: http.ProxyURL(bad)})
	if err == nil || !strings.Contains(err.Error(), "407") {
		t.Fatalf("wrong proxy credentials: got %v, want an error naming 407", err)
	}
}

// Proxy settings come from the environment by default. net/http caches
// them on first use, so the dial runs in a child process with HTTP_PROXY set.
func TestDialProxyFromEnvironmentByDefault(t *testing.T) {
	if os.Getenv("DUPLEX_PROXY_CHILD") == "1" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// ProxyFromEnvironment never proxies loopback names: use a name
		// only the proxy tries to resolve.
		_, _, err := Dial(ctx, "ws://duplex-proxy-test.invalid:1/", nil)
		fmt.Println("DIAL-ERROR:", err)
		return
	}
	paddr, _ := connectProxy(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestDialProxyFromEnvironmentByDefault$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DUPLEX_PROXY_CHILD=1", "HTTP_PROXY=http://user:secret@"+paddr, "http_proxy=", "NO_PROXY=", "no_proxy=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	// The proxy cannot resolve the name and answers 502: the request went
	// through it.
	if !strings.Contains(string(out), "DIAL-ERROR:") || !strings.Contains(string(out), "502") {
		t.Fatalf("dial with HTTP_PROXY set did not go through the proxy:\n%s", out)
	}
}

// wss:// through an authenticating CONNECT proxy: TLS runs inside the
// tunnel, verified against the target's name, not the proxy's.
func TestDialSecureThroughConnectProxy(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, p, err := c.Read(r.Context())
		if err != nil {
			return
		}
		_ = c.Write(r.Context(), typ, p)
		_ = c.Close(StatusNormalClosure, "")
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	paddr, tunnels := connectProxy(t)
	proxy, _ := url.Parse("http://user:secret@" + paddr)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wsURL := "wss://" + strings.TrimPrefix(srv.URL, "https://")
	c, _, err := Dial(ctx, wsURL, &DialOptions{Proxy: http.ProxyURL(proxy), TLSConfig: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatalf("dial %s through the proxy: %v", wsURL, err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, MessageBinary, []byte("tls in a tunnel")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.Read(ctx); err != nil || string(p) != "tls in a tunnel" {
		t.Fatalf("echo: %q %v", p, err)
	}
	if n := tunnels.Load(); n != 1 {
		t.Fatalf("proxy opened %d tunnels, want 1", n)
	}
}

// With DialOptions.Proxy nil, Dial follows HTTP_PROXY for ws://, HTTPS_PROXY
// for wss:// and NO_PROXY, as net/http does. net/http reads the variables
// once per process, so each case dials in a child process, whose dialer
// records the address it was asked for and connects nowhere.
func TestDialProxyEnvironmentChoice(t *testing.T) {
	if u := os.Getenv("DUPLEX_PROXY_ENV_URL"); u != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _, err := Dial(ctx, u, &DialOptions{NetDialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			fmt.Printf("DIALED %s %s\n", network, addr)
			return nil, errors.New("recorded")
		}})
		fmt.Println("DIAL-ERROR:", err)
		return
	}
	const httpProxy, httpsProxy = "http://proxy-a.test:3128", "http://user:pw@proxy-b.test:3129"
	for _, tc := range []struct {
		name, url string
		env       []string
		want      string
	}{
		{"HTTP_PROXY for ws", "ws://target.test/chat", []string{"HTTP_PROXY=" + httpProxy, "HTTPS_PROXY=" + httpsProxy}, "proxy-a.test:3128"},
		{"HTTPS_PROXY for wss", "wss://target.test/chat", []string{"HTTP_PROXY=" + httpProxy, "HTTPS_PROXY=" + httpsProxy}, "proxy-b.test:3129"},
		{"lower-case https_proxy", "wss://target.test/chat", []string{"https_proxy=" + httpsProxy}, "proxy-b.test:3129"},
		{"NO_PROXY names the host", "ws://target.test:8080/chat", []string{"HTTP_PROXY=" + httpProxy, "NO_PROXY=other.test,target.test"}, "target.test:8080"},
		{"NO_PROXY domain suffix", "wss://api.target.test/chat", []string{"HTTPS_PROXY=" + httpsProxy, "NO_PROXY=.target.test"}, "api.target.test:443"},
		{"NO_PROXY names another host", "ws://target.test/chat", []string{"HTTP_PROXY=" + httpProxy, "NO_PROXY=other.test"}, "proxy-a.test:3128"},
		{"no proxy set", "ws://target.test/chat", nil, "target.test:80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestDialProxyEnvironmentChoice$", "-test.count=1")
			env := []string{"DUPLEX_PROXY_ENV_URL=" + tc.url}
			for _, kv := range os.Environ() {
				name, _, _ := strings.Cut(kv, "=")
				switch strings.ToUpper(name) {
				case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "REQUEST_METHOD":
					continue
				}
				env = append(env, kv)
			}
			cmd.Env = append(env, tc.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			want := "DIALED tcp " + tc.want + "\n"
			if !strings.Contains(string(out), want) || strings.Count(string(out), "DIALED") != 1 {
				t.Fatalf("with %q, dialing %s: want exactly one dial of %s; child said:\n%s", tc.env, tc.url, tc.want, out)
			}
		})
	}
}
