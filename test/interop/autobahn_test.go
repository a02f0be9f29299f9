package interop

import (
	"slices"
	"testing"

	"github.com/duplexws/duplex/websocket"
)

// autobahnClient returns a starter of python/autobahn_client.py.
func autobahnClient(t *testing.T, compression, scenario string) func(url string) *peer {
	needPythonModule(t, "autobahn")
	return func(url string) *peer {
		return startPeer(t, systemPython, "python/autobahn_client.py",
			"--url", url, "--compression", compression, "--scenario", scenario)
	}
}

func TestAutobahnClientOurServer(t *testing.T) {
	s := startEchoServer(t, serverConfig{})
	evs := autobahnClient(t, "none", "basic")(s.URL).finish(t)
	want := []string{"text", "binary", "large binary", "large text", "ping", "close by client"}
	if got := checks(evs); !slices.Equal(got, want) {
		t.Fatalf("autobahn passed checks %q, want %q", got, want)
	}
	if ev := findEvent(t, evs, "open"); ev.Extensions != "" || ev.InUse != "" {
		t.Fatalf("autobahn negotiated %q (in use: %q) without an offer", ev.Extensions, ev.InUse)
	}
	rep := s.next(t)
	if rep.CloseCode != 4002 || rep.CloseReason != "client says bye ✓" {
		t.Fatalf("we received close %v %q (%v), want 4002 %q", rep.CloseCode, rep.CloseReason, rep.Err, "client says bye ✓")
	}
	if ev := evs[len(evs)-2]; ev.EchoedCode != 4002 {
		t.Fatalf("autobahn received close code %d in answer to its 4002", ev.EchoedCode)
	}
}

func TestAutobahnCompressionOurServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		ours func() *websocket.CompressionOptions
		want string
	}{
		{"default", noTakeover, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		// autobahn's offer carries client_no_context_takeover, a hint our
		// answer leaves out so that takeover is kept both ways.
		{"takeover", takeover, "permessage-deflate"},
		{"windows", smallWindows,
			"permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := peerClientCompression(t, tc.ours(), tc.want, true, autobahnClient(t, "offer", "compress"))
			if got := findEvent(t, evs, "open").InUse; got != "permessage-deflate" {
				t.Fatalf("autobahn has extensions %q in use, want permessage-deflate", got)
			}
		})
	}
}
