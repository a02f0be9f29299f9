package websocket

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
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
