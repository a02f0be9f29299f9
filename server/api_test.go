package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/duplexws/duplex/hub"
)

func TestAPIAuthAndErrors(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Limits.APIBodySize = 2048 })
	do := func(method, path, auth, body string) (int, string, http.Header) {
		req, _ := http.NewRequest(method, ts.http.URL+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	key := "apikey " + testAPIKey
	for _, tc := range []struct {
		name, method, path, auth, body string
		status                         int
		contains                       string
	}{
		{"no key", "POST", "/api/publish", "", `{}`, 401, `"code":101`},
		{"wrong key", "POST", "/api/publish", "apikey nope", `{}`, 401, `"code":101`},
		{"GET", "GET", "/api/publish", key, ``, 405, ``},
		{"unknown method", "POST", "/api/nope", key, `{}`, 404, `"code":104`},
		{"not JSON", "POST", "/api/publish", key, `nope`, 400, `"code":107`},
		{"unknown namespace", "POST", "/api/publish", key, `{"channel":"nope:x","data":1}`, 400, `"code":102`},
		{"no data", "POST", "/api/publish", key, `{"channel":"chat:x"}`, 400, `"code":107`},
		{"too large", "POST", "/api/publish", key, `{"channel":"chat:x","data":"` + strings.Repeat("x", 3000) + `"}`, 413, ``},
		{"presence off", "POST", "/api/presence", key, `{"channel":"news:x"}`, 404, `"code":110`},
		{"history off", "POST", "/api/history", key, `{"channel":"news:x"}`, 404, `"code":110`},
		{"bad disconnect code", "POST", "/api/disconnect", key, `{"user":"a","code":4100}`, 400, `"code":107`},
		{"publish", "POST", "/api/publish", key, `{"channel":"chat:x","data":{"a":1}}`, 200, `{"result":{"offset":1,"epoch":"`},
		{"skip_history", "POST", "/api/publish", key, `{"channel":"chat:x","data":2,"skip_history":true}`, 200, `{"result":{}}`},
		{"no history namespace", "POST", "/api/publish", key, `{"channel":"news:x","data":2}`, 200, `{"result":{}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := do(tc.method, tc.path, tc.auth, tc.body)
			if status != tc.status || !strings.Contains(body, tc.contains) {
				t.Fatalf("%d %s, want %d containing %s", status, body, tc.status, tc.contains)
			}
			if status == 405 && hdr.Get("Allow") != "POST" {
				t.Fatalf("405 without Allow: POST")
			}
			if hdr.Get("Content-Type") != "application/json" && status != 405 {
				t.Fatalf("Content-Type %q", hdr.Get("Content-Type"))
			}
		})
	}

	off := startServer(t, func(c *Config) { c.APIKey = "" })
	req, _ := http.NewRequest("POST", off.http.URL+"/api/publish", strings.NewReader(`{}`))
	req.Header.Set("Authorization", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("API without a key configured: %d, want 404", resp.StatusCode)
	}
}

func TestAPIMethods(t *testing.T) {
	ts := startServer(t, nil)
	alice := dial(t, ts)
	aliceID := alice.connect(token(t, "alice", 0)).str("client")
	alice.ok("subscribe", map[string]any{"channel": "chat:api"})
	bob := dial(t, ts)
	bob.connect(token(t, "bob", 0))
	bob.ok("subscribe", map[string]any{"channel": "chat:api"})
	bob.ok("subscribe", map[string]any{"channel": "chat:other"})

	// broadcast: one answer per channel, errors in place.
	code, m := ts.api(t, "broadcast", map[string]any{"channels": []string{"chat:api", "nope:x", "chat:other"}, "data": "hi"})
	resps, _ := m.obj("result")["responses"].([]any)
	if code != 200 || len(resps) != 3 ||
		msg(resps[0].(map[string]any)).obj("result").num("offset") != 1 ||
		msg(resps[1].(map[string]any)).obj("error").num("code") != CodeUnknownChannel ||
		msg(resps[2].(map[string]any)).obj("result").num("offset") != 1 {
		t.Fatalf("broadcast: %d %v", code, m)
	}
	many := make([]string, 1001)
	for i := range many {
		many[i] = "chat:api"
	}
	if code, m := ts.api(t, "broadcast", map[string]any{"channels": many, "data": 1}); code != 400 || m.obj("error").num("code") != CodeLimitExceeded {
		t.Fatalf("broadcast to 1001 channels: %d %v", code, m)
	}
	if p := alice.push("publication"); p.str("data") != "hi" || p["info"] != nil {
		t.Fatalf("API publication %v", p)
	}

	// skip_history: delivered without offset, not kept.
	ts.api(t, "publish", map[string]any{"channel": "chat:api", "data": "ephemeral", "skip_history": true})
	if p := alice.push("publication"); p.str("data") != "ephemeral" || p["offset"] != nil || p["epoch"] != nil {
		t.Fatalf("skip_history publication %v", p)
	}
	_, m = ts.api(t, "history", map[string]any{"channel": "chat:api"})
	if offs := pubOffsets(t, m.obj("result")["publications"]); !equalInts(offs, []int{1}) {
		t.Fatalf("history after skip_history: %v", m)
	}

	_, m = ts.api(t, "presence", map[string]any{"channel": "chat:api"})
	if cl := m.obj("result").obj("clients"); len(cl) != 2 || cl.obj(aliceID).str("user") != "alice" {
		t.Fatalf("presence %v", m)
	}
	_, m = ts.api(t, "presence_stats", map[string]any{"channel": "chat:api"})
	if r := m.obj("result"); r.num("num_clients") != 2 || r.num("num_users") != 2 {
		t.Fatalf("presence_stats %v", m)
	}
	_, m = ts.api(t, "channels", map[string]any{"pattern": "chat:a*"})
	if ch := m.obj("result").obj("channels"); len(ch) != 1 || ch.obj("chat:api").num("num_clients") != 2 {
		t.Fatalf("channels %v", m)
	}

	// history_remove keeps the position: recovering from before fails.
	code, _ = ts.api(t, "history_remove", map[string]any{"channel": "chat:api"})
	_, m = ts.api(t, "history", map[string]any{"channel": "chat:api"})
	if r := m.obj("result"); code != 200 || r.num("offset") != 1 || len(pubOffsets(t, r["publications"])) != 0 {
		t.Fatalf("history after history_remove: %v", m)
	}

	// unsubscribe: bob gets a push and no more publications.
	ts.api(t, "unsubscribe", map[string]any{"channel": "chat:api", "user": "bob"})
	if u := bob.push("unsubscribe"); u.str("channel") != "chat:api" || u.num("code") != 2000 || u["resubscribe"] != false {
		t.Fatalf("unsubscribe push %v", u)
	}
	bob.fails("publish", map[string]any{"channel": "chat:api", "data": 1}, CodeNotSubscribed)

	// disconnect: with reconnect 4009, without 4502, custom codes.
	ts.api(t, "disconnect", map[string]any{"user": "bob", "reconnect": true})
	bob.expectClosed(DisconnectForceReconnect)
	ts.api(t, "disconnect", map[string]any{"user": "alice", "client": aliceID, "code": 4600, "reason": "banned"})
	got, disc := alice.closed()
	if got != 4600 || disc.str("reason") != "banned" || disc["reconnect"] != false {
		t.Fatalf("close %d, push %v", got, disc)
	}
	carol := dial(t, ts)
	carol.connect(token(t, "carol", 0))
	ts.api(t, "disconnect", map[string]any{"user": "carol"})
	carol.expectClosed(DisconnectForced)
}

// listingBroker is a memory broker that reports channels of other nodes
// too, as a multi-node broker would.
type listingBroker struct{ *hub.MemoryBroker }

func (listingBroker) Channels(context.Context) (map[string]int, error) {
	return map[string]int{"chat:elsewhere": 3, "chat:empty": 0, "news:x": 1}, nil
}

func TestAPIChannelsFromBroker(t *testing.T) {
	ts := startServerWith(t, Options{Broker: listingBroker{hub.NewMemoryBroker(hub.MemoryBrokerOptions{})}}, nil)
	_, m := ts.api(t, "channels", map[string]any{"pattern": "chat:*"})
	ch := m.obj("result").obj("channels")
	if len(ch) != 1 || ch.obj("chat:elsewhere").num("num_clients") != 3 {
		t.Fatalf("channels %v, want chat:elsewhere with 3 clients, as the broker reports", m)
	}
}
