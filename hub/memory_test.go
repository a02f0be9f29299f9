package hub

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// sink is an EventHandler that records what a broker delivers.
type sink struct {
	mu     sync.Mutex
	pubs   []*Publication
	events []string
}

func (s *sink) HandlePublication(_ string, p *Publication) {
	s.mu.Lock()
	s.pubs = append(s.pubs, p)
	s.mu.Unlock()
}
func (s *sink) HandleJoin(ch string, i *ClientInfo)  { s.event("join " + ch + " " + i.Client) }
func (s *sink) HandleLeave(ch string, i *ClientInfo) { s.event("leave " + ch + " " + i.Client) }
func (s *sink) HandleLost(ch string)                 { s.event("lost " + ch) }
func (s *sink) event(e string) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
}

func newTestBroker(t *testing.T, clock *fakeClock) (*MemoryBroker, *sink) {
	t.Helper()
	b := NewMemoryBroker(MemoryBrokerOptions{Now: clock.Now})
	s := &sink{}
	if err := b.Attach(s); err != nil {
		t.Fatal(err)
	}
	return b, s
}

var historyOpts = PublishOptions{HistorySize: 3, HistoryTTL: time.Minute}

func TestMemoryBrokerOffsetsAndHistorySize(t *testing.T) {
	b, _ := newTestBroker(t, newFakeClock())
	ctx := t.Context()
	var epoch string
	for i := uint64(1); i <= 5; i++ {
		pos, err := b.Publish(ctx, "a", []byte(`1`), historyOpts)
		if err != nil {
			t.Fatal(err)
		}
		if pos.Offset != i {
			t.Fatalf("publication %d got offset %d", i, pos.Offset)
		}
		if epoch == "" {
			epoch = pos.Epoch
		}
		if pos.Epoch != epoch || epoch == "" {
			t.Fatalf("epoch %q changed to %q", epoch, pos.Epoch)
		}
	}
	pubs, pos, err := b.History(ctx, "a", HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := pubOffsets(pubs); !slices.Equal(got, []uint64{3, 4, 5}) || pos.Offset != 5 || pos.Epoch != epoch {
		t.Fatalf("history %v at %+v, want [3 4 5] at offset 5", got, pos)
	}
	// Another channel has its own offsets and epoch.
	other, _ := b.Publish(ctx, "b", nil, historyOpts)
	if other.Offset != 1 || other.Epoch == epoch {
		t.Fatalf("channel b position %+v shares channel a's stream", other)
	}
}

func TestMemoryBrokerWithoutHistory(t *testing.T) {
	b, s := newTestBroker(t, newFakeClock())
	ctx := t.Context()
	if err := b.Subscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	pos, err := b.Publish(ctx, "a", []byte(`1`), PublishOptions{})
	if err != nil || pos != (StreamPosition{}) {
		t.Fatalf("Publish without history = %+v, %v; want zero position", pos, err)
	}
	if len(s.pubs) != 1 || s.pubs[0].Offset != 0 {
		t.Fatalf("delivered %v", s.pubs)
	}
	if n := b.numStreams(); n != 0 {
		t.Fatalf("publishing without history created %d streams", n)
	}
}

func TestMemoryBrokerDeliversOnlyWhileSubscribed(t *testing.T) {
	b, s := newTestBroker(t, newFakeClock())
	ctx := t.Context()
	data := []byte(`"x"`)
	mustPublish := func() {
		if _, err := b.Publish(ctx, "a", data, historyOpts); err != nil {
			t.Fatal(err)
		}
	}
	mustPublish()
	_ = b.Subscribe(ctx, "a")
	mustPublish()
	data[1] = 'y' // the broker must have copied the payload
	info := &ClientInfo{Client: "c1"}
	_ = b.PublishJoin(ctx, "a", info)
	_ = b.Unsubscribe(ctx, "a")
	mustPublish()
	_ = b.PublishLeave(ctx, "a", info)
	if got := pubOffsets(s.pubs); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("delivered offsets %v, want [2]", got)
	}
	if string(s.pubs[0].Data) != `"x"` {
		t.Fatalf("delivered data %s, want the bytes at publish time", s.pubs[0].Data)
	}
	if !slices.Equal(s.events, []string{"join a c1"}) {
		t.Fatalf("events %v, want only the join sent while subscribed", s.events)
	}
}

func TestMemoryBrokerHistoryTTLAndStreamExpiry(t *testing.T) {
	clock := newFakeClock()
	b, _ := newTestBroker(t, clock)
	ctx := t.Context()
	opts := PublishOptions{HistorySize: 10, HistoryTTL: 10 * time.Second, HistoryMetaTTL: time.Minute}
	first, _ := b.Publish(ctx, "a", nil, opts)
	clock.Advance(5 * time.Second)
	_, _ = b.Publish(ctx, "a", nil, opts)

	steps := []struct {
		advance    time.Duration
		want       []uint64
		wantOffset uint64
		newEpoch   bool
	}{
		{4 * time.Second, []uint64{1, 2}, 2, false},       // t=9s
		{time.Second, []uint64{2}, 2, false},              // t=10s: first is 10s old
		{5 * time.Second, nil, 2, false},                  // t=15s: history empty, position kept
		{50*time.Second - time.Nanosecond, nil, 2, false}, // t=65s-1ns: just before meta TTL after the last publication
		{time.Nanosecond, nil, 0, true},                   // t=65s: stream forgotten
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		pubs, pos, err := b.History(ctx, "a", HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := pubOffsets(pubs); !slices.Equal(got, st.want) || pos.Offset != st.wantOffset || (pos.Epoch != first.Epoch) != st.newEpoch {
			t.Fatalf("step %d: history %v at %+v; want %v at offset %d, new epoch %v (first epoch %q)",
				i, got, pos, st.want, st.wantOffset, st.newEpoch, first.Epoch)
		}
	}
}

// TestMemoryBrokerKeepsStreamWhileSubscribed: a channel's stream keeps its
// epoch however long it stays quiet while this node listens to it, and for
// its usual time after the node stops listening, so that subscribers can
// recover even from a quiet channel.
func TestMemoryBrokerKeepsStreamWhileSubscribed(t *testing.T) {
	clock := newFakeClock()
	b, _ := newTestBroker(t, clock)
	ctx := t.Context()
	opts := PublishOptions{HistorySize: 10, HistoryTTL: 10 * time.Second, HistoryMetaTTL: time.Minute}
	if err := b.Subscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	first, _ := b.Publish(ctx, "a", nil, opts)
	position := func() StreamPosition {
		t.Helper()
		_, pos, err := b.History(ctx, "a", HistoryOptions{Limit: PositionOnly})
		if err != nil {
			t.Fatal(err)
		}
		return pos
	}
	for range 3 { // three hours without a publication, far past the minute
		clock.Advance(time.Hour)
		if pos := position(); pos != first {
			t.Fatalf("position %+v while subscribed, want %+v", pos, first)
		}
		clock.Advance(2 * sweepInterval)
		_, _ = b.Publish(ctx, "other", nil, opts) // runs the sweeper
	}
	if err := b.Unsubscribe(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute - time.Second)
	if pos := position(); pos != first {
		t.Fatalf("position %+v just after the node unsubscribed, want %+v", pos, first)
	}
	clock.Advance(time.Second)
	if pos := position(); pos.Epoch == first.Epoch {
		t.Fatalf("position %+v a minute after the node unsubscribed: want a new epoch", pos)
	}
}

func TestMemoryBrokerSweepDropsExpiredStreams(t *testing.T) {
	clock := newFakeClock()
	b, _ := newTestBroker(t, clock)
	ctx := t.Context()
	opts := PublishOptions{HistorySize: 1, HistoryTTL: time.Second, HistoryMetaTTL: time.Second}
	_, _ = b.Publish(ctx, "old", nil, opts)
	if n := b.numStreams(); n != 1 {
		t.Fatalf("%d streams, want 1", n)
	}
	clock.Advance(2 * sweepInterval)
	_, _ = b.Publish(ctx, "new", nil, opts)
	if n := b.numStreams(); n != 1 {
		t.Fatalf("after sweep %d streams, want only the new one", n)
	}
}

func TestMemoryBrokerRemoveHistoryKeepsPosition(t *testing.T) {
	b, _ := newTestBroker(t, newFakeClock())
	ctx := t.Context()
	_, _ = b.Publish(ctx, "a", nil, historyOpts)
	last, _ := b.Publish(ctx, "a", nil, historyOpts)
	if err := b.RemoveHistory(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	pubs, pos, _ := b.History(ctx, "a", HistoryOptions{})
	if len(pubs) != 0 || pos != last {
		t.Fatalf("after RemoveHistory: %d publications at %+v, want none at %+v", len(pubs), pos, last)
	}
}

func TestMemoryBrokerErrors(t *testing.T) {
	b, _ := newTestBroker(t, newFakeClock())
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"second attach", b.Attach(&sink{}), ErrBrokerAttached},
		{"empty channel", func() error { _, err := b.Publish(t.Context(), "", nil, PublishOptions{}); return err }(), ErrInvalidChannel},
		{"negative size", func() error {
			_, err := b.Publish(t.Context(), "a", nil, PublishOptions{HistorySize: -1})
			return err
		}(), ErrInvalidOptions},
		{"cancelled", func() error { _, _, err := b.History(cancelled, "a", HistoryOptions{}); return err }(), context.Canceled},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, tt.err, tt.want)
		}
	}
}
