package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duplexws/duplex/client"
	"github.com/duplexws/duplex/internal/cutproxy"
	"github.com/duplexws/duplex/server"
)

const secret = "0123456789abcdef0123456789abcdef"

func startServer(t *testing.T) (*server.Server, *httptest.Server) {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Token.HMACSecret = secret
	cfg.APIKey = "test-api-key"
	cfg.Namespaces = map[string]server.Namespace{"chat": server.DemoNamespace()}
	srv, err := server.New(cfg, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	return srv, hs
}

func token(t *testing.T, user string) string {
	t.Helper()
	tok, err := server.SignToken("HS256", secret, server.TokenClaims{User: user})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func wsURL(addr string) string { return "ws://" + addr + "/connection/websocket" }

// recorder collects a subscription's events.
type recorder struct {
	mu         sync.Mutex
	offsets    []uint64
	texts      []string
	subscribed []client.SubscribedEvent
	joins      []string
	changed    chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) notify() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) options() client.SubscriptionOptions {
	return client.SubscriptionOptions{
		OnPublication: func(p client.Publication) {
			r.mu.Lock()
			r.offsets = append(r.offsets, p.Offset)
			var text string
			_ = json.Unmarshal(p.Data, &text)
			r.texts = append(r.texts, text)
			r.mu.Unlock()
			r.notify()
		},
		OnSubscribed: func(e client.SubscribedEvent) {
			r.mu.Lock()
			r.subscribed = append(r.subscribed, e)
			r.mu.Unlock()
			r.notify()
		},
		OnJoin: func(ci client.ClientInfo) {
			r.mu.Lock()
			r.joins = append(r.joins, ci.User)
			r.mu.Unlock()
			r.notify()
		},
	}
}

// waitUntil waits for cond over the recorder's state.
func (r *recorder) waitUntil(t *testing.T, what string, cond func(r *recorder) bool) {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond(r)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline.C:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("timed out waiting for %s; offsets %v, subscribed %+v", what, r.offsets, r.subscribed)
		}
	}
}

func TestPublishSubscribePresenceHistory(t *testing.T) {
	_, hs := startServer(t)
	addr := strings.TrimPrefix(hs.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	alice := client.New(wsURL(addr), client.Options{Token: token(t, "alice")})
	defer alice.Close()
	if err := alice.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	sub, err := alice.NewSubscription("chat:go", rec.options())
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	bob := client.New(wsURL(addr), client.Options{GetToken: func(context.Context) (string, error) { return token(t, "bob"), nil }})
	defer bob.Close()
	if err := bob.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	bsub, _ := bob.NewSubscription("chat:go", client.SubscriptionOptions{})
	if err := bsub.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	rec.waitUntil(t, "bob's join", func(r *recorder) bool { return len(r.joins) == 1 && r.joins[0] == "bob" })
	pos, err := bsub.Publish(ctx, "hello")
	if err != nil || pos.Offset != 1 {
		t.Fatalf("publish: %v %v", pos, err)
	}
	rec.waitUntil(t, "the publication", func(r *recorder) bool { return len(r.texts) == 1 && r.texts[0] == "hello" })

	pres, err := sub.Presence(ctx)
	if err != nil || len(pres) != 2 || pres[alice.ID()].User != "alice" {
		t.Fatalf("presence %v %v", pres, err)
	}
	st, err := sub.PresenceStats(ctx)
	if err != nil || st.NumClients != 2 || st.NumUsers != 2 {
		t.Fatalf("presence stats %+v %v", st, err)
	}
	h, err := sub.History(ctx, client.HistoryOptions{Reverse: true})
	if err != nil || len(h.Publications) != 1 || string(h.Publications[0].Data) != `"hello"` || h.Position.Offset != 1 {
		t.Fatalf("history %+v %v", h, err)
	}
	if _, err := alice.Publish(ctx, "nope:x", 1); err == nil {
		t.Fatal("publish to an unknown namespace succeeded")
	} else if e, ok := err.(*client.Error); !ok || e.Code != client.CodeUnknownChannel {
		t.Fatalf("publish error %v, want code 102", err)
	}
	if err := alice.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestReconnectRecovers: the connection is cut while the server keeps
// running, publications arrive meanwhile, and the client reconnects,
// resubscribes and receives exactly the missed ones, then live ones.
// After a restart of the server (a new memory broker), recovery is
// reported as impossible.
func TestReconnectRecovers(t *testing.T) {
	srv, hs := startServer(t)
	px := cutproxy.New(t, strings.TrimPrefix(hs.URL, "http://"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var disconnects []client.DisconnectedEvent
	var dmu sync.Mutex
	c := client.New(wsURL(px.Addr()), client.Options{
		Token:             token(t, "alice"),
		MinReconnectDelay: 50 * time.Millisecond,
		MaxReconnectDelay: 200 * time.Millisecond,
		OnDisconnected: func(e client.DisconnectedEvent) {
			dmu.Lock()
			disconnects = append(disconnects, e)
			dmu.Unlock()
		},
	})
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	sub, _ := c.NewSubscription("chat:rec", rec.options())
	if err := sub.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	publish := func(from, to int) {
		for i := from; i <= to; i++ {
			if _, err := srv.Hub().Publish(ctx, "chat:rec", json.RawMessage(fmt.Sprintf(`"m%d"`, i)), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(1, 3)
	rec.waitUntil(t, "3 live publications", func(r *recorder) bool { return len(r.offsets) == 3 })

	// Cut the network and keep the client away while 5 more are published.
	px.Pause()
	px.Cut()
	waitState(t, c, client.StateConnecting)
	publish(4, 8)
	px.Resume()
	rec.waitUntil(t, "recovery", func(r *recorder) bool { return len(r.subscribed) == 2 && len(r.offsets) == 8 })
	publish(9, 10)
	rec.waitUntil(t, "live publications after recovery", func(r *recorder) bool { return len(r.offsets) == 10 })

	rec.mu.Lock()
	for i, off := range rec.offsets {
		if off != uint64(i+1) || rec.texts[i] != fmt.Sprintf("m%d", i+1) {
			t.Fatalf("publication %d: offset %d %q; all: %v", i, off, rec.texts[i], rec.offsets)
		}
	}
	if e := rec.subscribed[1]; !e.WasRecovering || !e.Recovered || e.Unrecoverable || e.Position.Offset != 8 {
		t.Fatalf("second subscribed event %+v", e)
	}
	epoch := rec.subscribed[0].Position.Epoch
	rec.mu.Unlock()
	if p := sub.Position(); p.Offset != 10 || p.Epoch != epoch {
		t.Fatalf("position %+v", p)
	}

	// Restart: a new server (new memory broker, new epochs) behind the
	// same address.
	srv2, hs2 := startServer(t)
	px.SetTarget(strings.TrimPrefix(hs2.URL, "http://"))
	_ = srv.Shutdown(ctx)
	rec.waitUntil(t, "the subscription on the new server", func(r *recorder) bool { return len(r.subscribed) == 3 })
	rec.mu.Lock()
	e := rec.subscribed[2]
	rec.mu.Unlock()
	if !e.WasRecovering || e.Recovered || !e.Unrecoverable || e.Position.Epoch == epoch {
		t.Fatalf("subscribed event after the restart %+v", e)
	}
	if _, err := srv2.Hub().Publish(ctx, "chat:rec", json.RawMessage(`"new"`), nil); err != nil {
		t.Fatal(err)
	}
	rec.waitUntil(t, "a publication on the new server", func(r *recorder) bool { return len(r.texts) == 11 && r.texts[10] == "new" })
	dmu.Lock()
	defer dmu.Unlock()
	if n := len(disconnects); n < 2 || disconnects[n-1].Code != server.DisconnectShutdown || !disconnects[n-1].Reconnect {
		t.Fatalf("disconnect events %+v: the last should be the shutdown (4001, reconnect)", disconnects)
	}
}

func waitState(t *testing.T, c *client.Client, want client.State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("state %v, want %v", c.State(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNoReconnectAfterForcedDisconnect(t *testing.T) {
	_, hs := startServer(t)
	addr := strings.TrimPrefix(hs.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan client.DisconnectedEvent, 4)
	c := client.New(wsURL(addr), client.Options{
		Token:          token(t, "mallory"),
		OnDisconnected: func(e client.DisconnectedEvent) { got <- e },
	})
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", hs.URL+"/api/disconnect", strings.NewReader(`{"user":"mallory","reason":"banned"}`))
	req.Header.Set("Authorization", "apikey test-api-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case e := <-got:
		if e.Code != server.DisconnectForced || e.Reason != "banned" || e.Reconnect {
			t.Fatalf("disconnect event %+v", e)
		}
	case <-ctx.Done():
		t.Fatal("no disconnect event")
	}
	waitState(t, c, client.StateDisconnected)
	if err := c.Ping(ctx); err == nil {
		t.Fatal("ping after a forced disconnect succeeded")
	}

	bad := client.New(wsURL(addr), client.Options{Token: "not-a-token"})
	defer bad.Close()
	if err := bad.Connect(ctx); err == nil || !strings.Contains(err.Error(), "4501") {
		t.Fatalf("connect with a bad token: %v", err)
	}
}

// TestTokens: a private channel is subscribed with a token from GetToken,
// fetched again when the server ends the subscription as expired; the
// connection token is fetched again after it expired.
func TestTokens(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.Token.HMACSecret = secret
	cfg.Namespaces = map[string]server.Namespace{"priv": {Private: true, AllowPublish: true}}
	srv, err := server.New(cfg, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { _ = srv.Close(); hs.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var connTokens, subTokens int
	var mu sync.Mutex
	// What happened to the connection and the subscription, for the
	// failure messages.
	var events []string
	logEvent := func(format string, args ...any) {
		mu.Lock()
		events = append(events, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	history := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(events, "; ")
	}
	c := client.New(wsURL(strings.TrimPrefix(hs.URL, "http://")), client.Options{
		MinReconnectDelay: 20 * time.Millisecond,
		OnDisconnected:    func(e client.DisconnectedEvent) { logEvent("disconnected %d %s", e.Code, e.Reason) },
		OnError:           func(err error) { logEvent("error: %v", err) },
		GetToken: func(context.Context) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			connTokens++
			exp := time.Now().Add(time.Hour)
			if connTokens == 1 {
				exp = time.Now().Add(1500 * time.Millisecond) // the first one runs out
			}
			return server.SignToken("HS256", secret, server.TokenClaims{User: "alice", ExpiresAt: exp})
		},
	})
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	opts := rec.options()
	opts.OnUnsubscribed = func(e client.UnsubscribedEvent) { logEvent("unsubscribed %d %s", e.Code, e.Reason) }
	opts.GetToken = func(_ context.Context, channel string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		subTokens++
		return server.SignToken("HS256", secret, server.TokenClaims{User: "alice", Channel: channel, ExpiresAt: time.Now().Add(time.Hour)})
	}
	sub, _ := c.NewSubscription("priv:alice", opts)
	if err := sub.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Publish(ctx, "secret"); err != nil {
		t.Fatal(err)
	}
	rec.waitUntil(t, "the publication", func(r *recorder) bool { return len(r.texts) == 1 })

	// Without a token the private channel is refused for good.
	other, _ := c.NewSubscription("priv:bob", client.SubscriptionOptions{})
	if err := other.Subscribe(ctx); err == nil {
		t.Fatal("subscribed to a private channel without a token")
	} else if e, ok := err.(*client.Error); !ok || e.Code != client.CodePermissionDenied {
		t.Fatalf("error %v, want 103", err)
	}

	// The first connection token was short: the client refreshes it
	// before it runs out (or reconnects with a fresh one), and stays up.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := connTokens
		mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection token was never fetched again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // past the first token's expiry
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping after the first token expired: %v (events: %s)", err, history())
	}
	if _, err := sub.Publish(ctx, "still here"); err != nil {
		t.Fatalf("publish after the first token expired: %v (events: %s)", err, history())
	}
	rec.waitUntil(t, "the second publication", func(r *recorder) bool { return len(r.texts) == 2 })
}

// TestSubscribeRightAfterConnect: Subscribe called as soon as Connect
// returns races with the client's own resubscription of wanted channels on
// the new connection; the channel must be subscribed once, not twice
// (which the server would refuse with 105).
func TestSubscribeRightAfterConnect(t *testing.T) {
	_, hs := startServer(t)
	url := wsURL(strings.TrimPrefix(hs.URL, "http://"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 30 {
		c := client.New(url, client.Options{Token: token(t, "alice")})
		sub, _ := c.NewSubscription("chat:race", client.SubscriptionOptions{})
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		if err := sub.Subscribe(ctx); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		c.Close()
	}
}

// TestSubscribeBeforeResubscription: a Subscribe that completes on a new
// connection before the client's own resubscription of that connection
// looks at the subscriptions must not be subscribed a second time: the
// server would refuse the duplicate (105) and the subscription would end.
// Under load this happened in TestTokens after a reconnect.
func TestSubscribeBeforeResubscription(t *testing.T) {
	_, hs := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	release := make(chan struct{})
	resubscribed := make(chan int, 1)
	restore := client.SetResubscribeHooks(func() { <-release }, func(n int) { resubscribed <- n })
	t.Cleanup(restore)

	var mu sync.Mutex
	var unsubscribed []string
	c := client.New(wsURL(strings.TrimPrefix(hs.URL, "http://")), client.Options{Token: token(t, "alice")})
	t.Cleanup(func() { c.Close() })
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	opts := rec.options()
	opts.OnUnsubscribed = func(e client.UnsubscribedEvent) {
		mu.Lock()
		unsubscribed = append(unsubscribed, fmt.Sprintf("%d %s", e.Code, e.Reason))
		mu.Unlock()
	}
	sub, _ := c.NewSubscription("chat:early", opts)
	if err := sub.Subscribe(ctx); err != nil {
		t.Fatal(err)
	}
	close(release)
	select {
	case n := <-resubscribed:
		if n != 0 {
			t.Fatalf("the resubscription of the connection subscribed %d subscriptions again, want 0", n)
		}
	case <-ctx.Done():
		t.Fatal("the resubscription never ran")
	}
	if _, err := sub.Publish(ctx, "after"); err != nil {
		t.Fatalf("publish: %v", err)
	}
	rec.waitUntil(t, "the publication", func(r *recorder) bool { return len(r.texts) == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(unsubscribed) != 0 {
		t.Fatalf("the subscription ended: %v", unsubscribed)
	}
}
