package interop

import (
	"context"
	_ "embed"
	"net/http"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/duplexws/duplex/websocket"

	"github.com/duplexws/duplex/internal/testenv"
)

//go:embed chromium/page.html
var chromiumPage []byte

// chromiumResult is what runScenario in chromium/page.html resolves to.
type chromiumResult struct {
	Checks     []string `json:"checks"`
	Extensions string   `json:"extensions"`
	Error      string   `json:"error"`
}

// startChromium starts headless Chromium with a fresh profile and returns
// a browser context; the browser is stopped when the test ends.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	return testenv.StartChromium(t, needBinary(t, "chromium"))
}

// runChromium loads the test page from s and runs one of its scenarios.
func runChromium(t *testing.T, s *echoServer, scenario string) chromiumResult {
	t.Helper()
	browser := startChromium(t)
	ctx, cancel := context.WithTimeout(browser, peerTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(s.HTTPURL+"/page")); err != nil {
		t.Fatalf("Chromium: load the test page: %v", err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[chromiumResult](
		`runScenario(`+jsString(scenario)+`)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("run the %s scenario in Chromium: %v", scenario, err)
	}
	if res.Error != "" {
		t.Fatalf("Chromium: %s (after checks %q)", res.Error, res.Checks)
	}
	return res
}

// jsString quotes a plain identifier for JavaScript.
func jsString(s string) string { return `"` + s + `"` }

// pageServer starts an echo server that also serves the test page.
func pageServer(t *testing.T, accept *websocket.AcceptOptions, countBytes bool) *echoServer {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(chromiumPage)
	})
	return startEchoServer(t, serverConfig{Accept: accept, Extra: map[string]http.Handler{"/page": page}, CountBytes: countBytes})
}

func TestChromiumOurServer(t *testing.T) {
	s := pageServer(t, nil, false)
	res := runChromium(t, s, "basic")
	want := []string{"text", "binary", "empty text", "large binary", "large text",
		"pinged by server", "close by server", "second connection", "close by client"}
	if !slices.Equal(res.Checks, want) {
		t.Fatalf("Chromium passed checks %q, want %q", res.Checks, want)
	}
	// Chromium always offers permessage-deflate; without Compression we
	// must decline it.
	if res.Extensions != "" {
		t.Fatalf("Chromium negotiated %q with a server that has compression off", res.Extensions)
	}
	first := s.next(t)
	if first.SentClose != 4001 || first.CloseErr != nil || first.Extensions != "" {
		t.Fatalf("first connection: closed with %v, Close returned %v, extensions %q", first.SentClose, first.CloseErr, first.Extensions)
	}
	second := s.next(t)
	if second.CloseCode != 4003 || second.CloseReason != "browser says bye ✓" {
		t.Fatalf("second connection: we received close %v %q (%v), want 4003 %q", second.CloseCode, second.CloseReason, second.Err, "browser says bye ✓")
	}
}

func TestChromiumCompressionOurServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		ours func() *websocket.CompressionOptions
		want string
	}{
		// Chromium offers "permessage-deflate; client_max_window_bits".
		{"default", noTakeover, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"takeover", takeover, "permessage-deflate"},
		{"windows", smallWindows, "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := pageServer(t, &websocket.AcceptOptions{Compression: tc.ours()}, true)
			res := runChromium(t, s, "compress")
			if !slices.Equal(res.Checks, compressionChecks(false)) {
				t.Fatalf("Chromium passed checks %q, want %q", res.Checks, compressionChecks(false))
			}
			if res.Extensions != tc.want {
				t.Errorf("Chromium's WebSocket.extensions is %q, want %q", res.Extensions, tc.want)
			}
			rep := s.next(t)
			if rep.Extensions != tc.want {
				t.Errorf("our Conn.Extensions() = %q, want %q", rep.Extensions, tc.want)
			}
			if rep.CloseCode != websocket.StatusNormalClosure {
				t.Errorf("the connection ended with %v (%v), want a normal closure", rep.CloseCode, rep.Err)
			}
			// The page's HTML is a few KiB: negligible next to the payload.
			assertCompressed(t, s.Bytes, compressionPayload())
		})
	}
}
