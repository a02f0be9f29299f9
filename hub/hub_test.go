package hub

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

var chatHistory = map[string]NamespaceOptions{
	"chat": {HistorySize: 100000, HistoryTTL: time.Hour},
}

// TestFanOutOrderUnderConcurrency checks that with many subscribers and
// concurrent publishers on several channels, every subscriber receives
// every publication of each channel exactly once, in offset order.
func TestFanOutOrderUnderConcurrency(t *testing.T) {
	const (
		subscribers = 100
		publishers  = 4
		perPub      = 200
	)
	channels := []string{"chat:a", "chat:b", "chat:c"}
	h := newTestHub(t, Options{Namespaces: chatHistory})
	subs := make([]*recorder, subscribers)
	for i := range subs {
		subs[i] = &recorder{}
		for _, ch := range channels {
			subscribe(t, h, ch, subs[i], SubscribeOptions{})
		}
	}
	var wg sync.WaitGroup
	for _, ch := range channels {
		for p := range publishers {
			wg.Go(func() {
				for i := range perPub {
					if _, err := h.Publish(context.Background(), ch, fmt.Appendf(nil, `"%d-%d"`, p, i), nil); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	want := seq(1, publishers*perPub)
	for i, r := range subs {
		for _, ch := range channels {
			if got := r.offsets(ch); !slices.Equal(got, want) {
				t.Fatalf("subscriber %d on %s got %d publications (first gap or reorder at %v), want 1..%d in order",
					i, ch, len(got), firstMismatch(got, want), len(want))
			}
		}
	}
	if st := h.Stats(); st.Delivered != uint64(subscribers*len(channels)*publishers*perPub) || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func firstMismatch(got, want []uint64) int {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return i
		}
	}
	return min(len(got), len(want))
}

func TestFanOutWithoutHistoryKeepsPublisherOrder(t *testing.T) {
	h := newTestHub(t, Options{})
	r := &recorder{}
	subscribe(t, h, "news", r, SubscribeOptions{})
	for i := range 50 {
		publish(t, h, "news", strconv.Itoa(i))
	}
	want := make([]string, 50)
	for i := range want {
		want[i] = strconv.Itoa(i)
	}
	if got := r.data(); !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
}

func TestUnsubscribeStopsDelivery(t *testing.T) {
	h := newTestHub(t, Options{Namespaces: chatHistory})
	b := h.Broker().(*MemoryBroker)
	r, other := &recorder{}, &recorder{}
	sub, _ := subscribe(t, h, "chat:x", r, SubscribeOptions{})
	publish(t, h, "chat:x", `"before"`)
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Fatal(err)
	}
	publish(t, h, "chat:x", `"after"`)
	if got := r.data(); !slices.Equal(got, []string{`"before"`}) {
		t.Fatalf("received %v, want only the publication before Unsubscribe", got)
	}
	if n := h.NumSubscribers("chat:x"); n != 0 {
		t.Fatalf("%d subscribers left", n)
	}
	b.mu.Lock()
	_, nodeSubscribed := b.subscribed["chat:x"]
	b.mu.Unlock()
	if nodeSubscribed {
		t.Fatal("node still subscribed at the broker after its last subscriber left")
	}
	// Hub.Unsubscribe by subscriber, and repeated unsubscribes.
	subscribe(t, h, "chat:x", other, SubscribeOptions{})
	if err := h.Unsubscribe(t.Context(), "chat:x", other); err != nil {
		t.Fatal(err)
	}
	if err := h.Unsubscribe(t.Context(), "chat:x", other); !errors.Is(err, ErrNotSubscribed) {
		t.Fatalf("second Hub.Unsubscribe: %v, want ErrNotSubscribed", err)
	}
	if err := sub.Unsubscribe(t.Context()); err != nil {
		t.Fatalf("second Subscription.Unsubscribe: %v, want nil", err)
	}
	if err := sub.Start(); !errors.Is(err, ErrNotSubscribed) {
		t.Fatalf("Start after Unsubscribe: %v, want ErrNotSubscribed", err)
	}
}

// TestFullSubscriberDoesNotBlockOthers: a subscriber whose queue is full
// refuses every push; the others still get everything, and the refusals are
// counted.
func TestFullSubscriberDoesNotBlockOthers(t *testing.T) {
	h := newTestHub(t, Options{})
	a, full, c := &recorder{}, &recorder{}, &recorder{}
	full.full.Store(true)
	for _, r := range []*recorder{a, full, c} {
		subscribe(t, h, "news", r, SubscribeOptions{})
	}
	for i := range 100 {
		publish(t, h, "news", strconv.Itoa(i))
	}
	if len(a.all()) != 100 || len(c.all()) != 100 || len(full.all()) != 0 {
		t.Fatalf("received %d, %d, %d; want 100, 100, 0", len(a.all()), len(c.all()), len(full.all()))
	}
	if st := h.Stats(); st.Dropped != 100 || st.Delivered != 200 {
		t.Fatalf("stats %+v, want 100 dropped, 200 delivered", st)
	}
}

func TestJoinLeaveAndPresence(t *testing.T) {
	h := newTestHub(t, Options{Namespaces: map[string]NamespaceOptions{"room": {Presence: true, JoinLeave: true}}})
	ctx := t.Context()
	alice, bob := &recorder{}, &recorder{}
	aliceInfo := &ClientInfo{User: "alice", Client: "c1"}
	bobInfo := &ClientInfo{User: "bob", Client: "c2", ChanInfo: []byte(`{"role":"guest"}`)}
	subscribe(t, h, "room:1", alice, SubscribeOptions{Info: aliceInfo})
	bobSub, _ := subscribe(t, h, "room:1", bob, SubscribeOptions{Info: bobInfo})

	presence, err := h.Presence(ctx, "room:1")
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(presence)); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Fatalf("presence %v", got)
	}
	if string(presence["c2"].ChanInfo) != `{"role":"guest"}` {
		t.Fatalf("presence lost channel info: %+v", presence["c2"])
	}
	if st, _ := h.PresenceStats(ctx, "room:1"); st != (PresenceStats{Clients: 2, Users: 2}) {
		t.Fatalf("stats %+v", st)
	}
	if err := bobSub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	presence, _ = h.Presence(ctx, "room:1")
	if got := slices.Collect(maps.Keys(presence)); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("presence after leave %v, want [c1]", got)
	}
	events := func(r *recorder) []string {
		var out []string
		for _, p := range r.all() {
			out = append(out, p.Kind.String()+" "+p.Info.Client)
		}
		return out
	}
	if got := events(alice); !slices.Equal(got, []string{"join c1", "join c2", "leave c2"}) {
		t.Fatalf("alice saw %v", got)
	}
	if got := events(bob); !slices.Equal(got, []string{"join c2"}) {
		t.Fatalf("bob saw %v", got)
	}
}

func TestPresenceRefreshKeepsEntriesAlive(t *testing.T) {
	clock := newFakeClock()
	pm := NewMemoryPresence(MemoryPresenceOptions{TTL: 30 * time.Second, Now: clock.Now})
	h := newTestHub(t, Options{Presence: pm, Default: NamespaceOptions{Presence: true}})
	ctx := t.Context()
	sub, _ := subscribe(t, h, "room", &recorder{}, SubscribeOptions{Info: &ClientInfo{User: "u", Client: "c"}})
	count := func() int {
		st, err := h.PresenceStats(ctx, "room")
		if err != nil {
			t.Fatal(err)
		}
		return st.Clients
	}
	for range 4 { // 80s in all, far past the TTL, refreshed every 20s
		clock.Advance(20 * time.Second)
		if err := h.RefreshPresence(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if count() != 1 {
		t.Fatal("refreshed entry expired")
	}
	clock.Advance(30 * time.Second)
	if count() != 0 {
		t.Fatal("entry outlived its TTL without refresh")
	}
	_ = sub.Unsubscribe(ctx)
	if err := h.RefreshPresence(ctx); err != nil || count() != 0 {
		t.Fatalf("refresh after unsubscribe: %v, %d entries", err, count())
	}
}

func TestHeldPushesDeliveredOnStart(t *testing.T) {
	h := newTestHub(t, Options{Namespaces: chatHistory})
	publish(t, h, "chat:x", `1`)
	r := &recorder{}
	sub, rec, err := h.Subscribe(t.Context(), "chat:x", r, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != RecoveryNotRequested || rec.Position.Offset != 1 {
		t.Fatalf("Subscribe result %+v, want position 1", rec)
	}
	publish(t, h, "chat:x", `2`)
	publish(t, h, "chat:x", `3`)
	if n := len(r.all()); n != 0 {
		t.Fatalf("%d pushes delivered before Start", n)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	publish(t, h, "chat:x", `4`)
	if got := r.offsets("chat:x"); !slices.Equal(got, []uint64{2, 3, 4}) {
		t.Fatalf("got %v, want [2 3 4]", got)
	}
	if err := sub.Start(); err != nil {
		t.Fatalf("second Start: %v", err)
	}
}

func TestHeldOverflow(t *testing.T) {
	h := newTestHub(t, Options{MaxHeld: 2})
	r := &recorder{}
	sub, _, err := h.Subscribe(t.Context(), "news", r, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		publish(t, h, "news", strconv.Itoa(i))
	}
	if err := sub.Start(); !errors.Is(err, ErrHeldOverflow) {
		t.Fatalf("Start: %v, want ErrHeldOverflow", err)
	}
	publish(t, h, "news", `"late"`)
	if n := len(r.all()); n != 0 {
		t.Fatalf("overflowed subscription received %d pushes", n)
	}
}

func TestHubErrors(t *testing.T) {
	h := newTestHub(t, Options{Namespaces: map[string]NamespaceOptions{"chat": {}}})
	ctx := t.Context()
	r := &recorder{}
	subscribe(t, h, "chat:x", r, SubscribeOptions{})
	sub := func(ch string, s Subscriber) error {
		_, _, err := h.Subscribe(ctx, ch, s, SubscribeOptions{})
		return err
	}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"unknown namespace", sub("nope:x", &recorder{}), ErrUnknownNamespace},
		{"empty channel", sub("", &recorder{}), ErrInvalidChannel},
		{"nil subscriber", sub("chat:x", nil), ErrInvalidOptions},
		{"twice", sub("chat:x", r), ErrAlreadySubscribed},
		{"history disabled", func() error { _, _, err := h.History(ctx, "chat:x", HistoryOptions{}); return err }(), ErrHistoryDisabled},
		{"presence disabled", func() error { _, err := h.Presence(ctx, "chat:x"); return err }(), ErrPresenceDisabled},
		{"publish unknown", func() error { _, err := h.Publish(ctx, "nope:x", nil, nil); return err }(), ErrUnknownNamespace},
		{"second hub on one broker", func() error { _, err := New(Options{Broker: h.Broker()}); return err }(), ErrBrokerAttached},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if n := h.NumSubscribers("chat:x"); n != 1 {
		t.Fatalf("failed subscribes changed the channel: %d subscribers", n)
	}
	_ = h.Close()
	if err := sub("chat:y", &recorder{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
}

// failingBroker is a broker whose node subscription fails, to check that a
// failed Subscribe leaves nothing behind.
type failingBroker struct {
	*MemoryBroker
	fail bool
}

var errBrokerDown = errors.New("broker down")

func (f *failingBroker) Subscribe(ctx context.Context, channel string) error {
	if f.fail {
		return errBrokerDown
	}
	return f.MemoryBroker.Subscribe(ctx, channel)
}

func TestSubscribeRollsBackOnBrokerFailure(t *testing.T) {
	fb := &failingBroker{MemoryBroker: NewMemoryBroker(MemoryBrokerOptions{}), fail: true}
	h := newTestHub(t, Options{Broker: fb, Default: NamespaceOptions{Presence: true}})
	ctx := t.Context()
	r := &recorder{}
	_, _, err := h.Subscribe(ctx, "room", r, SubscribeOptions{Info: &ClientInfo{Client: "c"}})
	if !errors.Is(err, errBrokerDown) {
		t.Fatalf("Subscribe: %v, want the broker's error", err)
	}
	if st := h.Stats(); st.Channels != 0 || st.Subscriptions != 0 {
		t.Fatalf("failed Subscribe left %+v", st)
	}
	fb.fail = false
	subscribe(t, h, "room", r, SubscribeOptions{Info: &ClientInfo{Client: "c"}})
	publish(t, h, "room", `1`)
	if len(r.all()) != 1 {
		t.Fatal("subscribe after recovery from broker failure receives nothing")
	}
}

// TestSubscribeUnsubscribeChurn races subscribers joining and leaving one
// channel; whatever the interleaving, the node must end subscribed at the
// broker exactly when it has local subscribers.
func TestSubscribeUnsubscribeChurn(t *testing.T) {
	h := newTestHub(t, Options{})
	b := h.Broker().(*MemoryBroker)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				r := &recorder{}
				sub, _, err := h.Subscribe(context.Background(), "churn", r, SubscribeOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				_ = sub.Start()
				if err := sub.Unsubscribe(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 500 {
			_, _ = h.Publish(context.Background(), "churn", []byte(`1`), nil)
		}
	})
	wg.Wait()
	b.mu.Lock()
	_, nodeSubscribed := b.subscribed["churn"]
	b.mu.Unlock()
	if nodeSubscribed || h.Stats().Channels != 0 {
		t.Fatalf("after churn: node subscribed %v, hub %+v; want neither", nodeSubscribed, h.Stats())
	}
	r := &recorder{}
	subscribe(t, h, "churn", r, SubscribeOptions{})
	publish(t, h, "churn", `2`)
	if len(r.all()) != 1 {
		t.Fatal("subscriber after churn receives nothing")
	}
}

// signalPresence reports each AddPresence call.
type signalPresence struct {
	*MemoryPresence
	added chan string
}

func (s *signalPresence) AddPresence(ctx context.Context, channel string, info *ClientInfo) error {
	select {
	case s.added <- info.Client:
	default:
	}
	return s.MemoryPresence.AddPresence(ctx, channel, info)
}

func TestBackgroundPresenceRefreshAndClose(t *testing.T) {
	sp := &signalPresence{MemoryPresence: NewMemoryPresence(MemoryPresenceOptions{}), added: make(chan string, 1)}
	h, err := New(Options{Presence: sp, Default: NamespaceOptions{Presence: true}, PresenceRefresh: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	subscribe(t, h, "room", &recorder{}, SubscribeOptions{Info: &ClientInfo{Client: "c"}})
	// A liveness bound, not a timing assertion: fail rather than hang.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for range 3 { // the subscribe, then refreshes from the background
		select {
		case got := <-sp.added:
			if got != "c" {
				t.Fatalf("refreshed %q", got)
			}
		case <-ctx.Done():
			t.Fatal("no background refresh within a minute")
		}
	}
	if err := h.Close(); err != nil { // returns once the refresher has stopped
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Presence is part of the Broker: without Options.Presence the hub keeps it
// in the broker, so that a broker for many nodes shares it; with
// Options.Presence it goes there instead and the broker's stays empty.
func TestPresenceLivesInTheBroker(t *testing.T) {
	ctx := t.Context()
	b := NewMemoryBroker(MemoryBrokerOptions{})
	h := newTestHub(t, Options{Broker: b, Default: NamespaceOptions{Presence: true}})
	subscribe(t, h, "room", &recorder{}, SubscribeOptions{Info: &ClientInfo{Client: "c1", User: "u1"}})
	got, err := b.Presence(ctx, "room")
	if err != nil || len(got) != 1 || got["c1"] == nil || got["c1"].User != "u1" {
		t.Fatalf("the broker's presence: %v, %v; want c1 of u1", got, err)
	}

	b2 := NewMemoryBroker(MemoryBrokerOptions{})
	own := NewMemoryPresence(MemoryPresenceOptions{})
	h2 := newTestHub(t, Options{Broker: b2, Presence: own, Default: NamespaceOptions{Presence: true}})
	subscribe(t, h2, "room", &recorder{}, SubscribeOptions{Info: &ClientInfo{Client: "c2"}})
	if got, _ := own.Presence(ctx, "room"); len(got) != 1 || got["c2"] == nil {
		t.Fatalf("Options.Presence: %v, want c2", got)
	}
	if got, _ := b2.Presence(ctx, "room"); len(got) != 0 {
		t.Fatalf("the broker's presence was used too: %v", got)
	}
}
