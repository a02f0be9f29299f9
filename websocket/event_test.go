package websocket

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// evBackend makes an EventLoop of one kind; the socket-level tests run
// against each, so the goroutine fallback keeps the semantics of the epoll
// loop.
type evBackend struct {
	name string
	new  func(t *testing.T) *EventLoop
}

func evBackends() []evBackend {
	return []evBackend{
		{"event", func(t *testing.T) *EventLoop {
			// A small buffer, so that most messages span several reads.
			return newLoopWaiting(t, -1)
		}},
		{"goroutine", func(t *testing.T) *EventLoop {
			l := &EventLoop{b: newGoroutineBackend()}
			t.Cleanup(func() { l.Close() })
			return l
		}},
	}
}

const isLinux = runtime.GOOS == "linux"

func forEachBackend(t *testing.T, f func(t *testing.T, loop *EventLoop)) {
	for _, b := range append(evBackends(), platformEvBackends()...) {
		t.Run(b.name, func(t *testing.T) { f(t, b.new(t)) })
	}
}

// evRecorder is an EventHandler that records what it is told and can echo.
type evRecorder struct {
	echo  bool
	onMsg func(c *Conn, typ MessageType, p []byte)

	mu     sync.Mutex
	msgs   map[*Conn][]evMsg
	closes map[*Conn]error
	dups   int
	closed chan evClosed
	count  atomic.Int64
}

type evMsg struct {
	typ MessageType
	p   []byte
}

type evClosed struct {
	c   *Conn
	err error
}

func newRecorder(echo bool) *evRecorder {
	return &evRecorder{
		echo:   echo,
		msgs:   make(map[*Conn][]evMsg),
		closes: make(map[*Conn]error),
		closed: make(chan evClosed, 4096),
	}
}

func (r *evRecorder) OnMessage(c *Conn, typ MessageType, p []byte) {
	r.count.Add(1)
	r.mu.Lock()
	r.msgs[c] = append(r.msgs[c], evMsg{typ, bytes.Clone(p)})
	r.mu.Unlock()
	if r.echo {
		_ = c.Write(context.Background(), typ, p)
	}
	if r.onMsg != nil {
		r.onMsg(c, typ, p)
	}
}

func (r *evRecorder) OnClose(c *Conn, err error) {
	r.mu.Lock()
	if _, ok := r.closes[c]; ok {
		r.dups++
	}
	r.closes[c] = err
	r.mu.Unlock()
	r.closed <- evClosed{c, err}
}

// waitClosed returns the next OnClose call.
func (r *evRecorder) waitClosed(t *testing.T) evClosed {
	t.Helper()
	select {
	case e := <-r.closed:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("OnClose was not called")
		return evClosed{}
	}
}

func (r *evRecorder) messages(c *Conn) []evMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs[c]
}

// echoBack writes every message back; it keeps nothing.
type echoBack struct{}

func (echoBack) OnMessage(c *Conn, typ MessageType, p []byte) {
	_ = c.Write(context.Background(), typ, p)
}
func (echoBack) OnClose(*Conn, error) {}

// serveLoop starts an HTTP server that accepts with opts and hands every
// connection to loop.
func serveLoop(t *testing.T, loop *EventLoop, opts *AcceptOptions, h EventHandler) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			return
		}
		if err := loop.Serve(c, h); err != nil {
			t.Errorf("Serve: %v", err)
			c.CloseNow()
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func TestEventEcho(t *testing.T) {
	forEachBackend(t, func(t *testing.T, loop *EventLoop) {
		rec := newRecorder(true)
		url := serveLoop(t, loop, nil, rec)
		ctx := context.Background()
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := dialT(t, url, nil)
				for _, n := range []int{0, 1, 125, 126, 511, 512, 513, 4096, 65535, 65536, 300_000} {
					typ := MessageBinary
					if n%2 == 1 {
						typ = MessageText
					}
					p := bytes.Repeat([]byte{byte('a' + i)}, n)
					if err := c.Write(ctx, typ, p); err != nil {
						t.Errorf("write %d: %v", n, err)
						return
					}
					gt, got, err := c.Read(ctx)
					if err != nil {
						t.Errorf("read %d: %v", n, err)
						return
					}
					if gt != typ || !bytes.Equal(got, p) {
						t.Errorf("echo of %d bytes: got %v of %d bytes", n, gt, len(got))
					}
				}
				if err := c.Close(StatusNormalClosure, ""); err != nil {
					t.Errorf("close: %v", err)
				}
			}()
		}
		wg.Wait()
		for range 8 {
			e := rec.waitClosed(t)
			if CloseStatus(e.err) != StatusNormalClosure {
				t.Errorf("OnClose: %v, want a close with 1000", e.err)
			}
			if got := len(rec.messages(e.c)); got != 11 {
				t.Errorf("the handler saw %d messages, want 11", got)
			}
		}
	})
}

// TestEventStreamedFragments sends fragmented messages with pings between
// the fragments through the client's streaming writer.
func TestEventStreamedFragments(t *testing.T) {
	forEachBackend(t, func(t *testing.T, loop *EventLoop) {
		rec := newRecorder(true)
		url := serveLoop(t, loop, nil, rec)
		c := dialT(t, url, nil)
		want := writePinged(t, c, 10, func(i int) string { return strings.Repeat("é", i*37) + "|" })
		typ, got, err := c.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if typ != MessageText || string(got) != want {
			t.Fatalf("got %v %q..., want the %d bytes sent", typ, got[:min(len(got), 20)], len(want))
		}
	})
}

// writePinged sends a text message through c's streaming writer in n
// writes, piece(i) each, with a ping after every write, and returns the
// message.
func writePinged(t *testing.T, c *Conn, n int, piece func(i int) string) string {
	t.Helper()
	ctx := context.Background()
	w, err := c.Writer(ctx, MessageText)
	if err != nil {
		t.Fatal(err)
	}
	var sent strings.Builder
	for i := range n {
		s := piece(i)
		sent.WriteString(s)
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		if err := c.writeControl(ctx, opPing, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return sent.String()
}

func TestEventThousandConns(t *testing.T) {
	const n = 1000
	forEachBackend(t, func(t *testing.T, loop *EventLoop) {
		rec := newRecorder(true)
		url := serveLoop(t, loop, nil, rec)
		ctx := context.Background()
		conns := make([]*Conn, n)
		var wg sync.WaitGroup
		work := make(chan int)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					c, _, err := Dial(ctx, url, nil)
					if err != nil {
						t.Errorf("dial %d: %v", i, err)
						continue
					}
					conns[i] = c
					msg := []byte(fmt.Sprintf("message from %d", i))
					if err := c.Write(ctx, MessageText, msg); err != nil {
						t.Errorf("write: %v", err)
						continue
					}
					if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, msg) {
						t.Errorf("echo on %d: %q, %v", i, got, err)
					}
				}
			}()
		}
		for i := range n {
			work <- i
		}
		close(work)
		wg.Wait()
		if t.Failed() {
			return
		}
		// All n connections are open; now close them all, half from each
		// side of the handshake's initiative.
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					if err := c.Close(StatusNormalClosure, "bye"); err != nil {
						t.Errorf("close %d: %v", i, err)
					}
					return
				}
				_ = c.CloseNow()
			}()
		}
		wg.Wait()
		for range n {
			rec.waitClosed(t)
		}
		if rec.dups != 0 {
			t.Errorf("OnClose called twice for %d connections", rec.dups)
		}
		if got := rec.count.Load(); got != n {
			t.Errorf("%d messages, want %d", got, n)
		}
	})
}

// TestEventConcurrentWrites writes to served connections from other
// goroutines while the loop echoes: every frame must arrive whole.
func TestEventConcurrentWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, loop *EventLoop) {
		served := make(chan *Conn, 10)
		rec := newRecorder(true)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := Accept(w, r, nil)
			if err != nil {
				return
			}
			if err := loop.Serve(c, rec); err != nil {
				t.Errorf("Serve: %v", err)
			}
			served <- c
		}))
		t.Cleanup(srv.Close)
		url := "ws" + strings.TrimPrefix(srv.URL, "http")
		ctx := context.Background()
		const conns, pushes, echoes = 4, 200, 200
		var wg sync.WaitGroup
		for range conns {
			c := dialT(t, url, nil)
			sc := <-served
			wg.Add(3)
			go func() { // the server pushes
				defer wg.Done()
				pm := NewPreparedMessage(MessageBinary, bytes.Repeat([]byte{'P'}, 3000))
				for i := range pushes {
					var err error
					if i%2 == 0 {
						err = sc.WritePrepared(ctx, pm)
					} else {
						err = sc.Write(ctx, MessageBinary, bytes.Repeat([]byte{'P'}, 3000))
					}
					if err != nil {
						t.Errorf("push: %v", err)
						return
					}
				}
			}()
			go func() { // the client sends messages to be echoed
				defer wg.Done()
				for range echoes {
					if err := c.Write(ctx, MessageText, bytes.Repeat([]byte{'E'}, 700)); err != nil {
						t.Errorf("write: %v", err)
						return
					}
				}
			}()
			go func() { // the client reads both kinds
				defer wg.Done()
				var p, e int
				for p < pushes || e < echoes {
					typ, m, err := c.Read(ctx)
					if err != nil {
						t.Errorf("read after %d pushes, %d echoes: %v", p, e, err)
						return
					}
					switch {
					case typ == MessageBinary && len(m) == 3000 && bytes.Count(m, []byte{'P'}) == 3000:
						p++
					case typ == MessageText && len(m) == 700 && bytes.Count(m, []byte{'E'}) == 700:
						e++
					default:
						t.Errorf("unexpected %v message of %d bytes", typ, len(m))
						return
					}
				}
			}()
		}
		wg.Wait()
	})
}

// clientFrame encodes one masked frame.
func clientFrame(fin bool, op opcode, p []byte) []byte {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	b := appendHeader(nil, fin, 0, op, int64(len(p)), true, key)
	start := len(b)
	b = append(b, p...)
	maskBytes(key, 0, b[start:])
	return b
}

// rawPeer is a client that writes frames by hand, to send what a correct
// client never would.
type rawPeer struct {
	nc net.Conn
	br *bufio.Reader
}

func dialRawPeer(t *testing.T, url string, extraHeaders string) *rawPeer {
	t.Helper()
	return dialRawPeerVia(t, &net.Dialer{}, url, extraHeaders)
}

// dialRawPeerVia is dialRawPeer with the dialer d (to set socket options
// before the connection is made).
func dialRawPeerVia(t *testing.T, d *net.Dialer, url string, extraHeaders string) *rawPeer {
	t.Helper()
	addr := strings.TrimPrefix(url, "ws://")
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n", addr, extraHeaders)
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	return &rawPeer{nc: nc, br: br}
}

func (p *rawPeer) send(t *testing.T, frames ...[]byte) {
	t.Helper()
	if _, err := p.nc.Write(bytes.Join(frames, nil)); err != nil {
		t.Fatal(err)
	}
}

// readFrame reads one unmasked server frame.
func (p *rawPeer) readFrame(t *testing.T) (opcode, []byte) {
	t.Helper()
	op, payload, err := p.tryReadFrame()
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return op, payload
}

func (p *rawPeer) tryReadFrame() (opcode, []byte, error) { return readFrameFrom(p.br) }

// readFrameFrom reads one unmasked frame from r.
func readFrameFrom(r io.Reader) (opcode, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = int64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = int64(binary.BigEndian.Uint64(b[:]))
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return opcode(h[0] & 0x0F), payload, nil
}

// readClose reads frames until the close frame and returns its code.
func (p *rawPeer) readClose(t *testing.T) StatusCode {
	t.Helper()
	for {
		op, payload := p.readFrame(t)
		if op != opClose {
			continue
		}
		if len(payload) < 2 {
			return StatusNoStatusRcvd
		}
		return StatusCode(binary.BigEndian.Uint16(payload))
	}
}

func TestEventInvalidInput(t *testing.T) {
	unmasked := appendHeader(nil, true, 0, opBinary, 3, false, [4]byte{})
	unmasked = append(unmasked, "abc"...)
	rsv := clientFrame(true, opBinary, []byte("x"))
	rsv[0] |= bitRSV2
	compressed := clientFrame(true, opText, []byte("x"))
	compressed[0] |= bitRSV1
	longPing := clientFrame(true, opPing, bytes.Repeat([]byte{1}, 126))
	cases := []struct {
		name   string
		frames [][]byte
		code   StatusCode
		is     error
	}{
		{"unmasked", [][]byte{unmasked}, StatusProtocolError, ErrProtocol},
		{"reserved opcode", [][]byte{clientFrame(true, opcode(3), nil)}, StatusProtocolError, ErrProtocol},
		{"reserved control opcode", [][]byte{clientFrame(true, opcode(0xB), nil)}, StatusProtocolError, ErrProtocol},
		{"rsv2", [][]byte{rsv}, StatusProtocolError, ErrProtocol},
		{"rsv1 without deflate", [][]byte{compressed}, StatusProtocolError, ErrProtocol},
		{"lone continuation", [][]byte{clientFrame(true, opContinuation, []byte("x"))}, StatusProtocolError, ErrProtocol},
		{"new message inside one", [][]byte{clientFrame(false, opText, []byte("a")), clientFrame(true, opText, []byte("b"))}, StatusProtocolError, ErrProtocol},
		{"fragmented ping", [][]byte{clientFrame(false, opPing, nil)}, StatusProtocolError, ErrProtocol},
		{"long ping", [][]byte{longPing}, StatusProtocolError, ErrProtocol},
		{"bad utf-8", [][]byte{clientFrame(true, opText, []byte("ok\xff"))}, StatusInvalidFramePayloadData, ErrInvalidUTF8},
		{"bad utf-8 across fragments", [][]byte{clientFrame(false, opText, []byte("\xe2\x82")), clientFrame(true, opContinuation, []byte("("))}, StatusInvalidFramePayloadData, ErrInvalidUTF8},
		{"text ends inside a character", [][]byte{clientFrame(true, opText, []byte("\xe2\x82"))}, StatusInvalidFramePayloadData, ErrInvalidUTF8},
		{"too big", [][]byte{clientFrame(true, opBinary, make([]byte, 1001))}, StatusMessageTooBig, ErrReadLimit},
		{"too big in fragments", [][]byte{clientFrame(false, opBinary, make([]byte, 600)), clientFrame(true, opContinuation, make([]byte, 600))}, StatusMessageTooBig, ErrReadLimit},
		{"close code 999", [][]byte{clientFrame(true, opClose, []byte{0x03, 0xE7})}, StatusProtocolError, ErrProtocol},
		{"close of one byte", [][]byte{clientFrame(true, opClose, []byte{3})}, StatusProtocolError, ErrProtocol},
	}
	forEachBackend(t, func(t *testing.T, loop *EventLoop) {
		rec := newRecorder(false)
		url := serveLoop(t, loop, &AcceptOptions{ReadLimit: 1000}, rec)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p := dialRawPeer(t, url, "")
				p.send(t, tc.frames...)
				if got := p.readClose(t); got != tc.code {
					t.Errorf("close code %v, want %v", got, tc.code)
				}
				e := rec.waitClosed(t)
				if !errors.Is(e.err, tc.is) {
					t.Errorf("OnClose error %v, want one wrapping %v", e.err, tc.is)
				}
				if _, _, err := p.tryReadFrame(); err == nil {
					t.Errorf("a frame followed the close frame")
				}
			})
		}
	})
}

func TestEventCloseHandshake(t *testing.T) {
	forEachBackend(t, func(t *testing.T, loop *EventLoop) {
		ctx := context.Background()
		t.Run("client starts", func(t *testing.T) {
			rec := newRecorder(true)
			url := serveLoop(t, loop, nil, rec)
			c := dialT(t, url, nil)
			if err := c.Close(StatusGoingAway, "leaving"); err != nil {
				t.Fatalf("Close: %v", err)
			}
			e := rec.waitClosed(t)
			var ce *CloseError
			if !errors.As(e.err, &ce) || ce.Code != StatusGoingAway || ce.Reason != "leaving" {
				t.Errorf("OnClose: %v, want the client's 1001 leaving", e.err)
			}
		})
		t.Run("handler starts", func(t *testing.T) {
			rec := newRecorder(false)
			closeErr := make(chan error, 1)
			rec.onMsg = func(c *Conn, typ MessageType, p []byte) {
				closeErr <- c.Close(StatusPolicyViolation, "no "+string(p))
			}
			url := serveLoop(t, loop, nil, rec)
			c := dialT(t, url, nil)
			if err := c.Write(ctx, MessageText, []byte("thanks")); err != nil {
				t.Fatal(err)
			}
			_, _, err := c.Read(ctx)
			var ce *CloseError
			if !errors.As(err, &ce) || ce.Code != StatusPolicyViolation || ce.Reason != "no thanks" {
				t.Errorf("client read: %v, want 1008 no thanks", err)
			}
			if err := <-closeErr; err != nil {
				t.Errorf("Close from the handler: %v", err)
			}
			e := rec.waitClosed(t)
			if CloseStatus(e.err) != StatusPolicyViolation {
				t.Errorf("OnClose: %v, want the echoed 1008", e.err)
			}
		})
		t.Run("other goroutine starts", func(t *testing.T) {
			served := make(chan *Conn, 1)
			rec := newRecorder(false)
			rec.onMsg = func(c *Conn, _ MessageType, _ []byte) { served <- c }
			url := serveLoop(t, loop, nil, rec)
			c := dialT(t, url, nil)
			_ = c.Write(ctx, MessageText, []byte("hi"))
			sc := <-served
			go func() {
				if err := sc.Close(StatusNormalClosure, ""); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			if _, _, err := c.Read(ctx); CloseStatus(err) != StatusNormalClosure {
				t.Errorf("client read: %v", err)
			}
			if e := rec.waitClosed(t); CloseStatus(e.err) != StatusNormalClosure {
				t.Errorf("OnClose: %v", e.err)
			}
		})
		t.Run("peer never answers", func(t *testing.T) {
			rec := newRecorder(false)
			rec.onMsg = func(c *Conn, _ MessageType, _ []byte) { _ = c.Close(StatusNormalClosure, "") }
			url := serveLoop(t, loop, &AcceptOptions{CloseTimeout: 200 * time.Millisecond}, rec)
			p := dialRawPeer(t, url, "")
			p.send(t, clientFrame(true, opText, []byte("x")))
			if got := p.readClose(t); got != StatusNormalClosure {
				t.Errorf("close code %v", got)
			}
			e := rec.waitClosed(t)
			if !errors.Is(e.err, ErrClosed) {
				t.Errorf("OnClose: %v, want ErrClosed after the close timeout", e.err)
			}
		})
		t.Run("peer drops the connection", func(t *testing.T) {
			rec := newRecorder(false)
			url := serveLoop(t, loop, nil, rec)
			p := dialRawPeer(t, url, "")
			// Half a frame header, then nothing.
			p.send(t, clientFrame(true, opText, []byte("x"))[:1])
			time.Sleep(20 * time.Millisecond)
			p.nc.Close()
			e := rec.waitClosed(t)
			if !errors.Is(e.err, io.ErrUnexpectedEOF) {
				t.Errorf("OnClose: %v, want one wrapping io.ErrUnexpectedEOF", e.err)
			}
		})
		t.Run("CloseNow", func(t *testing.T) {
			served := make(chan *Conn, 1)
			rec := newRecorder(false)
			rec.onMsg = func(c *Conn, _ MessageType, _ []byte) { served <- c }
			url := serveLoop(t, loop, nil, rec)
			c := dialT(t, url, nil)
			_ = c.Write(ctx, MessageText, []byte("hi"))
			if err := (<-served).CloseNow(); err != nil {
				t.Errorf("CloseNow: %v", err)
			}
			if e := rec.waitClosed(t); !errors.Is(e.err, ErrClosed) {
				t.Errorf("OnClose: %v, want ErrClosed", e.err)
			}
			if _, _, err := c.Read(ctx); err == nil {
				t.Error("the client could still read")
			}
		})
	})
}

// TestEventPingPong checks that pings from the peer are answered and that
// Conn.Ping gets its pong through the loop.
func TestEventPingPong(t *testing.T) {
	forEachBackend(t, func(t *testing.T, loop *EventLoop) {
		served := make(chan *Conn, 1)
		rec := newRecorder(false)
		rec.onMsg = func(c *Conn, _ MessageType, _ []byte) { served <- c }
		url := serveLoop(t, loop, nil, rec)
		p := dialRawPeer(t, url, "")
		p.send(t, clientFrame(true, opPing, []byte("are you there")), clientFrame(true, opText, []byte("x")))
		if op, payload := p.readFrame(t); op != opPong || string(payload) != "are you there" {
			t.Fatalf("got %v %q, want the pong", op, payload)
		}
		sc := <-served
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := sc.Ping(ctx)
			done <- err
		}()
		op, payload := p.readFrame(t)
		if op != opPing {
			t.Fatalf("got %v, want a ping", op)
		}
		p.send(t, clientFrame(true, opPong, payload))
		if err := <-done; err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

// TestEventBytesAfterHandshake sends frames in the same write as the
// handshake: they are in Accept's buffer, not in the socket.
func TestEventBytesAfterHandshake(t *testing.T) {
	forEachBackend(t, func(t *testing.T, loop *EventLoop) {
		rec := newRecorder(true)
		url := serveLoop(t, loop, nil, rec)
		addr := strings.TrimPrefix(url, "ws://")
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		var b bytes.Buffer
		fmt.Fprintf(&b, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
		b.Write(clientFrame(true, opText, []byte("one")))
		b.Write(clientFrame(false, opBinary, []byte("tw")))
		b.Write(clientFrame(true, opContinuation, []byte("o"))[:3]) // the rest comes later
		if _, err := nc.Write(b.Bytes()); err != nil {
			t.Fatal(err)
		}
		p := &rawPeer{nc: nc, br: bufio.NewReader(nc)}
		if resp, err := http.ReadResponse(p.br, nil); err != nil || resp.StatusCode != 101 {
			t.Fatalf("handshake: %v", err)
		}
		if op, m := p.readFrame(t); op != opText || string(m) != "one" {
			t.Fatalf("got %v %q", op, m)
		}
		p.send(t, clientFrame(true, opContinuation, []byte("o"))[3:])
		if op, m := p.readFrame(t); op != opBinary || string(m) != "two" {
			t.Fatalf("got %v %q", op, m)
		}
	})
}

func TestEventCompression(t *testing.T) {
	forEachBackend(t, func(t *testing.T, loop *EventLoop) {
		rec := newRecorder(true)
		url := serveLoop(t, loop, &AcceptOptions{Compression: &CompressionOptions{Threshold: -1}}, rec)
		c := dialT(t, url, &DialOptions{Compression: &CompressionOptions{Threshold: -1}})
		if c.Extensions() == "" {
			t.Fatal("compression was not negotiated")
		}
		ctx := context.Background()
		for _, n := range []int{0, 1, 100, 5000, 200_000} {
			p := []byte(strings.Repeat(`{"seq":12345,"name":"é"}`, n/25+1)[:n])
			if !utf8Valid(p) {
				p = bytes.Repeat([]byte{'z'}, n)
			}
			if err := c.Write(ctx, MessageText, p); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, p) {
				t.Fatalf("echo of %d bytes: %d bytes, %v", n, len(got), err)
			}
		}
		// A compressed message streamed in several frames.
		w, err := c.Writer(ctx, MessageBinary)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		for i := range 50 {
			chunk := bytes.Repeat([]byte{byte(i)}, 3000)
			want.Write(chunk)
			if _, err := w.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("echo of the streamed message: %d bytes, %v", len(got), err)
		}
	})
}

func utf8Valid(p []byte) bool {
	var v utf8Validator
	return v.write(p) && v.complete()
}

func TestEventCompressedTooBig(t *testing.T) {
	forEachBackend(t, func(t *testing.T, loop *EventLoop) {
		rec := newRecorder(true)
		url := serveLoop(t, loop, &AcceptOptions{ReadLimit: 10_000, Compression: &CompressionOptions{}}, rec)
		c := dialT(t, url, &DialOptions{Compression: &CompressionOptions{}})
		ctx := context.Background()
		// Compresses to a few dozen bytes, inflates past the limit.
		if err := c.Write(ctx, MessageBinary, make([]byte, 20_000)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(ctx); CloseStatus(err) != StatusMessageTooBig {
			t.Errorf("client read: %v, want a close with 1009", err)
		}
		if e := rec.waitClosed(t); !errors.Is(e.err, ErrReadLimit) {
			t.Errorf("OnClose: %v, want ErrReadLimit", e.err)
		}
	})
}

func TestEventServeErrors(t *testing.T) {
	loop, err := NewEventLoop(EventLoopOptions{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loop.Close() })
	rec := newRecorder(true)

	t.Run("client connection", func(t *testing.T) {
		url := echoServer(t, nil)
		c := dialT(t, url, nil)
		if err := loop.Serve(c, rec); !errors.Is(err, ErrNotServable) {
			t.Errorf("Serve: %v, want ErrNotServable", err)
		}
	})
	t.Run("nil handler", func(t *testing.T) {
		if err := loop.Serve(nil, nil); !errors.Is(err, ErrNotServable) {
			t.Errorf("Serve: %v, want ErrNotServable", err)
		}
	})
	t.Run("served twice, read while served", func(t *testing.T) {
		errs := make(chan error, 2)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := Accept(w, r, nil)
			if err != nil {
				return
			}
			errs <- loop.Serve(c, rec)
			errs <- loop.Serve(c, rec)
			_, _, err = c.Read(context.Background())
			errs <- err
		}))
		t.Cleanup(srv.Close)
		dialT(t, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err := <-errs; err != nil {
			t.Errorf("first Serve: %v", err)
		}
		if err := <-errs; !errors.Is(err, ErrNotServable) {
			t.Errorf("second Serve: %v, want ErrNotServable", err)
		}
		if err := <-errs; !errors.Is(err, errServed) {
			t.Errorf("Read of a served connection: %v", err)
		}
	})
	t.Run("TLS", func(t *testing.T) {
		errs := make(chan error, 1)
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := Accept(w, r, nil)
			if err != nil {
				errs <- err
				return
			}
			defer c.CloseNow()
			errs <- loop.Serve(c, rec)
		}))
		t.Cleanup(srv.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tc := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		tc.NextProtos = nil
		c, _, err := Dial(ctx, "wss"+strings.TrimPrefix(srv.URL, "https"), &DialOptions{TLSConfig: tc})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.CloseNow()
		err = <-errs
		if isLinux && !errors.Is(err, ErrNotServable) {
			t.Errorf("Serve of a TLS connection: %v, want ErrNotServable", err)
		}
	})
	t.Run("after Close", func(t *testing.T) {
		l2, err := NewEventLoop(EventLoopOptions{Loops: 1})
		if err != nil {
			t.Fatal(err)
		}
		l2.Close()
		errs := make(chan error, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			errs <- l2.Serve(c, rec)
		}))
		t.Cleanup(srv.Close)
		dialT(t, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err := <-errs; !errors.Is(err, ErrEventLoopClosed) {
			t.Errorf("Serve after Close: %v, want ErrEventLoopClosed", err)
		}
	})
}

// TestEventLoopClose ends every served connection.
func TestEventLoopClose(t *testing.T) {
	for _, b := range evBackends() {
		t.Run(b.name, func(t *testing.T) {
			loop := b.new(t)
			rec := newRecorder(true)
			url := serveLoop(t, loop, nil, rec)
			ctx := context.Background()
			var clients []*Conn
			for range 10 {
				c := dialT(t, url, nil)
				_ = c.Write(ctx, MessageText, []byte("hi"))
				if _, _, err := c.Read(ctx); err != nil {
					t.Fatal(err)
				}
				clients = append(clients, c)
			}
			if err := loop.Close(); err != nil {
				t.Fatal(err)
			}
			// Close has waited for every OnClose.
			if len(rec.closed) != 10 {
				t.Fatalf("%d OnClose calls when Close returned, want 10", len(rec.closed))
			}
			for range 10 {
				if e := rec.waitClosed(t); !errors.Is(e.err, ErrClosed) {
					t.Errorf("OnClose: %v, want ErrClosed", e.err)
				}
			}
			for _, c := range clients {
				if _, _, err := c.Read(ctx); err == nil {
					t.Error("a client could still read")
				}
			}
		})
	}
}

// TestEventLongText checks UTF-8 in a long text message, much of which is
// read straight into the message buffer.
func TestEventLongText(t *testing.T) {
	forEachBackend(t, func(t *testing.T, loop *EventLoop) {
		rec := newRecorder(true)
		url := serveLoop(t, loop, nil, rec)
		good := []byte(strings.Repeat("wörld ", 50_000))
		p := dialRawPeer(t, url, "")
		p.send(t, clientFrame(true, opText, good))
		if op, m := p.readFrame(t); op != opText || !bytes.Equal(m, good) {
			t.Fatalf("echo: %v of %d bytes", op, len(m))
		}
		bad := append(bytes.Clone(good), 0xff)
		p.send(t, clientFrame(true, opText, bad))
		if got := p.readClose(t); got != StatusInvalidFramePayloadData {
			t.Errorf("close code %v, want 1007", got)
		}
		if e := rec.waitClosed(t); !errors.Is(e.err, ErrInvalidUTF8) {
			t.Errorf("OnClose: %v", e.err)
		}
	})
}

// TestEventMessagesAfterClose: what the peer sends between our close frame
// and its own still reaches the handler.
func TestEventMessagesAfterClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, loop *EventLoop) {
		rec := newRecorder(false)
		var once sync.Once
		rec.onMsg = func(c *Conn, _ MessageType, _ []byte) {
			once.Do(func() { go c.Close(StatusGoingAway, "") })
		}
		url := serveLoop(t, loop, nil, rec)
		p := dialRawPeer(t, url, "")
		p.send(t, clientFrame(true, opText, []byte("first")))
		if got := p.readClose(t); got != StatusGoingAway {
			t.Fatalf("close code %v", got)
		}
		p.send(t, clientFrame(true, opText, []byte("second")), clientFrame(true, opBinary, []byte("third")),
			clientFrame(true, opClose, []byte{0x03, 0xE9}))
		e := rec.waitClosed(t)
		if CloseStatus(e.err) != StatusGoingAway {
			t.Errorf("OnClose: %v", e.err)
		}
		var got []string
		for _, m := range rec.messages(e.c) {
			got = append(got, string(m.p))
		}
		if strings.Join(got, ",") != "first,second,third" {
			t.Errorf("the handler saw %q", got)
		}
	})
}
