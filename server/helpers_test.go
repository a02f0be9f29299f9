package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/duplexws/duplex/websocket"
)

const testSecret = "0123456789abcdef0123456789abcdef"
const testAPIKey = "test-api-key"

// testConfig is a configuration with a chat namespace like the demo's, a
// private namespace, an HMAC key and an API key.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Token.HMACSecret = testSecret
	cfg.APIKey = testAPIKey
	cfg.Namespaces = map[string]Namespace{
		"chat":    DemoNamespace(),
		"secret":  {Private: true, AllowPublish: true, HistorySize: 10, HistoryTTL: Duration(time.Minute)},
		"news":    {},
		"members": {AllowPublish: true, Presence: true},
	}
	return cfg
}

type testServer struct {
	srv  *Server
	http *httptest.Server
	url  string // ws:// URL of the WebSocket endpoint
}

// startServer starts a server on 127.0.0.1:0 with testConfig changed by
// edit; everything is stopped at the end of the test.
func startServer(t testing.TB, edit func(*Config)) *testServer {
	t.Helper()
	return startServerWith(t, Options{}, edit)
}

// startServerWith is startServer with opts (a broker of the test's).
func startServerWith(t testing.TB, opts Options, edit func(*Config)) *testServer {
	t.Helper()
	cfg := testConfig()
	if edit != nil {
		edit(&cfg)
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	return &testServer{srv: srv, http: hs, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/connection/websocket"}
}

// token mints an HS256 connection token for user.
func token(t testing.TB, user string, exp time.Duration) string {
	t.Helper()
	c := TokenClaims{User: user}
	if exp != 0 {
		c.ExpiresAt = time.Now().Add(exp)
	}
	s, err := SignToken("HS256", testSecret, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// msg is a decoded server message.
type msg map[string]any

func (m msg) str(k string) string { s, _ := m[k].(string); return s }
func (m msg) num(k string) int    { f, _ := m[k].(float64); return int(f) }
func (m msg) obj(k string) msg    { o, _ := m[k].(map[string]any); return o }

// tclient is a raw protocol client for tests: it sends commands and reads
// messages in order, keeping pushes that arrive while it waits for a reply.
type tclient struct {
	t      testing.TB
	c      *websocket.Conn
	nextID int
	pushes []msg
}

func dial(t testing.TB, ts *testServer) *tclient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, ts.url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return &tclient{t: t, c: c}
}

func (c *tclient) sendRaw(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next message, failing the test after 5 s.
func (c *tclient) read() msg {
	c.t.Helper()
	m, err := c.tryRead(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *tclient) tryRead(d time.Duration) (msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, b, err := c.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("invalid JSON from server: %s", b)
	}
	return m, nil
}

// call sends a command and returns its result or error object.
func (c *tclient) call(method string, params any) (result, errObj msg) {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	b, _ := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	c.sendRaw(string(b))
	for {
		m := c.read()
		if _, ok := m["id"]; !ok {
			if m.str("push") != "ping" {
				c.pushes = append(c.pushes, m)
			}
			continue
		}
		if m.num("id") != id {
			c.t.Fatalf("reply with id %v, want %d: %v", m["id"], id, m)
		}
		return m.obj("result"), m.obj("error")
	}
}

// ok is call that fails the test on an error reply.
func (c *tclient) ok(method string, params any) msg {
	c.t.Helper()
	res, e := c.call(method, params)
	if e != nil {
		c.t.Fatalf("%s: error %v", method, e)
	}
	return res
}

// fails is call that expects error code.
func (c *tclient) fails(method string, params any, code int) msg {
	c.t.Helper()
	res, e := c.call(method, params)
	if e == nil {
		c.t.Fatalf("%s %v: got result %v, want error %d", method, params, res, code)
	}
	if e.num("code") != code {
		c.t.Fatalf("%s %v: got error %v, want code %d", method, params, e, code)
	}
	return e
}

func (c *tclient) connect(tok string) msg {
	c.t.Helper()
	p := map[string]any{}
	if tok != "" {
		p["token"] = tok
	}
	return c.ok("connect", p)
}

// push returns the next push of kind, first from those kept by call.
func (c *tclient) push(kind string) msg {
	c.t.Helper()
	for i, m := range c.pushes {
		if m.str("push") == kind {
			c.pushes = append(c.pushes[:i], c.pushes[i+1:]...)
			return m
		}
	}
	for {
		m := c.read()
		if m.str("push") == kind {
			return m
		}
		if m.str("push") != "ping" {
			c.pushes = append(c.pushes, m)
		}
	}
}

// closed reads until the connection closes and returns the close code,
// with the disconnect push if one came.
func (c *tclient) closed() (websocket.StatusCode, msg) {
	c.t.Helper()
	var disc msg
	for _, m := range c.pushes {
		if m.str("push") == "disconnect" {
			disc = m
		}
	}
	for {
		m, err := c.tryRead(15 * time.Second)
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, disc
			}
			return -1, disc
		}
		if m.str("push") == "disconnect" {
			disc = m
		}
	}
}

// expectClosed checks that the server closed with code after a matching
// disconnect push.
func (c *tclient) expectClosed(code int) {
	c.t.Helper()
	got, disc := c.closed()
	if int(got) != code {
		c.t.Fatalf("close code %d, want %d (disconnect push %v)", got, code, disc)
	}
	if disc == nil || disc.num("code") != code {
		c.t.Fatalf("disconnect push %v, want code %d", disc, code)
	}
	if want := code < 4500; disc["reconnect"] != want {
		c.t.Fatalf("disconnect push %v: reconnect should be %v", disc, want)
	}
}

// api calls the HTTP API and returns the status and decoded body.
func (ts *testServer) api(t testing.TB, method string, params any) (int, msg) {
	t.Helper()
	b, _ := json.Marshal(params)
	req, _ := http.NewRequest(http.MethodPost, ts.http.URL+"/api/"+method, strings.NewReader(string(b)))
	req.Header.Set("Authorization", "apikey "+testAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("api %s: %v", method, err)
	}
	defer resp.Body.Close()
	var m msg
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("api %s: invalid JSON %q", method, body)
	}
	return resp.StatusCode, m
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func httpGet(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (srv *Server) numSessions() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.sessions)
}
