package interop

import (
	"fmt"
	"testing"

	"github.com/duplexws/duplex/websocket"
)

// startNodeServer starts node/ws_peer.mjs's echo server and returns it with
// its URL.
func startNodeServer(t *testing.T, compression string) (*peer, string) {
	t.Helper()
	needNodeWS(t)
	p := startPeer(t, "node", "node/ws_peer.mjs", "server", "--compression", compression)
	return p, fmt.Sprintf("ws://127.0.0.1:%d/", p.waitFor(t, "listening").Port)
}

// nodeClient returns a starter of node/ws_peer.mjs's client.
func nodeClient(t *testing.T, compression, scenario string) func(url string) *peer {
	needNodeWS(t)
	return func(url string) *peer {
		return startPeer(t, "node", "node/ws_peer.mjs", "client",
			"--url", url, "--compression", compression, "--scenario", scenario)
	}
}

func TestNodeServerOurClient(t *testing.T) {
	p, url := startNodeServer(t, "none")
	peerServerBasic(t, p, url)
}

func TestNodeClientOurServer(t *testing.T) {
	peerClientBasic(t, nodeClient(t, "none", "basic"))
}

func TestNodeCompressionOurClient(t *testing.T) {
	for _, tc := range []struct {
		name, node string
		ours       *websocket.CompressionOptions
		want       string
	}{
		{"default/node-default", "default", noTakeover(),
			"permessage-deflate; client_no_context_takeover; server_no_context_takeover"},
		{"takeover/node-default", "default", takeover(), "permessage-deflate"},
		{"takeover/node-notakeover", "notakeover", takeover(),
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"windows/node-default", "default", smallWindowsClient(),
			"permessage-deflate; server_max_window_bits=10; client_max_window_bits=11"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, url := startNodeServer(t, tc.node)
			peerServerCompression(t, p, url, tc.ours, tc.want)
		})
	}
}

func TestNodeCompressionOurServer(t *testing.T) {
	for _, tc := range []struct {
		name, node string
		ours       *websocket.CompressionOptions
		want       string
	}{
		{"default/node-default", "default", noTakeover(),
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"takeover/node-default", "default", takeover(), "permessage-deflate"},
		// The peer's client_no_context_takeover is a hint, not echoed.
		{"takeover/node-notakeover", "notakeover", takeover(),
			"permessage-deflate; server_no_context_takeover"},
		{"windows/node-default", "default", smallWindows(),
			"permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peerClientCompression(t, tc.ours, tc.want, true, nodeClient(t, tc.node, "compress"))
		})
	}
}
