package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/duplexws/duplex/client"
)

// httpURL turns the ws:// URL a server printed into its http:// base.
func httpURL(p *proc) string {
	return "http" + strings.TrimPrefix(strings.TrimSuffix(p.url, "/"), "ws")
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func apiPublish(t *testing.T, base, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/publish", strings.NewReader(body))
	req.Header.Set("Authorization", "apikey "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeDemoMode runs "duplex serve" with no configuration, as on a
// fresh machine: every endpoint answers, the demo token and the printed
// API key work, and SIGTERM drains the clients with 4001.
func TestServeDemoMode(t *testing.T) {
	p := startDuplexServer(t, "serve", "--addr", "127.0.0.1:0")
	base := httpURL(p)
	out := p.stdout.String()
	if !strings.Contains(out, "DEMO MODE") || !strings.Contains(out, "development setup") || !strings.Contains(out, "open "+base+"/") {
		t.Fatalf("stdout should announce the demo mode and the URL to open:\n%s", out)
	}
	key := regexp.MustCompile(`generated API key: ([0-9a-f]+)`).FindStringSubmatch(out)
	if key == nil {
		t.Fatalf("no API key printed:\n%s", out)
	}
	for path, want := range map[string]string{"/": "<title>Duplex chat</title>", "/healthz": "ok", "/readyz": "ok", "/duplex.js": "DuplexClient"} {
		if code, body := get(t, base+path); code != 200 || !strings.Contains(body, want) {
			t.Fatalf("GET %s: %d %.100q", path, code, body)
		}
	}
	code, body := get(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, "duplex_connections ") {
		t.Fatalf("metrics: %d", code)
	}
	for _, line := range strings.Split(body, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "duplex_") {
			t.Fatalf("metric not prefixed duplex_: %q", line)
		}
	}
	code, body = get(t, base+"/demo/token?user=alice")
	var tok struct{ Token string }
	if code != 200 || json.Unmarshal([]byte(body), &tok) != nil || tok.Token == "" {
		t.Fatalf("demo token: %d %s", code, body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan string, 4)
	gone := make(chan client.DisconnectedEvent, 4)
	c := client.New(strings.Replace(base, "http", "ws", 1)+"/connection/websocket", client.Options{
		Token:          tok.Token,
		OnDisconnected: func(e client.DisconnectedEvent) { gone <- e },
	})
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	sub, _ := c.NewSubscription("chat:lobby", client.SubscriptionOptions{
		OnPublication: func(p client.Publication) { got <- string(p.Data) },
	})
	if err := sub.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	if code, body := apiPublish(t, base, key[1], `{"channel":"chat:lobby","data":"from the API"}`); code != 200 {
		t.Fatalf("API publish: %d %s", code, body)
	}
	if d := <-got; d != `"from the API"` {
		t.Fatalf("publication %s", d)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-gone:
		if e.Code != 4001 || !e.Reconnect {
			t.Fatalf("disconnect on SIGTERM: %+v, want 4001 with reconnect", e)
		}
	case <-ctx.Done():
		t.Fatal("no disconnect after SIGTERM")
	}
}

func TestServeAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := runDuplex(t, "", "serve", "--addr", ln.Addr().String())
	checkOneLineError(t, r, 1, "--addr")
}

func TestServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`{"namespaces":{"chat":{"history_size":10}},"limits":{"max_channels":0}}`), 0o600)
	r := runDuplex(t, "", "serve", "--addr", "127.0.0.1:0", "--config", bad)
	if r.code != 1 || !strings.Contains(r.stderr, "namespaces.chat: set both history_size and history_ttl") ||
		!strings.Contains(r.stderr, "limits.max_channels is 0") || !strings.Contains(r.stderr, "no way to connect") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	typo := filepath.Join(dir, "typo.json")
	_ = os.WriteFile(typo, []byte(`{"namespace":{}}`), 0o600)
	r = runDuplex(t, "", "serve", "--addr", "127.0.0.1:0", "--config", typo)
	if r.code != 1 || !strings.Contains(r.stderr, `unknown field "namespace"`) {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	r = runDuplex(t, "", "serve", "--addr", "127.0.0.1:0", "--max-channels", "many")
	if r.code != 1 || !strings.Contains(r.stderr, "--max-channels: want an integer") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	r = runDuplex(t, "", "serve", "--help")
	wants := []string{"-addr", "DUPLEX_ADDR", "-config", "DUPLEX_CONFIG", "-demo", "-log-level", "-log-format", "demo mode"}
	for _, o := range serveOptions() {
		wants = append(wants, envName(o.name))
		if !regexp.MustCompile(`(?m)-` + o.name + `( |$)`).MatchString(r.stdout) {
			t.Fatalf("serve --help does not list --%s:\n%s", o.name, r.stdout)
		}
	}
	for _, want := range wants {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("serve --help does not mention %s:\n%s", want, r.stdout)
		}
	}
}

// TestServeConfigPrecedence: the file sets options, the environment
// overrides the file, flags override the environment; with --config there
// is no demo mode.
func TestServeConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "duplex.json")
	_ = os.WriteFile(cfgPath, []byte(`{
		"namespaces": {"room": {"history_size": 5, "history_ttl": "1m", "allow_publish": true}},
		"token": {"hmac_secret": "file-secret-0123456789"},
		"api_key": "file-key-123",
		"limits": {"max_channels": 7}
	}`), 0o600)
	cmd := exec.Command(duplexBin, "serve", "--addr", "127.0.0.1:0", "--config", cfgPath, "--api-key", "flag-key-123")
	cmd.Env = append(os.Environ(), "DUPLEX_API_KEY=env-key-123", "DUPLEX_MAX_CHANNELS=9")
	p := startServerProcess(t, cmd)
	base := httpURL(p)
	if strings.Contains(p.stdout.String(), "DEMO MODE") {
		t.Fatal("demo mode with --config")
	}
	if code, _ := get(t, base+"/demo/token?user=a"); code != 404 {
		t.Fatalf("/demo/token with --config: %d, want 404", code)
	}
	for key, want := range map[string]int{"file-key-123": 401, "env-key-123": 401, "flag-key-123": 200} {
		if code, body := apiPublish(t, base, key, `{"channel":"room:a","data":1}`); code != want {
			t.Fatalf("API key %s: %d %s, want %d", key, code, body, want)
		}
	}
}

func TestTokenCommand(t *testing.T) {
	r := runDuplex(t, "", "token", "--user", "alice", "--hmac-secret", "0123456789abcdef", "--ttl", "1h", "--info", `{"n":1}`, "--channels", "a:b,c:d")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	parts := strings.Split(strings.TrimSpace(r.stdout), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", r.stdout)
	}
	claims := decodeSegment(t, parts[1])
	if claims["sub"] != "alice" || claims["exp"] == nil || claims["info"].(map[string]any)["n"] != 1.0 || len(claims["channels"].([]any)) != 2 {
		t.Fatalf("claims %v", claims)
	}
	if hdr := decodeSegment(t, parts[0]); hdr["alg"] != "HS256" {
		t.Fatalf("header %v", hdr)
	}
	r = runDuplex(t, "", "token", "--user", "alice", "--channel", "secret:x", "--alg", "HS512", "--hmac-secret", "0123456789abcdef")
	if claims := decodeSegment(t, strings.Split(r.stdout, ".")[1]); claims["channel"] != "secret:x" || claims["exp"] != nil {
		t.Fatalf("subscription token claims %v", claims)
	}
	checkOneLineErrorPrefix(t, runDuplex(t, "", "token", "--user", "a"), 2, "needs the HMAC secret")
	checkOneLineErrorPrefix(t, runDuplex(t, "", "token", "--user", "a", "--alg", "RS256"), 2, "--key")
	checkOneLineErrorPrefix(t, runDuplex(t, "", "token", "--hmac-secret", "x"), 2, "--user is required")
}

// checkOneLineErrorPrefix checks the first line of a usage error.
func checkOneLineErrorPrefix(t *testing.T, r result, code int, want string) {
	t.Helper()
	first, _, _ := strings.Cut(r.stderr, "\n")
	if r.code != code || !strings.Contains(first, want) {
		t.Fatalf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, code, want)
	}
}

func decodeSegment(t *testing.T, seg string) map[string]any {
	t.Helper()
	b, err := base64URLDecode(seg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func base64URLDecode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
