//go:build linux && amd64

package main

import (
	"bufio"
	"bytes"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startServer runs the echo server in-process on a free port.
func startServer(t *testing.T) string {
	t.Helper()
	return startServerWait(t, 0)
}

func startServerWait(t *testing.T, batchWait time.Duration) string {
	t.Helper()
	s, err := start("127.0.0.1:0", 256, batchWait)
	if errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EPERM) {
		t.Skipf("io_uring unavailable: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return s.ln.Addr().String()
}

// client is a minimal raw WebSocket client.
type client struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

// dial connects and upgrades; extra is written in the same write as the
// request.
func dial(t *testing.T, addr string, extra []byte) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), extra...)); err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, nc: nc, r: bufio.NewReader(nc)}
	var head strings.Builder
	for !strings.HasSuffix(head.String(), "\r\n\r\n") {
		b, err := c.r.ReadByte()
		if err != nil {
			t.Fatalf("reading handshake answer: %v (so far %q)", err, head.String())
		}
		head.WriteByte(b)
	}
	h := head.String()
	if !strings.HasPrefix(h, "HTTP/1.1 101 ") {
		t.Fatalf("answer: %q", h)
	}
	// The example of RFC 6455 §1.3.
	if !strings.Contains(h, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") {
		t.Fatalf("wrong or missing Sec-WebSocket-Accept: %q", h)
	}
	return c
}

// frame builds a masked client frame.
func frame(b0 byte, payload []byte) []byte {
	n := len(payload)
	var b []byte
	switch {
	case n <= 125:
		b = []byte{b0, 0x80 | byte(n)}
	case n <= 0xffff:
		b = []byte{b0, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		b = binary.BigEndian.AppendUint64([]byte{b0, 0x80 | 127}, uint64(n))
	}
	key := [4]byte{byte(rand.Intn(256)), 0x5a, byte(rand.Intn(256)), 0xc3}
	b = append(b, key[:]...)
	for i, x := range payload {
		b = append(b, x^key[i&3])
	}
	return b
}

func (c *client) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one server frame, which must be unmasked.
func (c *client) read() (b0 byte, payload []byte) {
	c.t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		c.t.Fatalf("reading frame: %v", err)
	}
	if h[1]&0x80 != 0 {
		c.t.Fatal("server frame is masked")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		io.ReadFull(c.r, x[:])
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		io.ReadFull(c.r, x[:])
		n = binary.BigEndian.Uint64(x[:])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(c.r, payload); err != nil {
		c.t.Fatalf("reading payload: %v", err)
	}
	return h[0], payload
}

func (c *client) expect(b0 byte, payload []byte) {
	c.t.Helper()
	gb0, got := c.read()
	if gb0 != b0 || !bytes.Equal(got, payload) {
		c.t.Fatalf("got frame %#x with %d bytes, want %#x with %d bytes (equal: %v)", gb0, len(got), b0, len(payload), bytes.Equal(got, payload))
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	crand.Read(b)
	return b
}

// modes are the two ways the loop waits: for one completion, and for the
// sends just submitted plus one (-batchwait).
var modes = []struct {
	name      string
	batchWait time.Duration
}{{"wait1", 0}, {"batchwait", 50 * time.Microsecond}}

func TestEcho(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testEcho(t, startServerWait(t, m.batchWait)) })
	}
}

func testEcho(t *testing.T, addr string) {
	c := dial(t, addr, nil)

	t.Run("text5", func(t *testing.T) {
		c.t = t
		c.write(frame(0x81, []byte("hello")))
		c.expect(0x81, []byte("hello"))
	})
	t.Run("binary70000", func(t *testing.T) {
		c.t = t
		p := randomBytes(70000) // 64-bit length
		c.write(frame(0x82, p))
		c.expect(0x82, p)
	})
	t.Run("splitMidHeader", func(t *testing.T) {
		c.t = t
		p := randomBytes(300) // 16-bit length: split inside the length
		f := frame(0x82, p)
		c.write(f[:3])
		time.Sleep(30 * time.Millisecond) // two receives on the server
		c.write(f[3:])
		c.expect(0x82, p)
	})
	t.Run("splitEverywhere", func(t *testing.T) {
		c.t = t
		p := randomBytes(40)
		f := frame(0x81, p)
		for i := range f {
			c.write(f[i : i+1])
			time.Sleep(time.Millisecond)
		}
		c.expect(0x81, p)
	})
	t.Run("fragmented", func(t *testing.T) {
		c.t = t
		c.write(append(frame(0x01, []byte("frag")), frame(0x89, []byte("mid"))...))
		c.write(frame(0x80, []byte("ment")))
		c.expect(0x01, []byte("frag"))
		c.expect(0x8A, []byte("mid"))
		c.expect(0x80, []byte("ment"))
	})
	t.Run("batched", func(t *testing.T) {
		c.t = t
		var all []byte
		var ps [][]byte
		for i := 0; i < 50; i++ {
			p := randomBytes(i * 97)
			ps = append(ps, p)
			all = append(all, frame(0x82, p)...)
		}
		c.write(all)
		for _, p := range ps {
			c.expect(0x82, p)
		}
	})
	t.Run("ping", func(t *testing.T) {
		c.t = t
		c.write(frame(0x89, []byte("are you there")))
		c.expect(0x8A, []byte("are you there"))
		c.write(frame(0x89, nil))
		c.expect(0x8A, []byte{})
	})
	t.Run("close", func(t *testing.T) {
		c.t = t
		c.write(frame(0x88, []byte{0x03, 0xe8, 'b', 'y', 'e'}))
		c.expect(0x88, []byte{0x03, 0xe8})
		if n, err := c.r.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("after close: read %d, %v; want EOF", n, err)
		}
	})
}

func TestBytesAfterRequest(t *testing.T) {
	addr := startServer(t)
	p := randomBytes(1000)
	f := frame(0x82, p)
	c := dial(t, addr, append(frame(0x81, []byte("early")), f[:5]...))
	c.expect(0x81, []byte("early"))
	c.write(f[5:])
	c.expect(0x82, p)
}

func TestProtocolError(t *testing.T) {
	addr := startServer(t)
	c := dial(t, addr, nil)
	c.write([]byte{0x81, 0x02, 'h', 'i'}) // unmasked
	c.expect(0x88, []byte{0x03, 0xea})    // 1002
	if _, err := c.r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after close: %v; want EOF", err)
	}
}

func TestManyConnections(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testMany(t, startServerWait(t, m.batchWait)) })
	}
}

func testMany(t *testing.T, addr string) {
	const conns, msgs = 50, 40
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		c := dial(t, addr, nil)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for m := 0; m < msgs; m++ {
				p := randomBytes((i*msgs + m) * 37 % 20000)
				if _, err := c.nc.Write(frame(0x82, p)); err != nil {
					errs <- err
					return
				}
				var h [2]byte
				if _, err := io.ReadFull(c.r, h[:]); err != nil {
					errs <- err
					return
				}
				n := int(h[1] & 0x7f)
				if n == 126 {
					var x [2]byte
					io.ReadFull(c.r, x[:])
					n = int(binary.BigEndian.Uint16(x[:]))
				}
				got := make([]byte, n)
				if _, err := io.ReadFull(c.r, got); err != nil {
					errs <- err
					return
				}
				if h[0] != 0x82 || !bytes.Equal(got, p) {
					errs <- fmt.Errorf("conn %d message %d: wrong echo", i, m)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(ents)
}

// TestCloseReleases checks that Close leaves no descriptor behind: not the
// ring's, the eventfd's, the listener's nor a connection's.
func TestCloseReleases(t *testing.T) {
	before := openFDs(t)
	s, err := start("127.0.0.1:0", 64, 0)
	if errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EPERM) {
		t.Skipf("io_uring unavailable: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.ln.Addr().String(), nil)
	c.write(frame(0x82, []byte("x")))
	c.expect(0x82, []byte("x"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client after server Close: %v; want EOF", err)
	}
	c.nc.Close()
	if after := openFDs(t); after != before {
		t.Fatalf("%d descriptors open before, %d after", before, after)
	}
}
