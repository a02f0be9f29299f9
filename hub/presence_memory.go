package hub

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// defaultPresenceTTL is how long a presence entry lives without a refresh.
const defaultPresenceTTL = time.Minute

// MemoryPresenceOptions configure a [MemoryPresence]. The zero value is
// ready to use.
type MemoryPresenceOptions struct {
	// TTL is how long an entry lives unless added again. Zero means one
	// minute. Keep Options.PresenceRefresh well below it.
	TTL time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// MemoryPresence is a [PresenceManager] for a single node.
type MemoryPresence struct {
	ttl time.Duration
	now func() time.Time

	mu        sync.Mutex
	channels  map[string]map[string]presenceEntry
	nextSweep time.Time
}

type presenceEntry struct {
	info    *ClientInfo
	expires time.Time
}

var _ PresenceManager = (*MemoryPresence)(nil)

// NewMemoryPresence returns a MemoryPresence configured by opts.
func NewMemoryPresence(opts MemoryPresenceOptions) *MemoryPresence {
	p := &MemoryPresence{ttl: opts.TTL, now: opts.Now, channels: make(map[string]map[string]presenceEntry)}
	if p.ttl <= 0 {
		p.ttl = defaultPresenceTTL
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// AddPresence implements [PresenceManager]. It keeps a copy of *info.
func (p *MemoryPresence) AddPresence(ctx context.Context, channel string, info *ClientInfo) error {
	if err := checkCall(ctx, channel); err != nil {
		return fmt.Errorf("hub: add presence to %q: %w", channel, err)
	}
	if info == nil || info.Client == "" {
		return fmt.Errorf("hub: add presence to %q: %w: ClientInfo.Client is required", channel, ErrInvalidOptions)
	}
	now := p.now()
	c := *info
	p.mu.Lock()
	defer p.mu.Unlock()
	entries := p.channels[channel]
	if entries == nil {
		entries = make(map[string]presenceEntry)
		p.channels[channel] = entries
	}
	entries[info.Client] = presenceEntry{info: &c, expires: now.Add(p.ttl)}
	if !now.Before(p.nextSweep) {
		p.nextSweep = now.Add(sweepInterval)
		for name, entries := range p.channels {
			p.expireLocked(name, entries, now)
		}
	}
	return nil
}

// RemovePresence implements [PresenceManager].
func (p *MemoryPresence) RemovePresence(ctx context.Context, channel, client string) error {
	if err := checkCall(ctx, channel); err != nil {
		return fmt.Errorf("hub: remove presence from %q: %w", channel, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if entries := p.channels[channel]; entries != nil {
		delete(entries, client)
		if len(entries) == 0 {
			delete(p.channels, channel)
		}
	}
	return nil
}

// Presence implements [PresenceManager]. The returned entries are copies.
func (p *MemoryPresence) Presence(ctx context.Context, channel string) (map[string]*ClientInfo, error) {
	if err := checkCall(ctx, channel); err != nil {
		return nil, fmt.Errorf("hub: presence of %q: %w", channel, err)
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	entries := p.channels[channel]
	p.expireLocked(channel, entries, now)
	out := make(map[string]*ClientInfo, len(entries))
	for id, e := range entries {
		c := *e.info
		out[id] = &c
	}
	return out, nil
}

// PresenceStats implements [PresenceManager].
func (p *MemoryPresence) PresenceStats(ctx context.Context, channel string) (PresenceStats, error) {
	if err := checkCall(ctx, channel); err != nil {
		return PresenceStats{}, fmt.Errorf("hub: presence stats of %q: %w", channel, err)
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	entries := p.channels[channel]
	p.expireLocked(channel, entries, now)
	users := make(map[string]struct{}, len(entries))
	for _, e := range entries {
		users[e.info.User] = struct{}{}
	}
	return PresenceStats{Clients: len(entries), Users: len(users)}, nil
}

func (p *MemoryPresence) expireLocked(channel string, entries map[string]presenceEntry, now time.Time) {
	for id, e := range entries {
		if !now.Before(e.expires) {
			delete(entries, id)
		}
	}
	if entries != nil && len(entries) == 0 {
		delete(p.channels, channel)
	}
}
