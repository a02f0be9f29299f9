package hub

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// shard is one slice of the channel registry.
type shard struct {
	mu       sync.RWMutex
	channels map[string]*channel
}

// channel holds the local subscribers of one channel.
//
// Lock order: shard.mu, then channel.mu, then entry.mu. brokerMu is taken
// before any of them and held across broker Subscribe/Unsubscribe calls, so
// that those calls for one channel never overtake each other; no hub lock is
// held while calling the broker otherwise.
type channel struct {
	name string

	mu    sync.RWMutex // fan-out holds it for reading
	subs  []*entry
	index map[Subscriber]int

	brokerMu         sync.Mutex
	brokerSubscribed bool
}

func (ch *channel) len() int {
	ch.mu.RLock()
	defer ch.mu.RUnlock()
	return len(ch.subs)
}

// entry is one subscriber's membership of one channel.
type entry struct {
	sub       Subscriber
	info      *ClientInfo
	presence  bool // its presence entry is maintained
	joinLeave bool // join and leave events are published for it

	live    atomic.Bool // pushes go straight to Deliver
	removed atomic.Bool

	mu       sync.Mutex // guards the fields below, and the switch to live
	held     []*Push
	overflow bool
	lost     bool           // a PushLost arrived while held
	after    StreamPosition // held publications at or before it are skipped
}

func (h *Hub) shardFor(name string) *shard {
	return &h.shards[maphash.String(h.seed, name)%shardCount]
}

func (h *Hub) lookup(name string) *channel {
	sh := h.shardFor(name)
	sh.mu.RLock()
	ch := sh.channels[name]
	sh.mu.RUnlock()
	return ch
}

// add registers e in channel name, creating the channel if needed. e is held
// (not live) until its subscription starts.
func (h *Hub) add(name string, e *entry) (*channel, error) {
	sh := h.shardFor(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ch := sh.channels[name]
	if ch == nil {
		ch = &channel{name: name, index: make(map[Subscriber]int)}
		sh.channels[name] = ch
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if _, ok := ch.index[e.sub]; ok {
		return nil, fmt.Errorf("%w (channel %q)", ErrAlreadySubscribed, name)
	}
	ch.index[e.sub] = len(ch.subs)
	ch.subs = append(ch.subs, e)
	return ch, nil
}

// remove takes e out of ch. Once it returns, e receives no more pushes.
func (ch *channel) remove(e *entry) (removed, empty bool) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	i, ok := ch.index[e.sub]
	if !ok || ch.subs[i] != e {
		return false, len(ch.subs) == 0
	}
	last := len(ch.subs) - 1
	ch.subs[i] = ch.subs[last]
	ch.index[ch.subs[i].sub] = i
	ch.subs[last] = nil
	ch.subs = ch.subs[:last]
	delete(ch.index, e.sub)
	e.mu.Lock()
	e.removed.Store(true)
	e.held = nil
	e.mu.Unlock()
	return true, last == 0
}

// subscribeBroker makes sure this node receives ch's events.
func (h *Hub) subscribeBroker(ctx context.Context, ch *channel) error {
	ch.brokerMu.Lock()
	defer ch.brokerMu.Unlock()
	if ch.brokerSubscribed {
		return nil
	}
	if err := h.broker.Subscribe(ctx, ch.name); err != nil {
		return fmt.Errorf("hub: subscribe node to %q: %w", ch.name, err)
	}
	ch.brokerSubscribed = true
	return nil
}

// release unsubscribes the node from ch and forgets ch, if ch has no
// subscriber left. A channel whose broker unsubscription failed stays
// registered, so the next subscriber reuses its broker subscription rather
// than creating a second one.
func (h *Hub) release(ctx context.Context, ch *channel) error {
	ch.brokerMu.Lock()
	defer ch.brokerMu.Unlock()
	if ch.len() > 0 {
		return nil
	}
	if ch.brokerSubscribed {
		if err := h.broker.Unsubscribe(ctx, ch.name); err != nil {
			return fmt.Errorf("hub: unsubscribe node from %q: %w", ch.name, err)
		}
		ch.brokerSubscribed = false
	}
	sh := h.shardFor(ch.name)
	sh.mu.Lock()
	if sh.channels[ch.name] == ch && ch.len() == 0 {
		delete(sh.channels, ch.name)
	}
	sh.mu.Unlock()
	return nil
}

type presenceRef struct {
	channel string
	e       *entry
}

// presenceEntries lists the local entries whose presence is maintained.
func (h *Hub) presenceEntries() []presenceRef {
	var out []presenceRef
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for name, ch := range sh.channels {
			ch.mu.RLock()
			for _, e := range ch.subs {
				if e.presence {
					out = append(out, presenceRef{channel: name, e: e})
				}
			}
			ch.mu.RUnlock()
		}
		sh.mu.RUnlock()
	}
	return out
}
