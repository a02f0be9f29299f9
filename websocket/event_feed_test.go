//go:build linux

package websocket

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// These tests drive the event-mode parser directly, handing it the input
// in chunks of every size and split at every position, which a socket test
// cannot force.

// feedConn is a server Conn in event mode whose input the test supplies;
// its writes (pongs, close frames) go to peer.
type feedConn struct {
	c    *Conn
	ec   *eventConn
	rec  *evRecorder
	peer net.Conn
	s    eventScratch
}

func newFeedConn(t *testing.T, cfg connConfig) *feedConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close(); nc.Close() })
	c := newConn(nc, false, cfg, nil)
	c.raw = nil
	rec := newRecorder(false)
	ec := &eventConn{c: c, h: rec}
	// The transport of event mode, as Serve sets it up, without a loop.
	tc := nc.(*net.TCPConn)
	sc, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	if cerr := sc.Control(func(f uintptr) { fd, err = dupCloexec(int(f)) }); cerr != nil || err != nil {
		t.Fatal(cerr, err)
	}
	ec.fdc.init(fd, tc.LocalAddr(), tc.RemoteAddr())
	c.nc = &ec.fdc
	tc.Close()
	t.Cleanup(func() { ec.fdc.Close() })
	c.ev.Store(ec)
	return &feedConn{c: c, ec: ec, rec: rec, peer: peer}
}

// input hands the parser one chunk, as the loop does after a read: the
// kept tail of the last chunk first.
func (f *feedConn) input(chunk []byte) error {
	buf := make([]byte, f.ec.nleft+len(chunk))
	off := f.ec.takeLeft(buf)
	copy(buf[off:], chunk)
	f.ec.dropLeft()
	err := f.ec.feed(buf, &f.s)
	clear(buf) // the handler's p must not be used after the call
	return err
}

// stream is a sequence of client frames and the messages and pong payloads
// it must produce.
type stream struct {
	wire  []byte
	msgs  []evMsg
	pongs [][]byte
}

func (s *stream) frame(fin bool, op opcode, p []byte) {
	s.wire = append(s.wire, clientFrame(fin, op, p)...)
}

func (s *stream) ping(p []byte) {
	s.frame(true, opPing, p)
	s.pongs = append(s.pongs, p)
}

func (s *stream) want(typ MessageType, p string) { s.msgs = append(s.msgs, evMsg{typ, []byte(p)}) }

// mixedStream has fragmented messages with control frames between the
// fragments, a fragment boundary inside a UTF-8 character, empty frames and
// messages, and every header length form.
func mixedStream(big bool) *stream {
	s := &stream{}
	s.frame(false, opText, []byte("h\xc3"))
	s.ping([]byte("p1"))
	s.frame(false, opContinuation, []byte("\xa9llo w"))
	s.frame(true, opPong, []byte("unsolicited"))
	s.frame(true, opContinuation, []byte("\xc3\xb6rld"))
	s.want(MessageText, "héllo wörld")

	p300 := bytes.Repeat([]byte("0123456789"), 30)
	s.frame(true, opBinary, p300)
	s.want(MessageBinary, string(p300))

	s.frame(true, opText, nil)
	s.want(MessageText, "")

	s.frame(false, opBinary, nil)
	s.frame(false, opContinuation, []byte("ab"))
	s.ping(nil)
	s.frame(true, opContinuation, nil)
	s.want(MessageBinary, "ab")

	s.ping(bytes.Repeat([]byte{'x'}, maxControlPayload))
	s.frame(true, opText, []byte("after the long ping"))
	s.want(MessageText, "after the long ping")

	if big {
		p := bytes.Repeat([]byte("big message "), 6000) // over 65535: 8-byte length
		s.frame(false, opBinary, p[:40000])
		s.ping([]byte("mid"))
		s.frame(true, opContinuation, p[40000:])
		s.want(MessageBinary, string(p))
	}
	return s
}

// check compares what the handler saw and what the peer received with the
// stream's expectations, and resets the recorder.
func (f *feedConn) check(t *testing.T, s *stream, how string) {
	t.Helper()
	got := f.rec.messages(f.c)
	if len(got) != len(s.msgs) {
		t.Fatalf("%s: %d messages, want %d", how, len(got), len(s.msgs))
	}
	for i, m := range got {
		if m.typ != s.msgs[i].typ || !bytes.Equal(m.p, s.msgs[i].p) {
			t.Fatalf("%s: message %d is %v %q, want %v %q", how, i, m.typ, trunc(m.p), s.msgs[i].typ, trunc(s.msgs[i].p))
		}
	}
	f.rec.mu.Lock()
	f.rec.msgs = make(map[*Conn][]evMsg)
	f.rec.mu.Unlock()
	_ = f.peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i, want := range s.pongs {
		op, p := readServerFrame(t, f.peer)
		if op != opPong || !bytes.Equal(p, want) {
			t.Fatalf("%s: frame %d to the peer is %v %q, want a pong %q", how, i, op, p, want)
		}
	}
	if f.ec.left != nil || f.ec.msg != nil || f.c.inMsg {
		t.Fatalf("%s: the connection holds buffers between messages", how)
	}
}

func trunc(p []byte) []byte { return p[:min(len(p), 40)] }

func readServerFrame(t *testing.T, r io.Reader) (opcode, []byte) {
	t.Helper()
	op, payload, err := readFrameFrom(r)
	if err != nil {
		t.Fatalf("reading a frame from the server: %v", err)
	}
	return op, payload
}

func TestEventFeedEveryByte(t *testing.T) {
	s := mixedStream(true)
	f := newFeedConn(t, newConnConfig(0, 0, 0, 0, 0, 0))
	for i := range s.wire {
		if err := f.input(s.wire[i : i+1]); err != nil {
			t.Fatalf("byte %d: %v", i, err)
		}
	}
	f.check(t, s, "one byte at a time")
}

func TestEventFeedEverySplit(t *testing.T) {
	s := mixedStream(false)
	f := newFeedConn(t, newConnConfig(0, 0, 0, 0, 0, 0))
	for i := 0; i <= len(s.wire); i++ {
		for j := i; j <= len(s.wire); j += max(1, (len(s.wire)-i)/7) {
			for _, chunk := range [][]byte{s.wire[:i], s.wire[i:j], s.wire[j:]} {
				if err := f.input(chunk); err != nil {
					t.Fatalf("split at %d and %d: %v", i, j, err)
				}
			}
			f.check(t, s, "split")
		}
	}
}

func TestEventFeedRandomChunks(t *testing.T) {
	s := mixedStream(true)
	f := newFeedConn(t, newConnConfig(0, 0, 0, 0, 0, 0))
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 30 {
		for w := s.wire; len(w) > 0; {
			n := min(len(w), 1+rng.IntN(3000))
			if err := f.input(w[:n]); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			w = w[n:]
		}
		f.check(t, s, "random chunks")
	}
}

// TestEventFeedCompressed splits compressed messages, fragmented ones
// included, at every byte.
func TestEventFeedCompressed(t *testing.T) {
	cfg := newConnConfig(0, 0, 0, 0, 0, 0)
	cfg.deflateOn = true
	cfg.deflate = deflateParams{serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15}
	cfg.compression = &CompressionOptions{}
	f := newFeedConn(t, cfg)
	comp := newDeflateCompressor(1, 15, false)
	z := func(p string) []byte {
		out, err := comp.compress(nil, []byte(p))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	s := &stream{}
	text := `{"hello":"wörld","n":[1,2,3,4,5,6,7,8,9,10]}`
	zt := z(text)
	s.frame(true, opText, zt)
	s.wire[0] |= bitRSV1
	s.want(MessageText, text)

	long := string(bytes.Repeat([]byte(text), 200))
	zl := z(long)
	start := len(s.wire)
	s.frame(false, opBinary, zl[:len(zl)/3])
	s.wire[start] |= bitRSV1
	s.ping([]byte("between"))
	s.frame(false, opContinuation, zl[len(zl)/3:len(zl)/2])
	s.frame(true, opContinuation, zl[len(zl)/2:])
	s.want(MessageBinary, long)

	s.frame(true, opText, []byte("plain"))
	s.want(MessageText, "plain")

	start = len(s.wire)
	s.frame(true, opBinary, nil) // an empty compressed message
	s.wire[start] |= bitRSV1
	s.want(MessageBinary, "")

	for i := range s.wire {
		if err := f.input(s.wire[i : i+1]); err != nil {
			t.Fatalf("byte %d: %v", i, err)
		}
	}
	f.check(t, s, "one byte at a time")
	for i := 0; i <= len(s.wire); i += 3 {
		for _, chunk := range [][]byte{s.wire[:i], s.wire[i:]} {
			if err := f.input(chunk); err != nil {
				t.Fatalf("split at %d: %v", i, err)
			}
		}
		f.check(t, s, "split")
	}
}

// TestEventFeedInvalid checks that bad input fed a byte at a time fails
// with the same code as when it comes whole.
func TestEventFeedInvalid(t *testing.T) {
	cases := []struct {
		name string
		wire []byte
		code StatusCode
		is   error
	}{
		{"bad utf-8 in the second fragment", append(clientFrame(false, opText, []byte("ok")), clientFrame(true, opContinuation, []byte("\xc0\xaf"))...), StatusInvalidFramePayloadData, ErrInvalidUTF8},
		{"ping too long", clientFrame(true, opPing, make([]byte, 200)), StatusProtocolError, ErrProtocol},
		{"too big", clientFrame(true, opBinary, make([]byte, 2000)), StatusMessageTooBig, ErrReadLimit},
		{"reserved opcode after a message", append(clientFrame(true, opText, []byte("fine")), clientFrame(true, opcode(5), nil)...), StatusProtocolError, ErrProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeedConn(t, newConnConfig(1000, time.Second, 0, 0, 0, 0))
			var err error
			for i := 0; i < len(tc.wire) && err == nil; i++ {
				err = f.input(tc.wire[i : i+1])
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("error %v, want one wrapping %v", err, tc.is)
			}
			_ = f.peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				op, p := readServerFrame(t, f.peer)
				if op == opClose {
					if got := StatusCode(int(p[0])<<8 | int(p[1])); got != tc.code {
						t.Errorf("close code %v, want %v", got, tc.code)
					}
					break
				}
			}
		})
	}
}
