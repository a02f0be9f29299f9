package hub

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

const (
	// lockStripes serialises publishing per channel without a lock object
	// per channel: channels hashing to the same stripe share one.
	lockStripes = 256
	// defaultStreamTTL is how long an idle stream keeps its position.
	defaultStreamTTL = 24 * time.Hour
	// sweepInterval is how often expired streams are dropped from memory;
	// expiry itself is checked on every access, so this bounds memory only.
	sweepInterval = time.Minute
)

// MemoryBrokerOptions configure a [MemoryBroker]. The zero value is ready
// to use.
type MemoryBrokerOptions struct {
	// StreamTTL is how long a stream's position (offset and epoch) outlives
	// its last publication, or the node's unsubscription from its channel,
	// when PublishOptions.HistoryMetaTTL is zero; while the node is
	// subscribed the stream is kept. After that the stream is forgotten and
	// the next one gets a new epoch. Zero means 24 hours.
	StreamTTL time.Duration
	// PresenceTTL is how long a presence entry lives unless added again;
	// zero means 60 seconds (see MemoryPresenceOptions.TTL).
	PresenceTTL time.Duration
	// Now returns the current time; nil means time.Now. Tests inject a clock.
	Now func() time.Time
}

// MemoryBroker is a [Broker] for a single node: streams and history live in
// this process and are lost when it exits (the next streams get new epochs,
// so clients see that recovery is impossible rather than wrong data).
//
// Publish delivers to the attached handler synchronously, before it returns,
// holding the channel's lock so that deliveries follow offset order.
type MemoryBroker struct {
	// Presence lives in the process too.
	*MemoryPresence

	now       func() time.Time
	streamTTL time.Duration
	seed      maphash.Seed
	locks     [lockStripes]sync.Mutex

	mu         sync.Mutex // guards the fields below and stream.expires
	handler    EventHandler
	streams    map[string]*stream
	subscribed map[string]struct{}
	nextSweep  time.Time
}

var _ Broker = (*MemoryBroker)(nil)

// NewMemoryBroker returns a MemoryBroker configured by opts.
func NewMemoryBroker(opts MemoryBrokerOptions) *MemoryBroker {
	b := &MemoryBroker{
		MemoryPresence: NewMemoryPresence(MemoryPresenceOptions{TTL: opts.PresenceTTL, Now: opts.Now}),
		now:            opts.Now,
		streamTTL:      opts.StreamTTL,
		seed:           maphash.MakeSeed(),
		streams:        make(map[string]*stream),
		subscribed:     make(map[string]struct{}),
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.streamTTL <= 0 {
		b.streamTTL = defaultStreamTTL
	}
	return b
}

// Attach implements [Broker]. A MemoryBroker serves one hub.
func (b *MemoryBroker) Attach(h EventHandler) error {
	if h == nil {
		return fmt.Errorf("%w: nil event handler", ErrInvalidOptions)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.handler != nil {
		return ErrBrokerAttached
	}
	b.handler = h
	return nil
}

func (b *MemoryBroker) lockFor(channel string) *sync.Mutex {
	return &b.locks[maphash.String(b.seed, channel)%lockStripes]
}

// Publish implements [Broker]. It copies data.
func (b *MemoryBroker) Publish(ctx context.Context, channel string, data []byte, opts PublishOptions) (StreamPosition, error) {
	if err := checkCall(ctx, channel); err != nil {
		return StreamPosition{}, fmt.Errorf("hub: publish to %q: %w", channel, err)
	}
	if opts.HistorySize < 0 || opts.HistoryTTL < 0 || opts.HistoryMetaTTL < 0 {
		return StreamPosition{}, fmt.Errorf("hub: publish to %q: %w: negative history size or TTL", channel, ErrInvalidOptions)
	}
	pub := &Publication{Channel: channel, Data: bytes.Clone(data), Info: opts.Info}
	pos, sweep := b.publish(channel, pub, opts)
	if sweep {
		b.sweep()
	}
	return pos, nil
}

func (b *MemoryBroker) publish(channel string, pub *Publication, opts PublishOptions) (StreamPosition, bool) {
	lk := b.lockFor(channel)
	lk.Lock()
	defer lk.Unlock()
	now := b.now()
	pub.Time = now

	b.mu.Lock()
	var s *stream
	if opts.HistorySize > 0 && opts.HistoryTTL > 0 {
		s = b.streamLocked(channel, now)
		meta := opts.HistoryMetaTTL
		if meta == 0 {
			meta = b.streamTTL
		}
		s.size, s.ttl = opts.HistorySize, opts.HistoryTTL
		s.keep = max(meta, opts.HistoryTTL)
		s.expires = now.Add(s.keep)
	}
	h := b.handlerLocked(channel)
	sweep := !now.Before(b.nextSweep)
	b.mu.Unlock()

	var pos StreamPosition
	if s != nil {
		s.top++
		pub.Offset, pub.Epoch = s.top, s.epoch
		s.hist.trimExpired(now.Add(-s.ttl))
		s.hist.push(pub, s.size)
		pos = s.position()
	}
	if h != nil {
		h.HandlePublication(channel, pub)
	}
	return pos, sweep
}

// streamLocked returns channel's live stream, creating it with a new epoch
// when it does not exist or has expired. A stream does not expire while
// this node is subscribed to its channel: its subscribers hold positions in
// it. b.mu must be held.
func (b *MemoryBroker) streamLocked(channel string, now time.Time) *stream {
	s := b.streams[channel]
	if s != nil && !now.Before(s.expires) {
		if _, listened := b.subscribed[channel]; listened {
			s.expires = now.Add(s.keepFor(b.streamTTL))
		} else {
			s = nil
		}
	}
	if s == nil {
		s = &stream{epoch: newEpoch(), expires: now.Add(b.streamTTL)}
		b.streams[channel] = s
	}
	return s
}

// handlerLocked returns the handler when this node is subscribed to channel.
func (b *MemoryBroker) handlerLocked(channel string) EventHandler {
	if _, ok := b.subscribed[channel]; ok {
		return b.handler
	}
	return nil
}

// PublishJoin implements [Broker].
func (b *MemoryBroker) PublishJoin(ctx context.Context, channel string, info *ClientInfo) error {
	return b.publishEvent(ctx, channel, info, true)
}

// PublishLeave implements [Broker].
func (b *MemoryBroker) PublishLeave(ctx context.Context, channel string, info *ClientInfo) error {
	return b.publishEvent(ctx, channel, info, false)
}

func (b *MemoryBroker) publishEvent(ctx context.Context, channel string, info *ClientInfo, join bool) error {
	if err := checkCall(ctx, channel); err != nil {
		return fmt.Errorf("hub: publish join/leave to %q: %w", channel, err)
	}
	lk := b.lockFor(channel)
	lk.Lock()
	defer lk.Unlock()
	b.mu.Lock()
	h := b.handlerLocked(channel)
	b.mu.Unlock()
	switch {
	case h == nil:
	case join:
		h.HandleJoin(channel, info)
	default:
		h.HandleLeave(channel, info)
	}
	return nil
}

// Subscribe implements [Broker].
func (b *MemoryBroker) Subscribe(ctx context.Context, channel string) error {
	if err := checkCall(ctx, channel); err != nil {
		return fmt.Errorf("hub: broker subscribe to %q: %w", channel, err)
	}
	b.mu.Lock()
	b.subscribed[channel] = struct{}{}
	b.mu.Unlock()
	return nil
}

// Unsubscribe implements [Broker]. The channel's stream then lives on for
// its usual time from now, so that subscribers who lost their connections
// can still recover when they come back.
func (b *MemoryBroker) Unsubscribe(ctx context.Context, channel string) error {
	now := b.now()
	b.mu.Lock()
	delete(b.subscribed, channel)
	// The stream was alive until now, whatever its expiry said.
	if s := b.streams[channel]; s != nil {
		if later := now.Add(s.keepFor(b.streamTTL)); later.After(s.expires) {
			s.expires = later
		}
	}
	b.mu.Unlock()
	return nil
}

// History implements [Broker]. The returned slice is the caller's; the
// publications in it are shared and read-only.
func (b *MemoryBroker) History(ctx context.Context, channel string, opts HistoryOptions) ([]*Publication, StreamPosition, error) {
	if err := checkCall(ctx, channel); err != nil {
		return nil, StreamPosition{}, fmt.Errorf("hub: history of %q: %w", channel, err)
	}
	lk := b.lockFor(channel)
	lk.Lock()
	defer lk.Unlock()
	now := b.now()
	b.mu.Lock()
	s := b.streamLocked(channel, now)
	b.mu.Unlock()
	if s.ttl > 0 {
		s.hist.trimExpired(now.Add(-s.ttl))
	}
	return s.read(opts), s.position(), nil
}

// RemoveHistory implements [Broker].
func (b *MemoryBroker) RemoveHistory(ctx context.Context, channel string) error {
	if err := checkCall(ctx, channel); err != nil {
		return fmt.Errorf("hub: remove history of %q: %w", channel, err)
	}
	lk := b.lockFor(channel)
	lk.Lock()
	defer lk.Unlock()
	b.mu.Lock()
	s := b.streams[channel]
	b.mu.Unlock()
	if s != nil {
		s.hist.clear()
	}
	return nil
}

// sweep forgets expired streams, at most once per sweepInterval.
func (b *MemoryBroker) sweep() {
	now := b.now()
	b.mu.Lock()
	if now.Before(b.nextSweep) {
		b.mu.Unlock()
		return
	}
	b.nextSweep = now.Add(sweepInterval)
	var expired []string
	for name, s := range b.streams {
		if _, listened := b.subscribed[name]; !listened && !now.Before(s.expires) {
			expired = append(expired, name)
		}
	}
	b.mu.Unlock()
	for _, name := range expired {
		lk := b.lockFor(name)
		lk.Lock()
		b.mu.Lock()
		_, listened := b.subscribed[name]
		if s := b.streams[name]; s != nil && !listened && !now.Before(s.expires) {
			delete(b.streams, name)
		}
		b.mu.Unlock()
		lk.Unlock()
	}
}

// numStreams reports how many streams are in memory (for tests).
func (b *MemoryBroker) numStreams() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.streams)
}

func checkCall(ctx context.Context, channel string) error {
	if channel == "" {
		return ErrInvalidChannel
	}
	return ctx.Err()
}

// newEpoch returns a random epoch, so that a stream created after a restart
// never reuses the offsets of an earlier one.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails since Go 1.24
	return hex.EncodeToString(b[:])
}
