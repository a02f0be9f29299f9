package interop

import (
	"fmt"
	"testing"

	"github.com/duplexws/duplex/websocket"
)

// startPythonServer starts python/ws_peer.py's echo server and returns it
// with its URL.
func startPythonServer(t *testing.T, compression string) (*peer, string) {
	t.Helper()
	needPythonModule(t, "websockets")
	p := startPeer(t, systemPython, "python/ws_peer.py", "server", "--compression", compression)
	return p, fmt.Sprintf("ws://127.0.0.1:%d/", p.waitFor(t, "listening").Port)
}

// pythonClient returns a starter of python/ws_peer.py's client.
func pythonClient(t *testing.T, compression, scenario string) func(url string) *peer {
	needPythonModule(t, "websockets")
	return func(url string) *peer {
		return startPeer(t, systemPython, "python/ws_peer.py", "client",
			"--url", url, "--compression", compression, "--scenario", scenario)
	}
}

func TestPythonServerOurClient(t *testing.T) {
	p, url := startPythonServer(t, "none")
	peerServerBasic(t, p, url)
}

func TestPythonClientOurServer(t *testing.T) {
	peerClientBasic(t, pythonClient(t, "none", "basic"))
}

func TestPythonCompressionOurClient(t *testing.T) {
	for _, tc := range []struct {
		name, python string
		ours         *websocket.CompressionOptions
		want         string
	}{
		{"default/python-default", "default", noTakeover(),
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12"},
		{"takeover/python-default", "default", takeover(),
			"permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"},
		{"takeover/python-notakeover", "notakeover", takeover(),
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"windows/python-default", "default", smallWindowsClient(),
			"permessage-deflate; server_max_window_bits=10; client_max_window_bits=11"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, url := startPythonServer(t, tc.python)
			peerServerCompression(t, p, url, tc.ours, tc.want)
		})
	}
}

func TestPythonCompressionOurServer(t *testing.T) {
	for _, tc := range []struct {
		name, python string
		ours         *websocket.CompressionOptions
		want         string
	}{
		{"default/python-default", "default", noTakeover(),
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"takeover/python-default", "default", takeover(),
			"permessage-deflate"},
		// The peer's client_no_context_takeover is a hint, not echoed.
		{"takeover/python-notakeover", "notakeover", takeover(),
			"permessage-deflate; server_no_context_takeover"},
		{"windows/python-default", "default", smallWindows(),
			"permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peerClientCompression(t, tc.ours, tc.want, true, pythonClient(t, tc.python, "compress"))
		})
	}
}
