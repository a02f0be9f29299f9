package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

// TestCompressedFanOut: with compression on, clients that negotiated
// permessage-deflate and clients that did not both receive the shared
// prepared frame of a publication intact.
func TestCompressedFanOut(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Compression = true })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	zc, _, err := websocket.Dial(ctx, ts.url, &websocket.DialOptions{Compression: &websocket.CompressionOptions{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = zc.CloseNow() })
	if !strings.Contains(zc.Extensions(), "permessage-deflate") {
		t.Fatalf("extensions %q: compression not negotiated", zc.Extensions())
	}
	clients := []*tclient{{t: t, c: zc}, dial(t, ts)}
	for _, c := range clients {
		c.connect(token(t, "u", 0))
		c.ok("subscribe", map[string]any{"channel": "chat:z"})
	}
	text := strings.Repeat("compressible text ", 200)
	if code, _ := ts.api(t, "publish", map[string]any{"channel": "chat:z", "data": text}); code != 200 {
		t.Fatal(code)
	}
	for _, c := range clients {
		if p := c.push("publication"); p.str("data") != text {
			t.Fatalf("publication data %.40q...", p.str("data"))
		}
	}
}
