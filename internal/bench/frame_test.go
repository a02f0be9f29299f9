package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestClientFrameRoundTrip(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 100000} {
		p := Payload(n)
		f := appendClientFrame(nil, opBinary, n%2 == 0, p, key)
		// Read it back as a server would: the mask bit is set, so clear it
		// to reuse the server-side parser, then unmask.
		g := bytes.Clone(f)
		g[1] &^= bitMask
		h, ok, err := parseServerHeader(g)
		if err != nil || !ok {
			t.Fatalf("size %d: %v %v", n, ok, err)
		}
		if h.op != opBinary || !h.fin || h.rsv1 != (n%2 == 0) || h.length != int64(n) {
			t.Fatalf("size %d: header %+v", n, h)
		}
		body := g[h.size+4:]
		for i := range body {
			body[i] ^= key[i&3]
		}
		if !bytes.Equal(body, p) {
			t.Fatalf("size %d: payload changed", n)
		}
	}
}

func TestParseServerHeaderRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"masked":          {0x81, 0x80 | 5},
		"rsv2":            {0xA1, 5},
		"long ping":       {0x89, 126, 0, 200},
		"fragmented ping": {0x09, 0},
	} {
		if _, _, err := parseServerHeader(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, ok, err := parseServerHeader([]byte{0x82, 127, 0, 0}); ok || err != nil {
		t.Errorf("a cut 64-bit length should ask for more bytes: %v %v", ok, err)
	}
}

func TestFrameBankIsContiguous(t *testing.T) {
	b, err := newFrameBank(Payload(300), true, true, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	for seq := int64(0); seq < 10; seq++ {
		fs := b.frames(seq, 3)
		if len(fs) != 3*b.frameLen {
			t.Fatalf("frames(%d, 3) has %d bytes", seq, len(fs))
		}
		for i := 0; i < 3; i++ {
			f := fs[i*b.frameLen : (i+1)*b.frameLen]
			if f[0] != bitFin|bitRSV1|opText || f[1]&bitMask == 0 {
				t.Fatalf("frame %d of seq %d: bad header % x", i, seq, f[:2])
			}
		}
	}
	var in inflater
	deflated, _ := deflateMessage(b.payload)
	p, err := in.inflate(deflated, len(b.payload))
	if err != nil || !bytes.Equal(p, b.payload) {
		t.Fatalf("inflate: %v", err)
	}
	if _, err := in.inflate(deflated, len(b.payload)-1); err == nil {
		t.Fatal("inflate ignored its limit")
	}
}

func TestCheckUpgrade(t *testing.T) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	const accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" // RFC 6455 §1.3
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept
	if d, err := checkUpgrade(ok, key, false); err != nil || d {
		t.Fatalf("plain: %v %v", d, err)
	}
	withExt := ok + "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	if d, err := checkUpgrade(withExt, key, true); err != nil || !d {
		t.Fatalf("deflate: %v %v", d, err)
	}
	for name, tc := range map[string]struct {
		head    string
		offered bool
		want    string
	}{
		"not 101":     {"HTTP/1.1 404 Not Found", false, `answered "HTTP/1.1 404 Not Found"`},
		"bad accept":  {strings.Replace(ok, accept, "xxx", 1), false, "wrong Sec-WebSocket-Accept"},
		"unoffered":   {withExt, false, "not offered"},
		"takeover":    {ok + "\r\nSec-WebSocket-Extensions: permessage-deflate", true, "without server_no_context_takeover"},
		"unknown ext": {ok + "\r\nSec-WebSocket-Extensions: x-foo", true, "only permessage-deflate"},
	} {
		if _, err := checkUpgrade(tc.head, key, tc.offered); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func TestLoopbackSources(t *testing.T) {
	got := LoopbackSources("127.0.0.1", 300, 2)
	if len(got) != 300 || got[0].String() != "127.2.0.1" || got[255].String() != "127.2.1.0" || got[299].String() != "127.2.1.44" {
		t.Fatalf("sources %v ... %v", got[0], got[len(got)-1])
	}
	if LoopbackSources("10.0.0.1", 4, 0) != nil || LoopbackSources("::1", 4, 0) != nil {
		t.Fatal("non-loopback IPv4 targets must not be spread")
	}
	if s := LoopbackSources("localhost", 1, 0); len(s) != 1 || s[0].String() != "127.0.0.1" {
		t.Fatalf("localhost: %v", s)
	}
}
