package websocket

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"
)

// rawFrame is one frame as it came off the wire.
type rawFrame struct {
	fin bool
	op  opcode
	p   []byte
}

// readRawFrame reads one unmasked frame, keeping its FIN bit.
func readRawFrame(t *testing.T, r io.Reader) rawFrame {
	t.Helper()
	var b0 [1]byte
	if _, err := io.ReadFull(r, b0[:]); err != nil {
		t.Fatal(err)
	}
	// readFrameFrom reads the rest given the first byte back in front.
	op, p, err := readFrameFrom(io.MultiReader(bytes.NewReader(b0[:]), r))
	if err != nil {
		t.Fatal(err)
	}
	return rawFrame{fin: b0[0]&0x80 != 0, op: op, p: p}
}

// readMessageFrames reads frames up to and including the final one.
func readMessageFrames(t *testing.T, r io.Reader) []rawFrame {
	t.Helper()
	var fs []rawFrame
	for {
		f := readRawFrame(t, r)
		fs = append(fs, f)
		if f.fin {
			return fs
		}
	}
}

// TestMessageWriterCloseWith: the last bytes and the end of the message
// leave in one frame, never followed by an empty final frame, however
// much is buffered before them; the payload and the frames' opcodes are
// those of Write then Close.
func TestMessageWriterCloseWith(t *testing.T) {
	c, raw := tcpServerConn(t, nil)
	bufSize := c.cfg.writeBufferSize
	long := bytes.Repeat([]byte{7}, 100_000)
	cases := []struct {
		name   string
		before []byte // written with Write first
		last   []byte // given to CloseWith
		want   []int  // frame sizes; only the last is final
	}{
		{"long alone", nil, long, []int{len(long)}},
		{"short alone", nil, []byte("hello"), []int{5}},
		{"nothing", nil, nil, []int{0}},
		{"short after short", []byte("abcd"), []byte("efgh"), []int{8}},
		{"long after short", []byte("abcd"), long, []int{bufSize, len(long) - (bufSize - 4)}},
		{"just past a buffer", []byte("abcd"), long[:bufSize-4+10], []int{bufSize, 10}},
		{"exactly a buffer", []byte("abcd"), long[:bufSize-4], []int{bufSize}},
		{"after a long write", long, []byte("end"), []int{len(long), 3}},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := c.Writer(ctx, MessageBinary)
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.before) > 0 {
				if _, err := w.Write(tc.before); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.CloseWith(tc.last); err != nil {
				t.Fatal(err)
			}
			fs := readMessageFrames(t, raw)
			var sizes []int
			var all []byte
			for i, f := range fs {
				sizes = append(sizes, len(f.p))
				all = append(all, f.p...)
				if i == 0 && f.op != opBinary || i > 0 && f.op != opContinuation {
					t.Errorf("frame %d: opcode %v", i, f.op)
				}
			}
			if !slices.Equal(sizes, tc.want) {
				t.Errorf("frames of %v bytes, want %v", sizes, tc.want)
			}
			if want := append(bytes.Clone(tc.before), tc.last...); !bytes.Equal(all, want) {
				t.Errorf("payload of %d bytes differs from the %d written", len(all), len(want))
			}
			// The writer is done: more bytes are refused, and the next
			// message can start.
			if _, err := w.Write([]byte("x")); err == nil {
				t.Error("Write after CloseWith succeeded")
			}
			if err := w.CloseWith([]byte("x")); err == nil {
				t.Error("CloseWith after CloseWith succeeded")
			}
			if err := w.CloseWith(nil); err != nil {
				t.Errorf("CloseWith(nil) after CloseWith: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Errorf("Close after CloseWith: %v", err)
			}
		})
	}
	if err := c.Write(ctx, MessageText, []byte("next")); err != nil {
		t.Fatal(err)
	}
	if f := readRawFrame(t, raw); !f.fin || f.op != opText || string(f.p) != "next" {
		t.Errorf("next message: %+v", f)
	}
}

// TestMessageWriterCloseWithCompressed: under permessage-deflate the
// message CloseWith ends is the one written, through a real peer's
// inflater, and one Writer after another works.
func TestMessageWriterCloseWithCompressed(t *testing.T) {
	opts := &CompressionOptions{Threshold: -1}
	url := echoServer(t, &AcceptOptions{Compression: opts})
	c := dialT(t, url, &DialOptions{Compression: opts})
	if !strings.Contains(c.Extensions(), "permessage-deflate") {
		t.Fatalf("extensions %q", c.Extensions())
	}
	ctx := context.Background()
	head := []byte(strings.Repeat("head ", 1000))
	tail := []byte(strings.Repeat("tail κόσμε ", 20000))
	for _, last := range [][]byte{tail, nil, []byte("!")} {
		w, err := c.Writer(ctx, MessageText)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(head); err != nil {
			t.Fatal(err)
		}
		if err := w.CloseWith(last); err != nil {
			t.Fatal(err)
		}
		if err := w.CloseWith([]byte("x")); err == nil {
			t.Error("CloseWith after CloseWith succeeded")
		}
		_, got, err := c.Read(ctx)
		if want := string(head) + string(last); err != nil || string(got) != want {
			t.Fatalf("echo of %d bytes: %d bytes, %v", len(want), len(got), err)
		}
	}
}
