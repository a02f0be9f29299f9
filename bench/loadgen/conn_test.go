package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
)

// serverFrame encodes an unmasked server frame.
func serverFrame(fin, rsv1 bool, op byte, p []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	if rsv1 {
		b0 |= 0x40
	}
	f := []byte{b0}
	switch n := len(p); {
	case n <= 125:
		f = append(f, byte(n))
	case n <= 0xffff:
		f = append(f, 126, byte(n>>8), byte(n))
	default:
		f = append(f, 127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	return append(f, p...)
}

// pipeConn returns a client conn whose server side receives the bytes
// written by feed; whatever the client writes is drained.
func pipeConn(t *testing.T, fs *frameSet, compress bool, feed []byte) *conn {
	t.Helper()
	cli, srv := net.Pipe()
	t.Cleanup(func() { cli.Close(); srv.Close() })
	go func() { _, _ = srv.Write(feed) }()
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := srv.Read(buf); err != nil {
				return
			}
		}
	}()
	return newConn(cli, fs, compress, 64) // tiny buffer: payloads span reads
}

func TestReadEchoFragmentedWithPing(t *testing.T) {
	fs, err := newFrameSet(300, false, false)
	if err != nil {
		t.Fatal(err)
	}
	w := fs.want
	var feed []byte
	feed = append(feed, serverFrame(false, false, 2, w[:100])...)
	feed = append(feed, serverFrame(true, false, 9, []byte("hi"))...) // ping in between
	feed = append(feed, serverFrame(false, false, 0, w[100:250])...)
	feed = append(feed, serverFrame(true, false, 0, w[250:])...)
	c := pipeConn(t, fs, false, feed)
	if err := c.readEcho(); err != nil {
		t.Fatalf("readEcho of a correct fragmented echo: %v", err)
	}
}

func TestReadEchoDetectsMismatch(t *testing.T) {
	fs, _ := newFrameSet(200, false, false)
	bad := append([]byte(nil), fs.want...)
	bad[150] ^= 1
	cases := map[string][]byte{
		"flipped byte": serverFrame(true, false, 2, bad),
		"short":        serverFrame(true, false, 2, fs.want[:199]),
		"long":         serverFrame(true, false, 2, append(append([]byte(nil), fs.want...), 'x')),
	}
	for name, feed := range cases {
		t.Run(name, func(t *testing.T) {
			c := pipeConn(t, fs, false, feed)
			if err := c.readEcho(); !errors.Is(err, errMismatch) {
				t.Fatalf("readEcho = %v, want errMismatch", err)
			}
		})
	}
}

func TestReadEchoProtocolErrors(t *testing.T) {
	fs, _ := newFrameSet(10, false, false)
	masked := serverFrame(true, false, 2, fs.want)
	masked[1] |= 0x80
	cases := map[string]struct {
		feed []byte
		want string
	}{
		"masked":        {masked, "masked"},
		"wrong opcode":  {serverFrame(true, false, 1, fs.want), "opcode"},
		"close":         {serverFrame(true, false, 8, []byte{0x03, 0xf3, 'b', 'y', 'e'}), "1011"},
		"uninvited z":   {serverFrame(true, true, 2, fs.want), "not negotiated"},
		"orphan contin": {serverFrame(true, false, 0, fs.want), "continuation"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := pipeConn(t, fs, false, tc.feed)
			err := c.readEcho()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("readEcho = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestReadEchoCompressed(t *testing.T) {
	fs, err := newFrameSet(5000, false, true)
	if err != nil {
		t.Fatal(err)
	}
	z, err := deflateMessage(fs.want, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(z) >= len(fs.want)/2 {
		t.Fatalf("payload compresses to %d of %d bytes; it should be text-like", len(z), len(fs.want))
	}
	// Same echo twice (second hits the verified copy), split over two frames.
	var feed []byte
	for range 2 {
		feed = append(feed, serverFrame(false, true, 2, z[:10])...)
		feed = append(feed, serverFrame(true, false, 0, z[10:])...)
	}
	// Then a different compression of the same message (level 9), which
	// must be inflated again, and one of a different message.
	z9, _ := deflateMessage(fs.want, 9)
	feed = append(feed, serverFrame(true, true, 2, z9)...)
	other, _ := deflateMessage(makePayload(4999), 1)
	feed = append(feed, serverFrame(true, true, 2, other)...)

	c := pipeConn(t, fs, true, feed)
	for i := range 3 {
		if err := c.readEcho(); err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
	}
	if err := c.readEcho(); !errors.Is(err, errMismatch) {
		t.Fatalf("echo of another message = %v, want errMismatch", err)
	}
}

func TestClientFrameIsMasked(t *testing.T) {
	p := []byte("hello, world")
	f := clientFrame(1, false, p)
	if f[0] != 0x81 || f[1] != 0x80|byte(len(p)) {
		t.Fatalf("header = % x", f[:2])
	}
	key, body := f[2:6], f[6:]
	got := make([]byte, len(body))
	for i := range body {
		got[i] = body[i] ^ key[i&3]
	}
	if !bytes.Equal(got, p) {
		t.Fatalf("unmasked payload = %q", got)
	}
	big := clientFrame(2, true, make([]byte, 70000))
	if big[0] != 0xc2 || big[1] != 0x80|127 || binary.BigEndian.Uint64(big[2:]) != 70000 {
		t.Fatalf("64-bit length header = % x", big[:10])
	}
}

func TestCheckResponse(t *testing.T) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
	if err := checkResponse(ok, key, false); err != nil {
		t.Fatalf("RFC 6455 example rejected: %v", err)
	}
	if err := checkResponse(ok, key, true); err == nil {
		t.Fatal("accepted a response without permessage-deflate when it was required")
	}
	z := ok + "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	if err := checkResponse(z, key, true); err != nil {
		t.Fatalf("deflate response rejected: %v", err)
	}
	if err := checkResponse(strings.Replace(ok, "s3p", "x3p", 1), key, false); err == nil {
		t.Fatal("accepted a wrong Sec-WebSocket-Accept")
	}
	if err := checkResponse("HTTP/1.1 403 Forbidden", key, false); err == nil {
		t.Fatal("accepted a 403")
	}
}
