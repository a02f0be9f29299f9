package hub

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// shardCount spreads the channel registry over several locks.
	shardCount = 64
	// defaultMaxHeld bounds the pushes held for a subscription before Start.
	defaultMaxHeld = 4096
	// defaultPresenceRefresh is a third of the memory presence TTL, so an
	// entry survives two missed refreshes.
	defaultPresenceRefresh = 20 * time.Second
)

// Options configure a [Hub]. The zero value is a single-node hub with the
// memory broker, memory presence, and only the default namespace.
type Options struct {
	// Broker carries publications and keeps history; nil means a new
	// MemoryBroker. A broker serves one hub.
	Broker Broker
	// Presence keeps channel presence; nil means the broker's.
	Presence PresenceManager
	// Namespaces maps a namespace name (the part of a channel name before
	// ":") to its options. Channels of other namespaces are refused with
	// ErrUnknownNamespace.
	Namespaces map[string]NamespaceOptions
	// Default configures channels without a namespace, such as "news".
	Default NamespaceOptions
	// PresenceRefresh is how often the hub adds its subscribers' presence
	// entries again so they do not expire; zero means 20 seconds, negative
	// disables the refresh (call RefreshPresence yourself). The refresh runs
	// in a goroutine only when some namespace has Presence; Close stops it.
	PresenceRefresh time.Duration
	// MaxHeld bounds the pushes held for one subscription between Subscribe
	// and Subscription.Start; zero means 4096.
	MaxHeld int
	// Logger receives errors of background work (presence refresh); nil
	// means slog.Default().
	Logger *slog.Logger
}

// Hub is the registry of channels and their local subscribers. It fans the
// events a Broker delivers out to those subscribers. All methods are safe
// for concurrent use.
type Hub struct {
	broker     Broker
	presence   PresenceManager
	namespaces map[string]NamespaceOptions
	def        NamespaceOptions
	maxHeld    int
	log        *slog.Logger

	seed   maphash.Seed
	shards [shardCount]shard

	delivered atomic.Uint64
	dropped   atomic.Uint64

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

// New returns a Hub configured by opts and attaches it to the broker.
func New(opts Options) (*Hub, error) {
	h := &Hub{
		broker:     opts.Broker,
		presence:   opts.Presence,
		namespaces: make(map[string]NamespaceOptions, len(opts.Namespaces)),
		def:        opts.Default,
		maxHeld:    opts.MaxHeld,
		log:        opts.Logger,
		seed:       maphash.MakeSeed(),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	if err := h.def.validate(""); err != nil {
		return nil, fmt.Errorf("hub: default namespace: %w", err)
	}
	presence := h.def.Presence
	for name, ns := range opts.Namespaces {
		if name == "" {
			return nil, fmt.Errorf("%w: configure the namespace \"\" through Options.Default", ErrInvalidOptions)
		}
		if err := ns.validate(name); err != nil {
			return nil, err
		}
		h.namespaces[name] = ns
		presence = presence || ns.Presence
	}
	if h.broker == nil {
		h.broker = NewMemoryBroker(MemoryBrokerOptions{})
	}
	if h.presence == nil {
		h.presence = h.broker
	}
	if h.maxHeld <= 0 {
		h.maxHeld = defaultMaxHeld
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	for i := range h.shards {
		h.shards[i].channels = make(map[string]*channel)
	}
	if err := h.broker.Attach(events{h}); err != nil {
		return nil, fmt.Errorf("hub: attach broker: %w", err)
	}
	refresh := opts.PresenceRefresh
	if refresh == 0 {
		refresh = defaultPresenceRefresh
	}
	if presence && refresh > 0 {
		go h.refreshLoop(refresh)
	} else {
		close(h.done)
	}
	return h, nil
}

// Close stops the hub's background work and refuses new subscriptions and
// publications. Existing subscribers are left in place: the server closes
// its sessions, which unsubscribe. The broker is not closed.
func (h *Hub) Close() error {
	h.closeOnce.Do(func() {
		h.closed.Store(true)
		close(h.stop)
	})
	<-h.done
	return nil
}

// Broker returns the hub's broker.
func (h *Hub) Broker() Broker { return h.broker }

// Namespace returns the options of channel's namespace.
func (h *Hub) Namespace(channel string) (NamespaceOptions, error) {
	if channel == "" {
		return NamespaceOptions{}, ErrInvalidChannel
	}
	name := NamespaceOf(channel)
	if name == "" {
		return h.def, nil
	}
	ns, ok := h.namespaces[name]
	if !ok {
		return NamespaceOptions{}, fmt.Errorf("%w: %q (channel %q)", ErrUnknownNamespace, name, channel)
	}
	return ns, nil
}

// Publish publishes data (opaque JSON, copied) into channel, with info
// describing the publisher (optional), and returns the publication's stream
// position (zero when the namespace keeps no history). Local subscribers
// receive it through the broker, like those of other nodes. Permission
// checks are the caller's.
func (h *Hub) Publish(ctx context.Context, channel string, data []byte, info *ClientInfo) (StreamPosition, error) {
	if h.closed.Load() {
		return StreamPosition{}, ErrClosed
	}
	ns, err := h.Namespace(channel)
	if err != nil {
		return StreamPosition{}, err
	}
	pos, err := h.broker.Publish(ctx, channel, data, PublishOptions{
		Info:           info,
		HistorySize:    ns.HistorySize,
		HistoryTTL:     ns.HistoryTTL,
		HistoryMetaTTL: ns.HistoryMetaTTL,
	})
	if err != nil {
		return StreamPosition{}, fmt.Errorf("hub: publish to %q: %w", channel, err)
	}
	return pos, nil
}

// History returns publications of channel and its current position, as
// HistoryOptions select them. It fails with ErrHistoryDisabled when the
// namespace keeps no history.
func (h *Hub) History(ctx context.Context, channel string, opts HistoryOptions) ([]*Publication, StreamPosition, error) {
	ns, err := h.Namespace(channel)
	if err != nil {
		return nil, StreamPosition{}, err
	}
	if !ns.HistoryEnabled() {
		return nil, StreamPosition{}, fmt.Errorf("%w (channel %q)", ErrHistoryDisabled, channel)
	}
	pubs, pos, err := h.broker.History(ctx, channel, opts)
	if err != nil {
		return nil, StreamPosition{}, fmt.Errorf("hub: history of %q: %w", channel, err)
	}
	return pubs, pos, nil
}

// Presence returns who is subscribed to channel, on every node, keyed by
// client id. It fails with ErrPresenceDisabled when the namespace does not
// track presence.
func (h *Hub) Presence(ctx context.Context, channel string) (map[string]*ClientInfo, error) {
	if err := h.checkPresence(channel); err != nil {
		return nil, err
	}
	return h.presence.Presence(ctx, channel)
}

// PresenceStats counts the clients and users subscribed to channel.
func (h *Hub) PresenceStats(ctx context.Context, channel string) (PresenceStats, error) {
	if err := h.checkPresence(channel); err != nil {
		return PresenceStats{}, err
	}
	return h.presence.PresenceStats(ctx, channel)
}

func (h *Hub) checkPresence(channel string) error {
	ns, err := h.Namespace(channel)
	if err != nil {
		return err
	}
	if !ns.Presence {
		return fmt.Errorf("%w (channel %q)", ErrPresenceDisabled, channel)
	}
	return nil
}

// RefreshPresence adds the presence entries of every local subscriber
// again, so that they do not expire. The hub calls it every
// Options.PresenceRefresh; call it yourself when that is negative.
func (h *Hub) RefreshPresence(ctx context.Context) error {
	var errs []error
	for _, r := range h.presenceEntries() {
		if err := h.presence.AddPresence(ctx, r.channel, r.e.info); err != nil {
			errs = append(errs, err)
			continue
		}
		// The subscriber may have left while we refreshed; take its entry
		// out again rather than leave it until it expires.
		if r.e.removed.Load() {
			if err := h.presence.RemovePresence(ctx, r.channel, r.e.info.Client); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (h *Hub) refreshLoop(every time.Duration) {
	defer close(h.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), every)
			if err := h.RefreshPresence(ctx); err != nil {
				h.log.Warn("hub: presence refresh failed; entries may expire until the next refresh", "err", err)
			}
			cancel()
		}
	}
}

// Stats is a snapshot of the hub's counters.
type Stats struct {
	// Channels with at least one local subscriber.
	Channels int
	// Subscriptions across all channels.
	Subscriptions int
	// Delivered counts pushes subscribers accepted.
	Delivered uint64
	// Dropped counts pushes subscribers refused (Deliver returned false).
	Dropped uint64
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	s := Stats{Delivered: h.delivered.Load(), Dropped: h.dropped.Load()}
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for _, ch := range sh.channels {
			if n := ch.len(); n > 0 {
				s.Channels++
				s.Subscriptions += n
			}
		}
		sh.mu.RUnlock()
	}
	return s
}

// NumSubscribers returns the number of local subscribers of channel.
func (h *Hub) NumSubscribers(channel string) int {
	if ch := h.lookup(channel); ch != nil {
		return ch.len()
	}
	return 0
}
