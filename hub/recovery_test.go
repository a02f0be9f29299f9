package hub

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRecoverAtHistoryBoundary: with offsets 6..10 retained, recovery from
// 5 (oldest-1) succeeds and from 4 (one older) is impossible.
func TestRecoverAtHistoryBoundary(t *testing.T) {
	h := newTestHub(t, Options{Namespaces: map[string]NamespaceOptions{"chat": {HistorySize: 5, HistoryTTL: time.Hour}}})
	var top StreamPosition
	for range 10 {
		top = publish(t, h, "chat:x", `1`)
	}
	epoch := top.Epoch
	tests := []struct {
		name   string
		since  StreamPosition
		status RecoveryStatus
		want   []uint64
	}{
		{"up to date", StreamPosition{10, epoch}, RecoveryOK, nil},
		{"one missed", StreamPosition{9, epoch}, RecoveryOK, []uint64{10}},
		{"oldest retained minus one", StreamPosition{5, epoch}, RecoveryOK, seq(6, 10)},
		{"one older than that", StreamPosition{4, epoch}, RecoveryTrimmed, nil},
		{"from the start", StreamPosition{0, epoch}, RecoveryTrimmed, nil},
		{"ahead of stream", StreamPosition{11, epoch}, RecoveryPositionAhead, nil},
		{"other epoch", StreamPosition{9, "other"}, RecoveryEpochChanged, nil},
		{"no epoch", StreamPosition{9, ""}, RecoveryEpochChanged, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, via := range []string{"Recover", "Subscribe"} {
				var rec Recovery
				var err error
				if via == "Recover" {
					rec, err = h.Recover(t.Context(), "chat:x", tt.since)
				} else {
					var sub *Subscription
					sub, rec, err = h.Subscribe(t.Context(), "chat:x", &recorder{}, SubscribeOptions{Recover: true, Since: tt.since})
					if err == nil {
						t.Cleanup(func() { _ = sub.Unsubscribe(context.Background()) })
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				if rec.Status != tt.status || !slices.Equal(pubOffsets(rec.Publications), tt.want) || rec.Position != top {
					t.Fatalf("%s: %v %v at %+v; want %v %v at %+v",
						via, rec.Status, pubOffsets(rec.Publications), rec.Position, tt.status, tt.want, top)
				}
				if rec.Recovered() != (tt.status == RecoveryOK) {
					t.Fatalf("%s: Recovered() = %v for %v", via, rec.Recovered(), rec.Status)
				}
			}
		})
	}
}

func TestRecoverFailsAfterBrokerRestart(t *testing.T) {
	opts := Options{Namespaces: map[string]NamespaceOptions{"chat": {HistorySize: 10, HistoryTTL: time.Hour}}}
	before := newTestHub(t, opts)
	publish(t, before, "chat:x", `1`)
	last := publish(t, before, "chat:x", `2`)

	after := newTestHub(t, opts) // a new memory broker: the node restarted
	now := publish(t, after, "chat:x", `3`)
	if now.Epoch == last.Epoch {
		t.Fatalf("new broker reused epoch %q", now.Epoch)
	}
	sub, rec, err := after.Subscribe(t.Context(), "chat:x", &recorder{}, SubscribeOptions{Recover: true, Since: last})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe(context.Background())
	if rec.Status != RecoveryEpochChanged || len(rec.Publications) != 0 || rec.Position != now {
		t.Fatalf("recovery across restart: %+v, want epoch changed at %+v", rec, now)
	}
}

func TestRecoverAfterHistoryTTL(t *testing.T) {
	clock := newFakeClock()
	h := newTestHub(t, Options{
		Broker:     NewMemoryBroker(MemoryBrokerOptions{Now: clock.Now}),
		Namespaces: map[string]NamespaceOptions{"chat": {HistorySize: 100, HistoryTTL: 10 * time.Second, HistoryMetaTTL: time.Minute}},
	})
	p1 := publish(t, h, "chat:x", `1`)
	clock.Advance(5 * time.Second)
	p2 := publish(t, h, "chat:x", `2`)
	at0 := StreamPosition{0, p1.Epoch}

	steps := []struct {
		advance time.Duration
		since   StreamPosition
		status  RecoveryStatus
		want    []uint64
	}{
		{4 * time.Second, at0, RecoveryOK, []uint64{1, 2}}, // t=9s
		{time.Second, at0, RecoveryTrimmed, nil},           // t=10s: offset 1 expired
		{0, p1, RecoveryOK, []uint64{2}},                   // from 1: nothing lost
		{5 * time.Second, p1, RecoveryTrimmed, nil},        // t=15s: offset 2 expired too
		{0, p2, RecoveryOK, nil},                           // nothing was missed
		{time.Minute, p2, RecoveryEpochChanged, nil},       // stream forgotten
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		rec, err := h.Recover(t.Context(), "chat:x", st.since)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != st.status || !slices.Equal(pubOffsets(rec.Publications), st.want) {
			t.Fatalf("step %d: %v %v, want %v %v", i, rec.Status, pubOffsets(rec.Publications), st.status, st.want)
		}
	}
}

func TestRecoverDisabledWithoutHistory(t *testing.T) {
	h := newTestHub(t, Options{})
	rec, err := h.Recover(t.Context(), "news", StreamPosition{1, "e"})
	if err != nil || rec.Status != RecoveryDisabled {
		t.Fatalf("Recover: %+v, %v; want disabled", rec, err)
	}
	_, rec, err = h.Subscribe(t.Context(), "news", &recorder{}, SubscribeOptions{Recover: true})
	if err != nil || rec.Status != RecoveryDisabled || rec.Position != (StreamPosition{}) {
		t.Fatalf("Subscribe: %+v, %v; want disabled, zero position", rec, err)
	}
}

// TestSubscribeWithRecoveryRacesPublishes subscribes with recovery while a
// publisher runs. Each subscriber's recovered publications followed by its
// pushes after Start must be exactly the offsets after its position, once
// each and in order, whether or not the node was already subscribed.
func TestSubscribeWithRecoveryRacesPublishes(t *testing.T) {
	const total = 2000
	h := newTestHub(t, Options{Namespaces: chatHistory})
	ctx := t.Context()
	channels := []string{"chat:anchored", "chat:bare"}
	epochs := map[string]string{}
	for _, ch := range channels {
		_, pos, err := h.History(ctx, ch, HistoryOptions{Limit: PositionOnly})
		if err != nil {
			t.Fatal(err)
		}
		epochs[ch] = pos.Epoch
	}
	// An anchor keeps the node subscribed to one channel throughout; on the
	// other, late subscribers may be the first, making the node subscribe.
	subscribe(t, h, "chat:anchored", &recorder{}, SubscribeOptions{})

	published := make(chan uint64, total) // offsets as they are published
	var last atomic.Uint64                // newest offset published on channels[1]
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(published)
		defer last.Store(total + 10) // release waiters when done
		for range total {
			for _, ch := range channels {
				pos, err := h.Publish(context.Background(), ch, []byte(`1`), nil)
				if err != nil {
					t.Error(err)
					return
				}
				if ch == channels[0] {
					published <- pos.Offset
				} else {
					last.Store(pos.Offset)
				}
			}
		}
	})

	type result struct {
		channel string
		since   uint64
		rec     Recovery
		r       *recorder
	}
	var mu sync.Mutex
	var results []result
	// Subscribe at points spread through the publishing, paced by offsets
	// rather than by sleeping.
	for off := range published {
		if off%97 != 0 {
			continue
		}
		for _, ch := range channels {
			for _, since := range []uint64{0, off / 2} {
				wg.Go(func() {
					r := &recorder{}
					sub, rec, err := h.Subscribe(context.Background(), ch, r, SubscribeOptions{
						Recover: true, Since: StreamPosition{since, epochs[ch]},
					})
					if err != nil {
						t.Error(err)
						return
					}
					// Let a few publications arrive while held, so Start
					// must deliver them.
					for last.Load() < rec.Position.Offset+3 {
						runtime.Gosched()
					}
					if err := sub.Start(); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					results = append(results, result{ch, since, rec, r})
					mu.Unlock()
				})
			}
		}
	}
	wg.Wait()
	if len(results) < 40 {
		t.Fatalf("only %d subscriptions raced the publisher", len(results))
	}
	for _, res := range results {
		if !res.rec.Recovered() {
			t.Fatalf("%s from %d: recovery %v", res.channel, res.since, res.rec.Status)
		}
		got := append(pubOffsets(res.rec.Publications), res.r.offsets(res.channel)...)
		if want := seq(res.since+1, total); !slices.Equal(got, want) {
			t.Fatalf("%s from %d (recovered %d, then %d live): mismatch at index %d; want %d..%d exactly once",
				res.channel, res.since, len(res.rec.Publications), len(got)-len(res.rec.Publications),
				firstMismatch(got, want), res.since+1, total)
		}
	}
}

func TestClassify(t *testing.T) {
	pubs := func(offs ...uint64) []*Publication {
		var out []*Publication
		for _, o := range offs {
			out = append(out, &Publication{Offset: o})
		}
		return out
	}
	top := StreamPosition{10, "e"}
	tests := []struct {
		name  string
		since StreamPosition
		pubs  []*Publication
		want  RecoveryStatus
	}{
		{"complete", StreamPosition{7, "e"}, pubs(8, 9, 10), RecoveryOK},
		{"starts late", StreamPosition{6, "e"}, pubs(8, 9, 10), RecoveryTrimmed},
		{"ends early", StreamPosition{7, "e"}, pubs(8, 9), RecoveryTrimmed},
		{"empty but behind", StreamPosition{7, "e"}, nil, RecoveryTrimmed},
		{"at top", StreamPosition{10, "e"}, nil, RecoveryOK},
	}
	for _, tt := range tests {
		if got := classify(tt.since, tt.pubs, top).Status; got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
