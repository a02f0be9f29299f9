package hub

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand, so expiry is asserted without
// sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder is a Subscriber that keeps what it is given, or refuses
// everything while full is set.
type recorder struct {
	full   atomic.Bool
	mu     sync.Mutex
	pushes []*Push
}

func (r *recorder) Deliver(p *Push) bool {
	if r.full.Load() {
		return false
	}
	r.mu.Lock()
	r.pushes = append(r.pushes, p)
	r.mu.Unlock()
	return true
}

func (r *recorder) all() []*Push {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pushes)
}

// offsets returns the offsets of the publications received for channel.
func (r *recorder) offsets(channel string) []uint64 {
	var out []uint64
	for _, p := range r.all() {
		if p.Kind == PushPublication && p.Channel == channel {
			out = append(out, p.Publication.Offset)
		}
	}
	return out
}

// data returns the payloads of the publications received, as strings.
func (r *recorder) data() []string {
	var out []string
	for _, p := range r.all() {
		if p.Kind == PushPublication {
			out = append(out, string(p.Publication.Data))
		}
	}
	return out
}

func pubOffsets(pubs []*Publication) []uint64 {
	var out []uint64
	for _, p := range pubs {
		out = append(out, p.Offset)
	}
	return out
}

// seq returns from, from+1, ..., to (nil when to < from).
func seq(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// newTestHub returns a hub closed at the end of the test, with presence
// refresh left to the test.
func newTestHub(t testing.TB, opts Options) *Hub {
	t.Helper()
	if opts.PresenceRefresh == 0 {
		opts.PresenceRefresh = -1
	}
	h, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// subscribe subscribes and starts, failing the test on error.
func subscribe(t testing.TB, h *Hub, channel string, s Subscriber, opts SubscribeOptions) (*Subscription, Recovery) {
	t.Helper()
	sub, rec, err := h.Subscribe(t.Context(), channel, s, opts)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", channel, err)
	}
	if err := sub.Start(); err != nil {
		t.Fatalf("Start(%q): %v", channel, err)
	}
	return sub, rec
}

func publish(t testing.TB, h *Hub, channel, data string) StreamPosition {
	t.Helper()
	pos, err := h.Publish(t.Context(), channel, []byte(data), nil)
	if err != nil {
		t.Fatalf("Publish(%q): %v", channel, err)
	}
	return pos
}
