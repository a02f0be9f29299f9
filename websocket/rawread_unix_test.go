//go:build unix

package websocket

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// TestReadBufferSizedByUse: reads that fill the read buffer double it, up
// to rawGrowMax times the configured size, so a client with many messages
// in flight is read several messages at a time; reads that bring a quarter
// of it or less halve it again, down to the configured size. Every message
// arrives intact either way.
func TestReadBufferSizedByUse(t *testing.T) {
	c, raw := tcpServerConn(t, nil)
	if c.raw == nil {
		t.Fatal("a TCP connection should be read through its descriptor")
	}
	base := c.raw.base
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	big := bytes.Repeat([]byte("x"), 4096)
	burst := clientFrames(MessageBinary, big, 64) // 256 KiB at once
	go func() { _, _ = raw.Write(burst) }()
	most := c.raw.size
	for i := range 64 {
		_, p, err := c.Read(ctx)
		if err != nil || !bytes.Equal(p, big) {
			t.Fatalf("message %d: %d bytes, %v", i, len(p), err)
		}
		most = max(most, c.raw.size)
	}
	if most <= base {
		t.Errorf("the read buffer stayed at %d bytes through a 256 KiB burst", most)
	}
	if most > rawGrowMax*base {
		t.Errorf("the read buffer grew to %d bytes, past %d × %d", most, rawGrowMax, base)
	}
	// One small message at a time: back to the configured size.
	for i := range 10 {
		if _, err := raw.Write(clientFrames(MessageText, []byte("hi"), 1)); err != nil {
			t.Fatal(err)
		}
		if _, p, err := c.Read(ctx); err != nil || string(p) != "hi" {
			t.Fatalf("small message %d: %q, %v", i, p, err)
		}
	}
	if c.raw.size != base {
		t.Errorf("after small reads the read buffer is %d bytes, want %d", c.raw.size, base)
	}
}

// TestReadBufferNotGrownByLongFrames: messages longer than the read buffer,
// one at a time, fill every first read but leave nothing behind: the
// buffer keeps its size and the rest of each frame is read straight into
// the caller's buffer.
func TestReadBufferNotGrownByLongFrames(t *testing.T) {
	c, raw := tcpServerConn(t, nil)
	base := c.raw.base
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	long := bytes.Repeat([]byte("y"), 64<<10)
	var buf []byte
	for i := range 20 {
		if _, err := raw.Write(clientFrames(MessageBinary, long, 1)); err != nil {
			t.Fatal(err)
		}
		_, p, err := c.ReadInto(ctx, buf)
		if err != nil || !bytes.Equal(p, long) {
			t.Fatalf("message %d: %d bytes, %v", i, len(p), err)
		}
		buf = p
		if c.raw.size != base {
			t.Fatalf("after long message %d the read buffer is %d bytes, want %d", i, c.raw.size, base)
		}
	}
}

// TestReadBufferFitsNearMisses: a message a little longer than the read
// buffer grows it once, so that the next ones fit in one read.
func TestReadBufferFitsNearMisses(t *testing.T) {
	c, raw := tcpServerConn(t, nil)
	base := c.raw.base
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg := bytes.Repeat([]byte("z"), int(base)) // with its header, just past the buffer
	var buf []byte
	for i := range 10 {
		if _, err := raw.Write(clientFrames(MessageBinary, msg, 1)); err != nil {
			t.Fatal(err)
		}
		_, p, err := c.ReadInto(ctx, buf)
		if err != nil || !bytes.Equal(p, msg) {
			t.Fatalf("message %d: %d bytes, %v", i, len(p), err)
		}
		buf = p
	}
	if c.raw.size != 2*base {
		t.Errorf("after messages of the buffer's size it is %d bytes, want %d", c.raw.size, 2*base)
	}
}
