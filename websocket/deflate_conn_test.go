package websocket

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestCompressedEchoModes(t *testing.T) {
	modes := []struct {
		name   string
		server *CompressionOptions
		client *CompressionOptions
		ext    string
	}{
		{"takeover", &CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1}, &CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1}, ""},
		{"no-takeover", &CompressionOptions{Threshold: -1}, &CompressionOptions{Threshold: -1}, "server_no_context_takeover"},
		{"window-9", &CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1, ServerMaxWindowBits: 9}, &CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1, ClientMaxWindowBits: 10}, "server_max_window_bits=9"},
		{"defaults", &CompressionOptions{}, &CompressionOptions{}, "permessage-deflate"},
	}
	random := make([]byte, 100<<10)
	rand.Read(random)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			url := echoServer(t, &AcceptOptions{Compression: m.server})
			c := dialT(t, url, &DialOptions{Compression: m.client})
			if !strings.Contains(c.Extensions(), "permessage-deflate") || !strings.Contains(c.Extensions(), m.ext) {
				t.Fatalf("extensions %q, want permessage-deflate with %q", c.Extensions(), m.ext)
			}
			ctx := context.Background()
			msgs := [][]byte{
				[]byte("hello"),
				bytes.Repeat([]byte(`{"user":"ada","text":"hello world"},`), 300),
				random,
				{},
				bytes.Repeat([]byte("x"), 1<<20),
			}
			for round := 0; round < 3; round++ {
				for i, p := range msgs {
					typ := MessageText
					if i == 2 || i == 3 {
						typ = MessageBinary
					}
					if err := c.Write(ctx, typ, p); err != nil {
						t.Fatal(err)
					}
					gt, got, err := c.Read(ctx)
					if err != nil {
						t.Fatalf("round %d msg %d: %v", round, i, err)
					}
					if gt != typ || !bytes.Equal(got, p) {
						t.Fatalf("round %d msg %d: echo differs", round, i)
					}
				}
				// Streamed compressed message.
				w, err := c.Writer(ctx, MessageText)
				if err != nil {
					t.Fatal(err)
				}
				want := strings.Repeat("streamed κόσμε ", 2000)
				for i := 0; i < len(want); i += 1000 {
					w.Write([]byte(want[i:min(i+1000, len(want))]))
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				_, got, err := c.Read(ctx)
				if err != nil || string(got) != want {
					t.Fatalf("streamed: %d bytes, %v", len(got), err)
				}
			}
			if err := c.Close(StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A compressed frame of about 256 KiB that inflates to 256 MiB, far past
// the read limit, must close the connection with 1009 while inflating, and
// the process must not allocate anything near the inflated size: the limit
// is checked as bytes come out of the inflater, never after. Both ways of
// reading, and both kinds of decompressor state, are tried.
func TestDecompressionBomb(t *testing.T) {
	// One MiB of zeros, compressed and ended by a sync flush, is a run
	// of non-final blocks that refer to nothing before them: 256 copies
	// back to back are one valid stream of 256 MiB.
	const inflated = 256 << 20
	var zb bytes.Buffer
	fw, _ := flate.NewWriter(&zb, flate.BestCompression)
	fw.Write(make([]byte, 1<<20))
	fw.Flush()
	z := bytes.TrimSuffix(bytes.Repeat(zb.Bytes(), inflated>>20), []byte{0, 0, 0xff, 0xff})
	if len(z) > 1<<20 {
		t.Fatalf("bomb is %d bytes", len(z))
	}

	for _, tc := range []struct {
		name      string
		opts      *CompressionOptions
		offer     string
		streaming bool // read with Reader instead of Read
	}{
		{"no takeover, Read", &CompressionOptions{}, "permessage-deflate", false},
		{"takeover, Read", &CompressionOptions{Mode: CompressionContextTakeover}, "permessage-deflate", false},
		{"takeover, Reader", &CompressionOptions{Mode: CompressionContextTakeover}, "permessage-deflate; client_max_window_bits", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const limit = 1 << 20
			done := make(chan error, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := Accept(w, r, &AcceptOptions{Compression: tc.opts, ReadLimit: limit})
				if err != nil {
					done <- err
					return
				}
				if !tc.streaming {
					_, _, err = c.Read(r.Context())
					done <- err
					return
				}
				_, rd, err := c.Reader(r.Context())
				if err == nil {
					_, err = io.Copy(io.Discard, rd)
				}
				done <- err
			}))
			t.Cleanup(srv.Close)

			nc, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: %s\r\n\r\n", tc.offer)
			resp := make([]byte, 4096)
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _ := nc.Read(resp)
			if !bytes.Contains(resp[:n], []byte("101 Switching")) || !bytes.Contains(resp[:n], []byte("permessage-deflate")) {
				t.Fatalf("handshake: %q", resp[:n])
			}
			key := [4]byte{1, 2, 3, 4}
			frame := appendHeader(nil, true, bitRSV1, opBinary, int64(len(z)), true, key)
			start := len(frame)
			frame = append(frame, z...)
			maskBytes(key, 0, frame[start:])

			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			go nc.Write(frame)
			select {
			case err := <-done:
				if !errors.Is(err, ErrReadLimit) || CloseStatus(err) != -1 {
					t.Fatalf("server read error %v, want one wrapping ErrReadLimit", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("server did not fail the bomb")
			}
			runtime.ReadMemStats(&after)
			// The limit and the read buffers, with room for the race
			// detector; a reader that inflated the message before checking
			// would allocate its 256 MiB.
			grew := after.TotalAlloc - before.TotalAlloc
			t.Logf("a %d KiB bomb failed after %d KiB of allocation (limit %d KiB)", len(z)>>10, grew>>10, limit>>10)
			if grew > 16<<20 {
				t.Errorf("failing a %d-byte bomb allocated %d MiB; the limit is %d MiB", len(z), grew>>20, limit>>20)
			}

			// The peer sees a close frame with 1009 and then the end of
			// the connection.
			got := make([]byte, 0, 256)
			buf := make([]byte, 256)
			for {
				n, err := nc.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			if len(got) < 4 || got[0] != 0x88 || int(got[2])<<8|int(got[3]) != 1009 {
				t.Fatalf("want close 1009, got % x", got[:min(len(got), 16)])
			}
		})
	}
}
