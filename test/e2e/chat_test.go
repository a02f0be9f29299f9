package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/duplexws/duplex/internal/cutproxy"
)

const (
	testSecret = "e2e-token-secret-0123456789abcdef"
	testAPIKey = "e2e-api-key-0123"
)

// wireRecorder runs in every page before its scripts: it wraps WebSocket
// so that the test can see every publication the server sent, by offset,
// across all connections of the page (pushes and the publications of
// subscribe results), and every subscribe result.
const wireRecorder = `
(() => {
  const wire = { pubs: [], subscribes: [], closes: [] };
  window.__wire = wire;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (ev) => {
        let m;
        try { m = JSON.parse(ev.data); } catch { return; }
        if (m.push === 'publication' && typeof m.offset === 'number') wire.pubs.push(m.epoch + ':' + m.offset);
        if (m.result && typeof m.result.was_recovering === 'boolean') {
          wire.subscribes.push({ recovered: m.result.recovered, was_recovering: m.result.was_recovering, offset: m.result.offset, epoch: m.result.epoch });
          for (const p of m.result.publications || []) wire.pubs.push(p.epoch + ':' + p.offset);
        }
      });
      this.addEventListener('close', (ev) => wire.closes.push(ev.code));
    }
  };
})();
`

// chatPage is one browser tab running the demo chat.
type chatPage struct {
	t    *testing.T
	name string
	ctx  context.Context
}

func openPage(t *testing.T, browser context.Context, base, name, room string) *chatPage {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser) // a new tab
	t.Cleanup(cancel)
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: wireRecorder}); err != nil {
		t.Fatalf("install the wire recorder: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/?name=%s&room=%s", base, name, room))); err != nil {
		t.Fatalf("%s: load the demo page: %v", name, err)
	}
	return &chatPage{t: t, name: name, ctx: ctx}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](p *chatPage, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: evaluate %s: %v", p.name, expr, err)
	}
	return v
}

// waitJS polls a boolean expression until it holds (30 s at most).
func (p *chatPage) waitJS(what, expr string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !eval[bool](p, expr) {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: timed out waiting for %s (%s); state %s, messages %v, notice %v",
				p.name, what, expr, eval[string](p, "duplexDemo.state()"), p.texts(), eval[any](p, "duplexDemo.notice()"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// message is an entry of duplexDemo.messages().
type message struct {
	Offset *int   `json:"offset"`
	Name   string `json:"name"`
	Text   string `json:"text"`
}

func (p *chatPage) messages() []message { return eval[[]message](p, "duplexDemo.messages()") }

func (p *chatPage) texts() []string {
	var out []string
	for _, m := range p.messages() {
		out = append(out, m.Text)
	}
	return out
}

func (p *chatPage) waitText(text string) {
	p.t.Helper()
	p.waitJS("message "+text, fmt.Sprintf("duplexDemo.messages().some(m => m.text === %q)", text))
}

// wirePubs returns every publication the page received, as "epoch:offset".
func (p *chatPage) wirePubs() []string { return eval[[]string](p, "window.__wire.pubs") }

type subscribeResult struct {
	Recovered     bool   `json:"recovered"`
	WasRecovering bool   `json:"was_recovering"`
	Offset        int    `json:"offset"`
	Epoch         string `json:"epoch"`
}

func (p *chatPage) subscribes() []subscribeResult {
	return eval[[]subscribeResult](p, "window.__wire.subscribes")
}

func apiPublish(t *testing.T, addr string, data any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"channel": "chat:e2e", "data": data})
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/publish", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "apikey "+testAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("API publish: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("API publish: %s", resp.Status)
	}
}

// TestChatRecoveryAndRestart: two pages of the demo chat see each other's
// presence and messages; their connections are cut while the server keeps
// running and messages are published through the HTTP API meanwhile; both
// pages reconnect, resubscribe and recover exactly those messages. Then the
// in-memory server restarts on the same port: the pages reconnect, are told
// that recovery was impossible (new epoch), and the demo reloads its state.
func TestChatRecoveryAndRestart(t *testing.T) {
	browser := startBrowser(t)
	args := []string{"--addr", "127.0.0.1:0", "--token-hmac-secret", testSecret, "--api-key", testAPIKey, "--drain", "500ms"}
	srv := startDuplex(t, args...)
	if !strings.Contains(srv.output(), "DEMO MODE") {
		t.Fatalf("duplex serve without --config should run in demo mode:\n%s", srv.output())
	}
	// The pages reach the server through a proxy, so that the test can cut
	// their connections (a network loss) and hold them off for a while.
	px := cutproxy.New(t, srv.addr)
	base := "http://" + px.Addr()

	alice := openPage(t, browser, base, "alice", "e2e")
	bob := openPage(t, browser, base, "bob", "e2e")
	pages := []*chatPage{alice, bob}

	// Presence: each sees both.
	for _, p := range pages {
		p.waitJS("subscribed", `duplexDemo.subscriptionState() === "subscribed"`)
		p.waitJS("both in presence", `(() => { const u = duplexDemo.presence().map(x => x.user).sort().join(","); return u === "alice,bob"; })()`)
	}

	// Chat.
	if !eval[bool](alice, `duplexDemo.send("hello from alice")`) {
		t.Fatal("alice could not send")
	}
	if !eval[bool](bob, `duplexDemo.send("hi alice")`) {
		t.Fatal("bob could not send")
	}
	for _, p := range pages {
		p.waitText("hello from alice")
		p.waitText("hi alice")
	}

	// Cut both pages off and publish through the HTTP API meanwhile.
	px.Pause()
	px.Cut()
	for _, p := range pages {
		p.waitJS("the connection loss", `duplexDemo.state() !== "connected"`)
	}
	const missed = 5
	for i := 1; i <= missed; i++ {
		apiPublish(t, srv.addr, map[string]any{"text": fmt.Sprintf("while away %d", i), "name": "backend"})
	}
	px.Resume()
	for _, p := range pages {
		p.waitJS("reconnected and resubscribed", `duplexDemo.state() === "connected" && duplexDemo.subscriptionState() === "subscribed"`)
		for i := 1; i <= missed; i++ {
			p.waitText(fmt.Sprintf("while away %d", i))
		}
	}
	for _, p := range pages {
		// Recovery succeeded and nothing is missing or doubled: on the wire
		// every offset 1..7 arrived exactly once, across both connections.
		subs := p.subscribes()
		if len(subs) != 2 || !subs[1].WasRecovering || !subs[1].Recovered || subs[1].Offset != 2+missed {
			t.Fatalf("%s: subscribe results %+v, want a recovered second subscribe at offset %d", p.name, subs, 2+missed)
		}
		epoch := subs[0].Epoch
		var want []string
		for off := 1; off <= 2+missed; off++ {
			want = append(want, fmt.Sprintf("%s:%d", epoch, off))
		}
		if got := p.wirePubs(); !slices.Equal(got, want) {
			t.Fatalf("%s: publications on the wire %v, want each of %v once, in order", p.name, got, want)
		}
		msgs := p.messages()
		if len(msgs) != 2+missed {
			t.Fatalf("%s: %d messages shown, want %d: %v", p.name, len(msgs), 2+missed, p.texts())
		}
		for i, m := range msgs {
			if m.Offset == nil || *m.Offset != i+1 {
				t.Fatalf("%s: message %d has offset %v: %v", p.name, i, m.Offset, p.texts())
			}
		}
		if n := eval[any](p, "duplexDemo.notice()"); n != nil {
			t.Fatalf("%s: unexpected notice %v after a successful recovery", p.name, n)
		}
	}

	// Restart the in-memory server on the same port: the streams are lost.
	oldEpoch := alice.subscribes()[0].Epoch
	srv.stop(t)
	for _, p := range pages {
		p.waitJS("the shutdown", `duplexDemo.state() !== "connected"`)
	}
	srv2 := startDuplex(t, append([]string{"--addr", srv.addr}, args[2:]...)...)
	if srv2.addr != srv.addr {
		t.Fatalf("restarted on %s, want %s", srv2.addr, srv.addr)
	}
	for _, p := range pages {
		p.waitJS("the unrecoverable notice", `(() => { const n = duplexDemo.notice(); return !!n && n.kind === "unrecoverable"; })()`)
		p.waitJS("subscribed again", `duplexDemo.state() === "connected" && duplexDemo.subscriptionState() === "subscribed"`)
		subs := p.subscribes()
		last := subs[len(subs)-1]
		if !last.WasRecovering || last.Recovered || last.Epoch == oldEpoch {
			t.Fatalf("%s: subscribe after the restart %+v, want was_recovering, not recovered, new epoch", p.name, last)
		}
		if closes := eval[[]int](p, "window.__wire.closes"); !slices.Contains(closes, 1001) {
			t.Fatalf("%s: close codes %v, want 1001 from the shutdown", p.name, closes)
		}
	}
	// The demo reloaded its state from the new server's (empty) history and
	// goes on: old messages are gone, new ones arrive.
	for _, p := range pages {
		p.waitJS("the old messages to be cleared", `duplexDemo.messages().length === 0`)
	}
	if !eval[bool](bob, `duplexDemo.send("after the restart")`) {
		t.Fatal("bob could not send after the restart")
	}
	for _, p := range pages {
		p.waitText("after the restart")
		p.waitJS("both in presence again", `duplexDemo.presence().length === 2`)
	}
}

// TestDemoRestartWithNewSecret: a plain demo server generates a new token
// secret when it restarts, so the page's token is refused (4501) and the
// page says so; pressing Join again fetches a fresh token and reconnects.
func TestDemoRestartWithNewSecret(t *testing.T) {
	browser := startBrowser(t)
	srv := startDuplex(t, "--addr", "127.0.0.1:0", "--drain", "200ms")
	carol := openPage(t, browser, "http://"+srv.addr, "carol", "lobby")
	carol.waitJS("subscribed", `duplexDemo.subscriptionState() === "subscribed"`)
	srv.stop(t)
	startDuplex(t, "--addr", srv.addr, "--drain", "200ms")
	carol.waitJS("the refusal of the old token", `(() => { const n = duplexDemo.notice(); return duplexDemo.state() === "disconnected" && !!n && n.text.includes("4501"); })()`)
	if !eval[bool](carol, `duplexDemo.join("carol", "lobby")`) {
		t.Fatal("join refused")
	}
	carol.waitJS("reconnected with a fresh token", `duplexDemo.state() === "connected" && duplexDemo.subscriptionState() === "subscribed"`)
}
