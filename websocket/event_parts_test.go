package websocket

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// partRecorder is an EventPartHandler that records the parts and whole
// messages of each connection and, with echo set, streams every message
// back through a MessageWriter as its parts arrive.
type partRecorder struct {
	echo bool

	mu      sync.Mutex
	open    map[*Conn]*partMsg // a message in parts not ended yet
	done    map[*Conn][]partMsg
	writers map[*Conn]*MessageWriter
	closed  chan evClosed
}

// partMsg is one message as the handler saw it: whole (parts == 0) or in
// parts, with the type of every call.
type partMsg struct {
	typ   MessageType
	p     []byte
	parts int
	types []MessageType
}

func newPartRecorder(echo bool) *partRecorder {
	return &partRecorder{
		echo:    echo,
		open:    make(map[*Conn]*partMsg),
		done:    make(map[*Conn][]partMsg),
		writers: make(map[*Conn]*MessageWriter),
		closed:  make(chan evClosed, 64),
	}
}

func (r *partRecorder) OnMessage(c *Conn, typ MessageType, p []byte) {
	r.mu.Lock()
	r.done[c] = append(r.done[c], partMsg{typ: typ, p: bytes.Clone(p)})
	r.mu.Unlock()
	if r.echo {
		_ = c.Write(context.Background(), typ, p)
	}
}

func (r *partRecorder) OnMessagePart(c *Conn, typ MessageType, p []byte, final bool) {
	r.mu.Lock()
	m := r.open[c]
	if m == nil {
		m = &partMsg{typ: typ}
		r.open[c] = m
	}
	m.p = append(m.p, p...)
	m.parts++
	m.types = append(m.types, typ)
	if final {
		r.done[c] = append(r.done[c], *m)
		delete(r.open, c)
	}
	w := r.writers[c]
	r.mu.Unlock()
	if !r.echo {
		return
	}
	if w == nil {
		var err error
		if w, err = c.Writer(context.Background(), typ); err != nil {
			return
		}
		r.mu.Lock()
		r.writers[c] = w
		r.mu.Unlock()
	}
	if !final {
		_, _ = w.Write(p)
		return
	}
	_ = w.CloseWith(p) // the last part and the end of the message in one frame
	r.mu.Lock()
	delete(r.writers, c)
	r.mu.Unlock()
}

func (r *partRecorder) OnClose(c *Conn, err error) {
	r.mu.Lock()
	w := r.writers[c]
	delete(r.writers, c)
	r.mu.Unlock()
	if w != nil {
		_ = w.Close()
	}
	r.closed <- evClosed{c, err}
}

// messages returns what the handler saw of c: whole messages and messages
// in parts, and the message in parts not ended yet (nil if none).
func (r *partRecorder) messages(c *Conn) ([]partMsg, *partMsg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done[c], r.open[c]
}

// partsAbove is the threshold the parts tests set.
const partsAbove = 10_000

// partBackends are the two kinds of loop with PartsAbove set; the epoll
// loop reads 4 KiB at a time, so a long message arrives in many reads.
func partBackends() []evBackend {
	return []evBackend{
		{"event", func(t *testing.T) *EventLoop {
			l, err := NewEventLoop(EventLoopOptions{Loops: 1, ReadBufferSize: 4096, PartsAbove: partsAbove})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return l
		}},
		{"goroutine", func(t *testing.T) *EventLoop {
			b := newGoroutineBackend()
			b.partsAbove = partsAbove
			l := &EventLoop{b: b}
			t.Cleanup(func() { l.Close() })
			return l
		}},
	}
}

// TestEventPartsDelivery: messages up to PartsAbove come whole; longer
// ones, and a fragmented one that grows past it, come in parts, in order,
// with final on the last only; the echo streamed back through a
// MessageWriter is the message sent.
func TestEventPartsDelivery(t *testing.T) {
	for _, b := range partBackends() {
		t.Run(b.name, func(t *testing.T) {
			loop := b.new(t)
			rec := newPartRecorder(true)
			url := serveLoop(t, loop, nil, rec)
			c := dialT(t, url, nil)
			ctx := context.Background()
			text := []byte(strings.Repeat("añ€😀", 3000)) // 30 000 bytes, characters of 1–4 bytes
			sent := []struct {
				typ MessageType
				p   []byte
			}{
				{MessageBinary, bytes.Repeat([]byte{1}, 100)},
				{MessageBinary, bytes.Repeat([]byte{2}, partsAbove)},
				{MessageBinary, bytes.Repeat([]byte{3}, partsAbove+1)},
				{MessageText, text},
				{MessageBinary, bytes.Repeat([]byte{4, 5, 6}, 350_000)},
				{MessageBinary, nil},
			}
			for i, m := range sent {
				if err := c.Write(ctx, m.typ, m.p); err != nil {
					t.Fatal(err)
				}
				typ, got, err := c.Read(ctx)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if typ != m.typ || !bytes.Equal(got, m.p) {
					t.Fatalf("echo of message %d: %v of %d bytes, want %v of %d", i, typ, len(got), m.typ, len(m.p))
				}
			}
			// A fragmented message whose fragments are short: gathered
			// until it passes the threshold, then in parts.
			frag := []byte(writePinged(t, c, 40, func(i int) string { return strings.Repeat("ü", 300) + string(rune('a'+i%26)) }))
			if typ, got, err := c.Read(ctx); err != nil || typ != MessageText || !bytes.Equal(got, frag) {
				t.Fatalf("echo of the fragmented message: %v %d bytes %v", typ, len(got), err)
			}
			if err := c.Close(StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
			e := <-rec.closed
			if CloseStatus(e.err) != StatusNormalClosure {
				t.Errorf("OnClose: %v", e.err)
			}
			got, open := rec.messages(e.c)
			if open != nil {
				t.Errorf("a message in parts never ended: %d bytes in %d parts", len(open.p), open.parts)
			}
			if len(got) != len(sent)+1 {
				t.Fatalf("the handler saw %d messages, want %d", len(got), len(sent)+1)
			}
			for i, m := range got {
				var want []byte
				typ := MessageText
				if i < len(sent) {
					want, typ = sent[i].p, sent[i].typ
				} else {
					want = frag
				}
				if m.typ != typ || !bytes.Equal(m.p, want) {
					t.Errorf("message %d: %v of %d bytes, want %v of %d", i, m.typ, len(m.p), typ, len(want))
				}
				for _, pt := range m.types {
					if pt != typ {
						t.Errorf("message %d: a part of type %v", i, pt)
					}
				}
				long := len(want) > partsAbove
				if long != (m.parts > 0) {
					t.Errorf("message %d (%d bytes): %d parts; want parts only past %d bytes", i, len(want), m.parts, partsAbove)
				}
				if len(want) > 100_000 && m.parts < 2 {
					t.Errorf("message %d (%d bytes) came in %d part: it should come as it arrives", i, len(want), m.parts)
				}
			}
		})
	}
}

// TestEventPartsInvalidText: a long text message that breaks UTF-8 midway,
// or ends inside a character, ends the connection with 1007; the handler
// never hears its final part.
func TestEventPartsInvalidText(t *testing.T) {
	good := []byte(strings.Repeat("wörld ", 4000)) // 28 000 bytes
	for _, tc := range []struct {
		name string
		p    []byte
	}{
		{"invalid byte midway", append(append(bytes.Clone(good[:20000]), 0xff), good...)},
		{"ends inside a character", append(bytes.Clone(good), 0xe2, 0x82)},
	} {
		for _, b := range partBackends() {
			t.Run(tc.name+"/"+b.name, func(t *testing.T) {
				rec := newPartRecorder(false)
				url := serveLoop(t, b.new(t), nil, rec)
				p := dialRawPeer(t, url, "")
				p.send(t, clientFrame(true, opText, tc.p))
				if got := p.readClose(t); got != StatusInvalidFramePayloadData {
					t.Errorf("close code %v, want 1007", got)
				}
				e := <-rec.closed
				if !errors.Is(e.err, ErrInvalidUTF8) {
					t.Errorf("OnClose: %v", e.err)
				}
				got, _ := rec.messages(e.c)
				if len(got) != 0 {
					t.Errorf("the handler saw %d whole messages; want none", len(got))
				}
			})
		}
	}
}

// TestEventPartsNoHandler: a handler without OnMessagePart gets long
// messages whole, whatever PartsAbove says.
func TestEventPartsNoHandler(t *testing.T) {
	for _, b := range partBackends() {
		t.Run(b.name, func(t *testing.T) {
			rec := newRecorder(true)
			url := serveLoop(t, b.new(t), nil, rec)
			c := dialT(t, url, nil)
			ctx := context.Background()
			p := bytes.Repeat([]byte("xyz"), 100_000)
			if err := c.Write(ctx, MessageBinary, p); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, p) {
				t.Fatalf("echo: %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestMessageWriterLongWrite: a write at least the writer's buffer long,
// with nothing buffered, goes out as one frame; short writes gather.
func TestMessageWriterLongWrite(t *testing.T) {
	c, raw := tcpServerConn(t, nil)
	ctx := context.Background()
	w, err := c.Writer(ctx, MessageBinary)
	if err != nil {
		t.Fatal(err)
	}
	long := bytes.Repeat([]byte{7}, 100_000)
	for _, p := range [][]byte{[]byte("ab"), []byte("cd"), long, long[:10]} {
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	var all []byte
	for {
		op, p, err := readFrameFrom(raw)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(p))
		all = append(all, p...)
		if len(sizes) == 1 && op != opBinary || len(sizes) > 1 && op != opContinuation {
			t.Fatalf("frame %d: %v", len(sizes), op)
		}
		if len(all) == 4+len(long)+10 {
			break
		}
	}
	// "abcd" and the first bytes of the long write fill a buffer; the
	// rest of the long write is a frame of its own; the last 10 bytes
	// are the final frame.
	bufSize := c.cfg.writeBufferSize
	want := []int{bufSize, len(long) - (bufSize - 4), 10}
	if len(sizes) != len(want) || sizes[0] != want[0] || sizes[1] != want[1] || sizes[2] != want[2] {
		t.Errorf("frames of %v bytes, want %v", sizes, want)
	}
	if !bytes.Equal(all[4:4+len(long)], long) || string(all[:4]) != "abcd" {
		t.Error("the payload is not what was written")
	}
}
