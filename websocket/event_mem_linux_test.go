//go:build linux

package websocket

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
)

// rawClient is a client connection made with system calls alone, outside
// Go's poller and heap, so that the memory a test measures is the server's.
type rawClient struct{ fd int }

func dialRaw(t testing.TB, addr *net.TCPAddr) rawClient {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	sa := &syscall.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		t.Fatalf("connect: %v", err)
	}
	c := rawClient{fd: fd}
	c.write(t, []byte("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	var resp []byte
	var b [512]byte
	for !bytes.Contains(resp, []byte("\r\n\r\n")) {
		n, err := syscall.Read(fd, b[:])
		if err != nil || n == 0 {
			t.Fatalf("reading the handshake response: %v (got %q)", err, resp)
		}
		resp = append(resp, b[:n]...)
	}
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 101")) {
		t.Fatalf("handshake refused: %q", resp)
	}
	return c
}

func (c rawClient) write(t testing.TB, p []byte) {
	t.Helper()
	for len(p) > 0 {
		n, err := syscall.Write(c.fd, p)
		if err != nil {
			t.Fatalf("write: %v", err)
		}
		p = p[n:]
	}
}

func (c rawClient) readFull(t testing.TB, p []byte) {
	t.Helper()
	for len(p) > 0 {
		n, err := syscall.Read(c.fd, p)
		if err != nil || n == 0 {
			t.Fatalf("read: %v (n=%d)", err, n)
		}
		p = p[n:]
	}
}

func (c rawClient) close() { syscall.Close(c.fd) }

// echoOnce sends a 64-byte binary message and reads its echo.
func (c rawClient) echoOnce(t testing.TB) {
	t.Helper()
	msg := bytes.Repeat([]byte{'m'}, 64)
	c.write(t, clientFrame(true, opBinary, msg))
	got := make([]byte, 2+64)
	c.readFull(t, got)
	if got[0] != 0x82 || got[1] != 64 || !bytes.Equal(got[2:], msg) {
		t.Fatalf("echo: got % x", got[:8])
	}
}

// TestEventMemoryPerConn holds N connections, each after one echoed
// message, and reports the server's memory per connection from
// runtime.MemStats in event mode and, for comparison, with a goroutine per
// connection. It asserts that event mode stays within its budget.
func TestEventMemoryPerConn(t *testing.T) {
	if testing.Short() {
		t.Skip("holds thousands of connections")
	}
	n, limit := connsWithinLimit(t, 5000)
	if n < 100 {
		t.Skipf("descriptor limit %d is too low", limit)
	}
	event := measureConnMemory(t, n, true)
	gor := measureConnMemory(t, n, false)
	t.Logf("%d connections: event mode %d B/conn (heap %d + stacks %d); goroutine per connection %d B/conn (heap %d + stacks %d)",
		n, event.total(), event.heap, event.stack, gor.total(), gor.heap, gor.stack)
	// Budget: the target is 4 KiB of RSS per connection; RSS is
	// about twice the live heap with the default GOGC, and the race
	// detector adds its own bookkeeping.
	budget := int64(2048)
	if deflateRaceEnabled {
		budget = 4096
	}
	if event.total() > budget {
		t.Errorf("event mode holds %d bytes per idle connection, budget %d", event.total(), budget)
	}
	if event.total() >= gor.total() {
		t.Errorf("event mode (%d B/conn) is not smaller than a goroutine per connection (%d B/conn)", event.total(), gor.total())
	}
}

// connsWithinLimit returns how many of want connections measureConnMemory
// may open (both ends are in this process) under the descriptor limit,
// and the limit.
func connsWithinLimit(t *testing.T, want int) (n int, limit uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	return min(want, int(lim.Cur)/2-64), lim.Cur
}

type connMemory struct{ heap, stack int64 }

func (m connMemory) total() int64 { return m.heap + m.stack }

func measureConnMemory(t *testing.T, n int, event bool) connMemory {
	var loop *EventLoop
	if event {
		var err error
		loop, err = NewEventLoop(EventLoopOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		if loop != nil {
			if err := loop.Serve(c, echoBack{}); err != nil {
				t.Errorf("serve: %v", err)
				c.CloseNow()
			}
			return
		}
		go func() {
			defer c.CloseNow()
			var buf []byte
			for {
				typ, p, err := c.ReadInto(context.Background(), buf)
				if err != nil {
					return
				}
				buf = p
				if c.Write(context.Background(), typ, p) != nil {
					return
				}
			}
		}()
	}))
	addr := srv.Listener.Addr().(*net.TCPAddr)
	// One connection first, so that one-time allocations are in the
	// baseline.
	first := dialRaw(t, addr)
	first.echoOnce(t)
	before := memNow()
	clients := make([]rawClient, 0, n)
	for range n {
		c := dialRaw(t, addr)
		c.echoOnce(t)
		clients = append(clients, c)
	}
	after := memNow()
	for _, c := range clients {
		c.close()
	}
	first.close()
	if loop != nil {
		loop.Close()
	}
	srv.Close()
	return connMemory{
		heap:  (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(n),
		stack: (int64(after.StackInuse) - int64(before.StackInuse)) / int64(n),
	}
}

func memNow() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}
