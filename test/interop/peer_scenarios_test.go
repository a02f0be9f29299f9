package interop

import (
	"fmt"
	"slices"
	"testing"

	"github.com/duplexws/duplex/websocket"
)

// The scenarios below run a peer script (python/ws_peer.py,
// node/ws_peer.mjs, ...) against our side; every script prints the same
// events for the same scenario.

// basicChecks are the checks a peer client reports for the basic scenario.
var basicChecks = []string{
	"text", "binary", "empty text", "empty binary", "large binary", "large text",
	"fragmented text", "fragmented binary", "ping", "pinged by server",
	"close by server", "second connection", "close by client",
}

// peerClientBasic runs a peer client's basic scenario against our echo
// server and checks both sides' view of it.
func peerClientBasic(t *testing.T, start func(url string) *peer) {
	t.Helper()
	s := startEchoServer(t, serverConfig{})
	evs := start(s.URL).finish(t)
	if got := checks(evs); !slices.Equal(got, basicChecks) {
		t.Fatalf("the peer passed checks %q, want %q", got, basicChecks)
	}

	first := s.next(t)
	if first.SentClose != 4001 || first.CloseErr != nil {
		t.Fatalf("first connection: we closed with %v, Close returned %v; want 4001 and nil", first.SentClose, first.CloseErr)
	}
	if first.Extensions != "" {
		t.Fatalf("first connection: negotiated %q without compression configured", first.Extensions)
	}
	second := s.next(t)
	if second.CloseCode != 4002 || second.CloseReason != "client says bye ✓" {
		t.Fatalf("second connection: we received close %v %q (%v), want 4002 %q", second.CloseCode, second.CloseReason, second.Err, "client says bye ✓")
	}
	// RFC 6455 §5.5.1: the answer to a close frame echoes its code.
	if ev := evs[len(evs)-2]; ev.Name != "close by client" || ev.EchoedCode != 4002 {
		t.Fatalf("the peer received close code %d in answer to its 4002 (event %+v)", ev.EchoedCode, ev)
	}
}

// peerServerBasic runs our client's scenario against a peer echo server
// that has printed its "listening" event.
func peerServerBasic(t *testing.T, p *peer, url string) {
	t.Helper()
	dialScenario(t, url, nil, func(t *testing.T) (int, string) {
		ev := p.waitFor(t, "closed")
		return ev.Code, ev.Reason
	})
}

// compressionChecks are the checks of a peer client's compress scenario;
// fragmented for peers that can send a compressed message in fragments.
func compressionChecks(fragmented bool) []string {
	var names []string
	for rep := range compressionReps {
		for _, size := range compressionSizes {
			names = append(names, fmt.Sprintf("binary %d #%d", size, rep), fmt.Sprintf("text %d #%d", size, rep))
		}
	}
	if fragmented {
		names = append(names, "fragmented text", "fragmented binary")
	}
	return append(names, "close")
}

// peerClientCompression runs a peer client's compress scenario against our
// echo server with compression opts, and requires both sides to have
// negotiated want and to have compressed. fragmented tells whether the
// peer also sends fragmented compressed messages. It returns the peer's
// events.
func peerClientCompression(t *testing.T, opts *websocket.CompressionOptions, want string, fragmented bool, start func(url string) *peer) []peerEvent {
	t.Helper()
	s := startEchoServer(t, serverConfig{Accept: &websocket.AcceptOptions{Compression: opts}, CountBytes: true})
	evs := start(s.URL).finish(t)
	if got := findEvent(t, evs, "open").Extensions; got != want {
		t.Errorf("the peer sees Sec-WebSocket-Extensions %q, want %q", got, want)
	}
	rep := s.next(t)
	if rep.Extensions != want {
		t.Errorf("our Conn.Extensions() = %q, want %q", rep.Extensions, want)
	}
	if rep.CloseCode != websocket.StatusNormalClosure {
		t.Errorf("the connection ended with %v (%v), want a normal closure", rep.CloseCode, rep.Err)
	}
	if got, want := checks(evs), compressionChecks(fragmented); !slices.Equal(got, want) {
		t.Fatalf("the peer passed checks %q, want %q", got, want)
	}
	assertCompressed(t, s.Bytes, compressionPayload())
	return evs
}

// peerServerCompression dials a peer echo server that has printed its
// "listening" event with compression opts and runs the compression
// scenario; both sides must have negotiated want.
func peerServerCompression(t *testing.T, p *peer, url string, opts *websocket.CompressionOptions, want string) {
	t.Helper()
	counted := &byteCounter{}
	c := dial(t, url, &websocket.DialOptions{Compression: opts, NetDialContext: countingDialer(counted)})
	if got := c.Extensions(); got != want {
		t.Errorf("our Conn.Extensions() = %q, want %q", got, want)
	}
	if got := p.waitFor(t, "open").Extensions; got != want {
		t.Errorf("the peer answered Sec-WebSocket-Extensions %q, want %q", got, want)
	}
	dialCompressionScenario(t, c, counted)
	if ev := p.waitFor(t, "closed"); ev.Code != 1000 || ev.Reason != "done" {
		t.Errorf("the peer received close %d %q, want 1000 \"done\"", ev.Code, ev.Reason)
	}
}

// Our two compression configurations.
var (
	// noTakeover is the default: no context takeover in either direction.
	noTakeover = func() *websocket.CompressionOptions {
		return &websocket.CompressionOptions{Threshold: -1}
	}
	// takeover keeps the window between messages where the peer allows.
	takeover = func() *websocket.CompressionOptions {
		return &websocket.CompressionOptions{Mode: websocket.CompressionContextTakeover, Threshold: -1}
	}
	// smallWindows is takeover with windows below 15 bits in both
	// directions. A server sends a client window of 8 as 9, since zlib
	// cannot compress with a 256-byte window.
	smallWindows = func() *websocket.CompressionOptions {
		return &websocket.CompressionOptions{
			Mode: websocket.CompressionContextTakeover, Threshold: -1,
			ServerMaxWindowBits: 10, ClientMaxWindowBits: 8,
		}
	}
	// smallWindowsClient is smallWindows for our client, which asks for a
	// server window and compresses with a client window it announces.
	smallWindowsClient = func() *websocket.CompressionOptions {
		return &websocket.CompressionOptions{
			Mode: websocket.CompressionContextTakeover, Threshold: -1,
			ServerMaxWindowBits: 10, ClientMaxWindowBits: 11,
		}
	}
)
