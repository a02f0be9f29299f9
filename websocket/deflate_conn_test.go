package websocket

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
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

// A compressed frame of a few KiB that inflates far past the read limit must
// close the connection with 1009 while inflating, without the reader ever
// holding more than about the limit.
func TestDecompressionBomb(t *testing.T) {
	var zb bytes.Buffer
	fw, _ := flate.NewWriter(&zb, flate.BestCompression)
	zero := make([]byte, 1<<20)
	for i := 0; i < 256; i++ { // 256 MiB of zeros
		fw.Write(zero)
	}
	fw.Flush()
	z := bytes.TrimSuffix(zb.Bytes(), []byte{0, 0, 0xff, 0xff})
	if len(z) > 1<<20 {
		t.Fatalf("bomb is %d bytes", len(z))
	}

	done := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{Compression: &CompressionOptions{}, ReadLimit: 1 << 20})
		if err != nil {
			done <- err
			return
		}
		_, _, err = c.Read(r.Context())
		done <- err
	}))
	t.Cleanup(srv.Close)

	nc, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
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
	go nc.Write(frame)

	select {
	case err := <-done:
		if CloseStatus(err) != -1 || !strings.Contains(err.Error(), "read limit") {
			t.Fatalf("server read error %v, want read limit", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not fail the bomb")
	}
	// The client side sees a close frame with 1009.
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
}
