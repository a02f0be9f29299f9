package websocket

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// replayConn is a net.Conn whose reads replay data forever and whose writes
// vanish: it measures the library without the kernel.
type replayConn struct {
	data []byte
	pos  int
}

func (r *replayConn) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.pos:])
	r.pos += n
	if r.pos == len(r.data) {
		r.pos = 0
	}
	return n, nil
}
func (r *replayConn) Write(p []byte) (int, error)      { return len(p), nil }
func (r *replayConn) Close() error                     { return nil }
func (r *replayConn) LocalAddr() net.Addr              { return addrString("local") }
func (r *replayConn) RemoteAddr() net.Addr             { return addrString("remote") }
func (r *replayConn) SetDeadline(time.Time) error      { return nil }
func (r *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (r *replayConn) SetWriteDeadline(time.Time) error { return nil }

// clientFrames encodes n masked copies of a message, as a client sends them.
func clientFrames(typ MessageType, p []byte, n int) []byte {
	var out []byte
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for i := 0; i < n; i++ {
		start := len(out)
		out = appendHeader(out, true, 0, opcode(typ), int64(len(p)), true, key)
		body := len(out)
		out = append(out, p...)
		maskBytes(key, 0, out[body:])
		_ = start
	}
	return out
}

var msgBenchSizes = []int{16, 64, 512, 4096, 65536}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func BenchmarkReadMessage(b *testing.B) {
	for _, size := range msgBenchSizes {
		for _, typ := range []MessageType{MessageBinary, MessageText} {
			b.Run(typ.String()+"/"+sizeName(size), func(b *testing.B) {
				p := bytes.Repeat([]byte("a"), size)
				rc := &replayConn{data: clientFrames(typ, p, max(1, 65536/size))}
				c := newConn(rc, false, newConnConfig(0, 0, 0, 0, 0, 0), nil)
				buf := make([]byte, 0, size)
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					_, got, err := c.ReadInto(ctx, buf)
					if err != nil || len(got) != size {
						b.Fatal(err, len(got))
					}
					buf = got
				}
			})
		}
	}
}

func BenchmarkWriteMessage(b *testing.B) {
	for _, client := range []bool{false, true} {
		role := "server"
		if client {
			role = "client"
		}
		for _, size := range msgBenchSizes {
			b.Run(role+"/"+sizeName(size), func(b *testing.B) {
				p := bytes.Repeat([]byte("a"), size)
				c := newConn(&replayConn{data: []byte{0}}, client, newConnConfig(0, 0, 0, 0, 0, 0), nil)
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := c.Write(ctx, MessageBinary, p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkWritePrepared(b *testing.B) {
	const conns = 1000
	cs := make([]*Conn, conns)
	for i := range cs {
		cs[i] = newConn(&replayConn{data: []byte{0}}, false, newConnConfig(0, 0, 0, 0, 0, 0), nil)
	}
	p := bytes.Repeat([]byte("x"), 256)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pm := NewPreparedMessage(MessageText, p)
		for _, c := range cs {
			if err := c.WritePrepared(ctx, pm); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*conns), "ns/delivery")
}

func BenchmarkMask(b *testing.B) {
	// off 1: a piece of a long frame, unmasked read by read, starts anywhere.
	for _, tc := range []struct{ size, off int }{{16, 0}, {128, 0}, {4096, 0}, {65536, 0}, {65536, 1}} {
		name := sizeName(tc.size)
		if tc.off != 0 {
			name += "/unaligned"
		}
		b.Run(name, func(b *testing.B) {
			p := make([]byte, tc.size+tc.off)[tc.off:]
			key := [4]byte{1, 2, 3, 4}
			b.SetBytes(int64(tc.size))
			for i := 0; i < b.N; i++ {
				maskBytes(key, 1, p)
			}
		})
	}
}

func BenchmarkUTF8(b *testing.B) {
	inputs := map[string][]byte{
		"ascii":  bytes.Repeat([]byte("hello world, "), 1000),
		"greek":  bytes.Repeat([]byte("κόσμε "), 1000),
		"emoji":  bytes.Repeat([]byte("😀 ok "), 1000),
		"mostly": []byte(strings.Repeat("a", 12000) + "é"),
	}
	for name, in := range inputs {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for i := 0; i < b.N; i++ {
				var v utf8Validator
				if !v.write(in) || !v.complete() {
					b.Fatal("invalid")
				}
			}
		})
		b.Run(name+"/stdlib", func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for i := 0; i < b.N; i++ {
				if !utf8.Valid(in) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

func BenchmarkFrameHeader(b *testing.B) {
	var key [4]byte
	b.Run("encode", func(b *testing.B) {
		var buf [maxHeaderSize]byte
		for i := 0; i < b.N; i++ {
			appendHeader(buf[:0], true, 0, opBinary, 70000, true, key)
		}
	})
	b.Run("parse", func(b *testing.B) {
		h := appendHeader(nil, true, 0, opBinary, 70000, true, key)
		for i := 0; i < b.N; i++ {
			if _, _, err := parseHeader(h); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHandshake measures a whole opening handshake over loopback TCP,
// client and server.
func BenchmarkHandshake(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		c.CloseNow()
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c, _, err := Dial(ctx, url, &DialOptions{Proxy: NoProxy})
		if err != nil {
			b.Fatal(err)
		}
		c.CloseNow()
	}
}

// BenchmarkAcceptParse measures the server's request checks alone.
func BenchmarkAcceptParse(b *testing.B) {
	raw := "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		b.Fatal(err)
	}
	w := httptest.NewRecorder()
	opts := &AcceptOptions{}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := checkRequest(w, r, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// writeCounter is a replayConn that counts its writes.
type writeCounter struct {
	replayConn
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) { w.writes++; return len(p), nil }

// BenchmarkEchoPipelined is a ReadInto and Write echo loop whose input
// brings 16 messages per read, as a client with several in flight sends
// them; it reports the writes per message (cork.go: one per read, not one
// per message).
func BenchmarkEchoPipelined(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{16, 64, 512} {
		b.Run(sizeName(size), func(b *testing.B) {
			p := bytes.Repeat([]byte("a"), size)
			wc := &writeCounter{replayConn: replayConn{data: clientFrames(MessageBinary, p, 16)}}
			c := newConn(wc, false, newConnConfig(0, 0, 0, 0, 16<<10, 0), nil)
			buf := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				typ, got, err := c.ReadInto(ctx, buf)
				if err != nil {
					b.Fatal(err)
				}
				buf = got
				if err := c.Write(ctx, typ, got); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(wc.writes)/float64(b.N), "writes/msg")
		})
	}
}
