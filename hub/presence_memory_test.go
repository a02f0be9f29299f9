package hub

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"
)

func TestMemoryPresence(t *testing.T) {
	clock := newFakeClock()
	p := NewMemoryPresence(MemoryPresenceOptions{TTL: 30 * time.Second, Now: clock.Now})
	ctx := t.Context()
	clients := func() []string {
		t.Helper()
		m, err := p.Presence(ctx, "room")
		if err != nil {
			t.Fatal(err)
		}
		return slices.Sorted(maps.Keys(m))
	}
	add := func(user, client string) {
		t.Helper()
		if err := p.AddPresence(ctx, "room", &ClientInfo{User: user, Client: client}); err != nil {
			t.Fatal(err)
		}
	}

	add("alice", "c1")
	add("alice", "c2")
	clock.Advance(10 * time.Second)
	add("bob", "c3")
	if got := clients(); !slices.Equal(got, []string{"c1", "c2", "c3"}) {
		t.Fatalf("presence %v", got)
	}
	if st, _ := p.PresenceStats(ctx, "room"); st != (PresenceStats{Clients: 3, Users: 2}) {
		t.Fatalf("stats %+v, want 3 clients, 2 users", st)
	}
	if err := p.RemovePresence(ctx, "room", "c2"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	add("alice", "c1")              // refresh: now expires at 50s
	clock.Advance(10 * time.Second) // t=30s: c3 added at 10s is still there, c1 refreshed
	if got := clients(); !slices.Equal(got, []string{"c1", "c3"}) {
		t.Fatalf("at 30s presence %v, want [c1 c3]", got)
	}
	clock.Advance(10 * time.Second) // t=40s: c3 expired at 40s
	if got := clients(); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("at 40s presence %v, want [c1]", got)
	}
	clock.Advance(10 * time.Second) // t=50s: c1 expired
	if got := clients(); len(got) != 0 {
		t.Fatalf("at 50s presence %v, want none", got)
	}
	if err := p.AddPresence(ctx, "room", &ClientInfo{User: "x"}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("AddPresence without client id: %v, want ErrInvalidOptions", err)
	}
}

func TestMemoryPresenceReturnsCopies(t *testing.T) {
	p := NewMemoryPresence(MemoryPresenceOptions{})
	ctx := t.Context()
	info := &ClientInfo{User: "u", Client: "c"}
	_ = p.AddPresence(ctx, "room", info)
	info.User = "changed"
	m, _ := p.Presence(ctx, "room")
	m["c"].User = "changed too"
	again, _ := p.Presence(ctx, "room")
	if again["c"].User != "u" {
		t.Fatalf("stored entry changed to %q through a caller's pointer", again["c"].User)
	}
}
