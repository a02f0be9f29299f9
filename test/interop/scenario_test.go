package interop

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/duplexws/duplex/websocket"
)

// patternBytes returns n bytes of a pattern that deflate compresses well but
// not trivially; rep changes the first byte so that repeated messages differ.
// Its period, 97 bytes, stays within reach of zlib with the smallest window
// (9 bits let zlib match only 250 bytes back).
func patternBytes(n, rep int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%97*31 + i>>12)
	}
	if n > 0 {
		b[0] = byte(rep)
	}
	return b
}

// patternText returns at most n bytes of valid UTF-8 with multi-byte
// characters; a character cut by the limit is dropped.
func patternText(n, rep int) []byte {
	unit := "interop ✓ 世界 duplex "
	s := []byte(fmt.Sprintf("%d:", rep) + strings.Repeat(unit, n/len(unit)+1))[:n]
	for !utf8.Valid(s) {
		s = s[:len(s)-1]
	}
	return s
}

// dial connects with our client, failing the test on error; the
// connection is closed when the test ends.
func dial(t *testing.T, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.Dial(testContext(t), url, opts)
	if err != nil {
		status := ""
		if resp != nil {
			status = " (HTTP " + resp.Status + ")"
		}
		t.Fatalf("Dial %s: %v%s", url, err, status)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// expectEcho writes one message and requires the same message back.
func expectEcho(t *testing.T, c *websocket.Conn, name string, typ websocket.MessageType, p []byte) {
	t.Helper()
	ctx := testContext(t)
	if err := c.Write(ctx, typ, p); err != nil {
		t.Fatalf("%s: write: %v", name, err)
	}
	gotType, got, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("%s: read the echo: %v", name, err)
	}
	if gotType != typ {
		t.Fatalf("%s: sent %v, echo is %v", name, typ, gotType)
	}
	if !bytes.Equal(got, p) {
		t.Fatalf("%s: echo of %d bytes differs from the %d sent (first difference at %d)", name, len(got), len(p), firstDiff(got, p))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// writeStreamed sends one message through Conn.Writer in pieces of step
// bytes, so that it leaves in several frames, split inside UTF-8 sequences
// for text.
func writeStreamed(t *testing.T, c *websocket.Conn, typ websocket.MessageType, p []byte, step int) {
	t.Helper()
	w, err := c.Writer(testContext(t), typ)
	if err != nil {
		t.Fatalf("Writer: %v", err)
	}
	for len(p) > 0 {
		n := min(step, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatalf("streamed write: %v", err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close the streamed message: %v", err)
	}
}

// peerClose tells what the server saw when a connection ended: the close
// code and reason it received.
type peerClose func(t *testing.T) (code int, reason string)

// dialScenario drives an echo server speaking our control messages with
// our client: text, binary, empty and 1 MiB messages, fragmented messages,
// pings both ways, and close codes and reasons in both directions.
func dialScenario(t *testing.T, url string, opts *websocket.DialOptions, closed peerClose) {
	c := dial(t, url, opts)
	ctx := testContext(t)

	expectEcho(t, c, "text", websocket.MessageText, []byte("Hello, Duplex! ✓ héllo 世界"))
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	expectEcho(t, c, "binary", websocket.MessageBinary, all)
	expectEcho(t, c, "empty text", websocket.MessageText, []byte{})
	expectEcho(t, c, "empty binary", websocket.MessageBinary, []byte{})
	expectEcho(t, c, "large binary", websocket.MessageBinary, patternBytes(1<<20+13, 0))
	expectEcho(t, c, "large text", websocket.MessageText, patternText(1<<20, 0))

	// Fragmented: 30,000 bytes of three-byte characters streamed 7 bytes at
	// a time leave in frames that cut characters in two.
	checks := []byte(strings.Repeat("✓", 10000))
	writeStreamed(t, c, websocket.MessageText, checks, 7)
	typ, got, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageText || !bytes.Equal(got, checks) {
		t.Fatalf("fragmented text: echo %v, %d bytes, %v; want text, %d bytes", typ, len(got), err, len(checks))
	}
	bin := patternBytes(20000, 7)
	writeStreamed(t, c, websocket.MessageBinary, bin, 5000)
	typ, got, err = c.Read(ctx)
	if err != nil || typ != websocket.MessageBinary || !bytes.Equal(got, bin) {
		t.Fatalf("fragmented binary: echo %v, %d bytes, %v; want binary, %d bytes", typ, len(got), err, len(bin))
	}

	// Our ping: the pong is read by a concurrent Read, which then gets
	// the echo of the message sent after the pong.
	readDone := make(chan error, 1)
	go func() {
		typ, got, err := c.Read(ctx)
		if err == nil && (typ != websocket.MessageText || string(got) != "after ping") {
			err = fmt.Errorf("got %v %q, want text %q", typ, got, "after ping")
		}
		readDone <- err
	}()
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("after ping")); err != nil {
		t.Fatalf("write after ping: %v", err)
	}
	if err := <-readDone; err != nil {
		t.Fatalf("read after ping: %v", err)
	}

	// The peer's ping: our Read answers it while waiting for the reply.
	if err := c.Write(ctx, websocket.MessageText, []byte("cmd:ping")); err != nil {
		t.Fatal(err)
	}
	typ, got, err = c.Read(ctx)
	if err != nil || string(got) != "cmd:pinged" {
		t.Fatalf("pinged by the peer: got %v %q, %v; want text \"cmd:pinged\"", typ, got, err)
	}

	// The server closes with a code and reason: Read returns them.
	const serverReason = "server says bye ✓"
	if err := c.Write(ctx, websocket.MessageText, []byte("cmd:close 4001 "+serverReason)); err != nil {
		t.Fatal(err)
	}
	_, got, err = c.Read(ctx)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != serverReason {
		t.Fatalf("close by the server: Read returned %q, %v; want a CloseError 4001 %q", got, err, serverReason)
	}
	if websocket.CloseStatus(err) != 4001 {
		t.Fatalf("CloseStatus(%v) = %v, want 4001", err, websocket.CloseStatus(err))
	}
	// We echo the code (RFC 6455 §5.5.1), so the server sees 4001 back.
	if code, _ := closed(t); code != 4001 {
		t.Fatalf("close by the server: the server received close code %d back, want 4001", code)
	}

	// The client closes with a code and reason: the server reports them.
	c2 := dial(t, url, opts)
	expectEcho(t, c2, "second connection", websocket.MessageText, []byte("again"))
	const clientReason = "client says bye ✓"
	if err := c2.Close(4002, clientReason); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if code, reason := closed(t); code != 4002 || reason != clientReason {
		t.Fatalf("close by the client: the server received %d %q, want 4002 %q", code, reason, clientReason)
	}
}

// compressionSizes are the message sizes of the compression scenarios:
// small (below any threshold), medium (within one 32 KiB window) and large.
var compressionSizes = []int{10, 10 << 10, 1 << 20}

// compressionReps is how often each message goes out, so that context
// takeover finds earlier messages in its window.
const compressionReps = 5

// compressionPayload is the number of payload bytes the compression
// scenarios send in each direction.
func compressionPayload() int64 {
	var n int64
	for rep := range compressionReps {
		for _, size := range compressionSizes {
			n += int64(len(patternBytes(size, rep)) + len(patternText(size, rep)))
		}
	}
	return n
}

// dialCompressionScenario echoes text and binary messages of every size
// compressionReps times over c, then two streamed messages, and closes it
// normally. counted, when not
// nil, counts the bytes of c's TCP connection: both directions must carry
// far fewer bytes than the payload, which shows that both sides compressed.
func dialCompressionScenario(t *testing.T, c *websocket.Conn, counted *byteCounter) {
	t.Helper()
	for rep := range compressionReps {
		for _, size := range compressionSizes {
			expectEcho(t, c, fmt.Sprintf("binary %d #%d", size, rep), websocket.MessageBinary, patternBytes(size, rep))
			expectEcho(t, c, fmt.Sprintf("text %d #%d", size, rep), websocket.MessageText, patternText(size, rep))
		}
	}
	// Streamed messages are compressed as they go, over several frames
	// of which only the first carries RSV1.
	ctx := testContext(t)
	for _, m := range []struct {
		typ  websocket.MessageType
		p    []byte
		step int
	}{
		{websocket.MessageText, []byte(strings.Repeat("✓ streamed ", 3000)), 7},
		{websocket.MessageBinary, patternBytes(200000, 9), 5000},
	} {
		writeStreamed(t, c, m.typ, m.p, m.step)
		typ, got, err := c.Read(ctx)
		if err != nil || typ != m.typ || !bytes.Equal(got, m.p) {
			t.Fatalf("streamed %v: echo %v, %d bytes, %v; want %d bytes", m.typ, typ, len(got), err, len(m.p))
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if counted != nil {
		assertCompressed(t, counted, compressionPayload())
	}
}

// assertCompressed requires both directions of a connection to have carried
// under a quarter of the payload bytes.
func assertCompressed(t *testing.T, counted *byteCounter, payload int64) {
	t.Helper()
	r, w := counted.read.Load(), counted.written.Load()
	t.Logf("payload %d bytes each way; on the wire %d read, %d written", payload, r, w)
	if r > payload/4 || w > payload/4 {
		t.Fatalf("on the wire: %d bytes read, %d written for %d payload bytes each way: a side did not compress", r, w, payload)
	}
}
