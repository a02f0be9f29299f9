package hub

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// lateBroker is a MemoryBroker whose deliveries wait until the test
// releases them, as the deliveries of a broker over the network (NATS
// JetStream) may arrive after Publish and History have returned. Events
// keep their order.
type lateBroker struct {
	*MemoryBroker
	mu      sync.Mutex
	h       EventHandler
	pending []func(EventHandler)
}

func newLateBroker() *lateBroker {
	return &lateBroker{MemoryBroker: NewMemoryBroker(MemoryBrokerOptions{})}
}

func (b *lateBroker) Attach(h EventHandler) error {
	b.h = h
	return b.MemoryBroker.Attach(lateHandler{b})
}

func (b *lateBroker) later(f func(EventHandler)) {
	b.mu.Lock()
	b.pending = append(b.pending, f)
	b.mu.Unlock()
}

// release delivers everything the broker held back, in order.
func (b *lateBroker) release() {
	b.mu.Lock()
	pending := b.pending
	b.pending = nil
	b.mu.Unlock()
	for _, f := range pending {
		f(b.h)
	}
}

type lateHandler struct{ b *lateBroker }

func (l lateHandler) HandlePublication(ch string, p *Publication) {
	l.b.later(func(h EventHandler) { h.HandlePublication(ch, p) })
}
func (l lateHandler) HandleJoin(ch string, i *ClientInfo) {
	l.b.later(func(h EventHandler) { h.HandleJoin(ch, i) })
}
func (l lateHandler) HandleLeave(ch string, i *ClientInfo) {
	l.b.later(func(h EventHandler) { h.HandleLeave(ch, i) })
}
func (l lateHandler) HandleLost(ch string) {
	l.b.later(func(h EventHandler) { h.HandleLost(ch) })
}

// TestLateDeliveringBroker: with a broker whose deliveries arrive after
// the publications are already in history, a new subscription gets each
// publication once: from its recovery or start position, or live, never
// both.
func TestLateDeliveringBroker(t *testing.T) {
	b := newLateBroker()
	h := newTestHub(t, Options{Broker: b, Namespaces: map[string]NamespaceOptions{"chat": {HistorySize: 100, HistoryTTL: time.Hour}}})
	anchor := &recorder{}
	subscribe(t, h, "chat:x", anchor, SubscribeOptions{}) // keeps the node subscribed
	b.release()

	publish(t, h, "chat:x", `1`)
	top := publish(t, h, "chat:x", `2`) // both in history, neither delivered yet

	plain, recovering := &recorder{}, &recorder{}
	_, rec := subscribe(t, h, "chat:x", plain, SubscribeOptions{})
	if rec.Position != top {
		t.Fatalf("start position %+v, want %+v", rec.Position, top)
	}
	_, rec = subscribe(t, h, "chat:x", recovering, SubscribeOptions{Recover: true, Since: StreamPosition{0, top.Epoch}})
	if !rec.Recovered() || !slices.Equal(pubOffsets(rec.Publications), []uint64{1, 2}) {
		t.Fatalf("recovery %v %v, want ok [1 2]", rec.Status, pubOffsets(rec.Publications))
	}

	b.release() // offsets 1 and 2 arrive now, after both subscriptions started
	publish(t, h, "chat:x", `3`)
	b.release()

	if got := anchor.offsets("chat:x"); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("anchor got %v, want [1 2 3]", got)
	}
	for name, r := range map[string]*recorder{"plain": plain, "recovering": recovering} {
		if got := r.offsets("chat:x"); !slices.Equal(got, []uint64{3}) {
			t.Fatalf("%s subscriber got %v live, want only [3]: 1 and 2 were in its start position", name, got)
		}
	}
}

// TestBrokerReportsLostEvents: when the broker says it may have lost
// events of a channel, every live subscriber gets a PushLost (and nothing
// else changes), and a subscription not yet started fails to start with
// ErrEventsLost, so that both resubscribe with recovery.
func TestBrokerReportsLostEvents(t *testing.T) {
	b := newLateBroker()
	h := newTestHub(t, Options{Broker: b, Namespaces: map[string]NamespaceOptions{"chat": {HistorySize: 100, HistoryTTL: time.Hour}}})
	live, other := &recorder{}, &recorder{}
	subscribe(t, h, "chat:x", live, SubscribeOptions{})
	subscribe(t, h, "chat:y", other, SubscribeOptions{})
	held := &recorder{}
	sub, _, err := h.Subscribe(t.Context(), "chat:x", held, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b.h.HandleLost("chat:x")
	publish(t, h, "chat:x", `1`)
	b.release()
	if err := sub.Start(); !errors.Is(err, ErrEventsLost) {
		t.Fatalf("Start after lost events: %v, want ErrEventsLost", err)
	}
	var kinds []string
	for _, p := range live.all() {
		kinds = append(kinds, p.Kind.String())
	}
	if !slices.Equal(kinds, []string{"lost", "publication"}) {
		t.Fatalf("live subscriber got %v, want [lost publication]", kinds)
	}
	if n := len(held.all()) + len(other.all()); n != 0 {
		t.Fatalf("%d pushes reached the held subscriber or another channel", n)
	}
}
