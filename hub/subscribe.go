package hub

import (
	"context"
	"errors"
	"fmt"
)

// Subscriber receives the pushes of the channels it subscribes to. The
// server implements it, typically by putting the push on a connection's
// bounded send queue. Subscriber values are map keys: use a pointer or
// another comparable type.
type Subscriber interface {
	// Deliver hands p to the subscriber, in channel order. It must not block
	// and must not call the Hub or its Broker: it runs inside the fan-out,
	// which may hold locks. It returns false when the subscriber cannot take
	// p (its queue is full); the hub counts the drop and goes on, and the
	// subscriber applies its own slow-consumer policy (drop, or close the
	// connection from another goroutine). p is shared with every other
	// subscriber: read it, do not modify it.
	Deliver(p *Push) bool
}

// SubscribeOptions configure one subscription.
type SubscribeOptions struct {
	// Info describes the subscribing client. With Info.Client set, the
	// client appears in the channel's presence when the namespace has
	// Presence; with Info set, join and leave pushes are sent when the
	// namespace has JoinLeave.
	Info *ClientInfo
	// Recover asks for the publications after Since, which the client saw
	// last before it lost its connection.
	Recover bool
	// Since is the client's last position; used when Recover is set.
	Since StreamPosition
}

// Subscription is a subscriber's membership of one channel, returned by
// Hub.Subscribe.
type Subscription struct {
	h  *Hub
	ch *channel
	e  *entry
}

// Channel returns the subscription's channel.
func (s *Subscription) Channel() string { return s.ch.name }

// Subscribe subscribes s to channel and returns the subscription together
// with the stream position it starts from and, when opts.Recover is set, the
// outcome of recovery with the missed publications.
//
// The subscription starts held: pushes that arrive are kept, not delivered,
// so the caller can first send its reply (carrying Recovery.Publications).
// The caller must then call Start, which delivers the held pushes that are
// newer than Recovery.Position and then delivers live. Together, the
// recovered publications and the pushes after Start contain every
// publication after opts.Since exactly once, in order, however publishes
// race with the subscription.
//
// Permission checks are the caller's. On error nothing is left subscribed.
func (h *Hub) Subscribe(ctx context.Context, channel string, s Subscriber, opts SubscribeOptions) (*Subscription, Recovery, error) {
	if h.closed.Load() {
		return nil, Recovery{}, ErrClosed
	}
	if s == nil {
		return nil, Recovery{}, fmt.Errorf("%w: nil Subscriber", ErrInvalidOptions)
	}
	ns, err := h.Namespace(channel)
	if err != nil {
		return nil, Recovery{}, err
	}
	e := &entry{
		sub:       s,
		info:      opts.Info,
		presence:  ns.Presence && opts.Info != nil && opts.Info.Client != "",
		joinLeave: ns.JoinLeave && opts.Info != nil,
	}
	// Register first, so that no publication the broker delivers from now on
	// is missed; the position is read afterwards and held pushes at or before
	// it are skipped by Start.
	ch, err := h.add(channel, e)
	if err != nil {
		return nil, Recovery{}, err
	}
	sub := &Subscription{h: h, ch: ch, e: e}
	var presenceAdded, joined bool
	fail := func(err error) (*Subscription, Recovery, error) {
		// Undo with a context that outlives a cancelled ctx.
		_ = h.detach(context.WithoutCancel(ctx), ch, e, presenceAdded, joined)
		return nil, Recovery{}, err
	}
	if err := h.subscribeBroker(ctx, ch); err != nil {
		return fail(err)
	}
	if e.presence {
		if err := h.presence.AddPresence(ctx, channel, e.info); err != nil {
			return fail(fmt.Errorf("hub: subscribe to %q: %w", channel, err))
		}
		presenceAdded = true
	}
	if e.joinLeave {
		if err := h.broker.PublishJoin(ctx, channel, e.info); err != nil {
			return fail(fmt.Errorf("hub: subscribe to %q: publish join: %w", channel, err))
		}
		joined = true
	}
	rec, err := h.startPosition(ctx, channel, ns, opts)
	if err != nil {
		return fail(err)
	}
	e.mu.Lock()
	e.after = rec.Position
	e.mu.Unlock()
	return sub, rec, nil
}

// startPosition reads where a new subscription starts.
func (h *Hub) startPosition(ctx context.Context, channel string, ns NamespaceOptions, opts SubscribeOptions) (Recovery, error) {
	switch {
	case !ns.HistoryEnabled() && opts.Recover:
		return Recovery{Status: RecoveryDisabled}, nil
	case !ns.HistoryEnabled():
		return Recovery{}, nil
	case opts.Recover:
		return h.recover(ctx, channel, opts.Since)
	}
	_, pos, err := h.broker.History(ctx, channel, HistoryOptions{Limit: PositionOnly})
	if err != nil {
		return Recovery{}, fmt.Errorf("hub: subscribe to %q: read position: %w", channel, err)
	}
	return Recovery{Position: pos}, nil
}

// Start delivers the pushes held since Subscribe that are newer than the
// returned position, then switches the subscription to live delivery.
// Calling it again does nothing. It fails with ErrHeldOverflow when more
// than Options.MaxHeld pushes arrived before it, with ErrEventsLost when the
// broker reported lost events meanwhile, and with ErrNotSubscribed after
// Unsubscribe.
func (s *Subscription) Start() error {
	e := s.e
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.removed.Load():
		return fmt.Errorf("%w (channel %q)", ErrNotSubscribed, s.ch.name)
	case e.live.Load():
		return nil
	case e.overflow:
		return fmt.Errorf("%w (channel %q)", ErrHeldOverflow, s.ch.name)
	case e.lost:
		return fmt.Errorf("%w (channel %q)", ErrEventsLost, s.ch.name)
	}
	var delivered, dropped uint64
	for _, p := range e.held {
		if covered(p, e.after) {
			continue
		}
		if e.sub.Deliver(p) {
			delivered++
		} else {
			dropped++
		}
	}
	e.held = nil
	e.live.Store(true)
	s.h.delivered.Add(delivered)
	s.h.dropped.Add(dropped)
	return nil
}

// covered reports whether p is a publication the subscriber already has
// through the position (or recovery) Subscribe returned. Held pushes are
// checked in Start; live ones in the fan-out too, because a broker that
// delivers asynchronously (over the network) may hand over a publication
// after the position that includes it was read. e.after does not change
// once the subscription is live, so the fan-out reads it without e.mu.
func covered(p *Push, after StreamPosition) bool {
	if p.Kind != PushPublication || p.Publication.Offset == 0 || p.Publication.Offset > after.Offset {
		return false
	}
	return p.Publication.Epoch == after.Epoch
}

// Unsubscribe ends the subscription: once it returns, the subscriber gets
// no more pushes from the channel. It removes the client's presence, sends
// a leave push to the others when the namespace has JoinLeave, and
// unsubscribes the node from the broker when no local subscriber is left.
// Unsubscribing twice is not an error.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	err := s.h.detach(ctx, s.ch, s.e, s.e.presence, s.e.joinLeave)
	if errors.Is(err, ErrNotSubscribed) {
		return nil
	}
	return err
}

// Unsubscribe unsubscribes s from channel, like Subscription.Unsubscribe,
// for callers that keep no Subscription. It fails with ErrNotSubscribed when
// s is not subscribed.
func (h *Hub) Unsubscribe(ctx context.Context, channel string, s Subscriber) error {
	ch := h.lookup(channel)
	var e *entry
	if ch != nil {
		ch.mu.RLock()
		if i, ok := ch.index[s]; ok {
			e = ch.subs[i]
		}
		ch.mu.RUnlock()
	}
	if e == nil {
		return fmt.Errorf("%w (channel %q)", ErrNotSubscribed, channel)
	}
	return h.detach(ctx, ch, e, e.presence, e.joinLeave)
}

// detach removes e from ch and undoes what subscribing did.
func (h *Hub) detach(ctx context.Context, ch *channel, e *entry, presence, leave bool) error {
	removed, empty := ch.remove(e)
	if !removed {
		return fmt.Errorf("%w (channel %q)", ErrNotSubscribed, ch.name)
	}
	var errs []error
	if presence {
		if err := h.presence.RemovePresence(ctx, ch.name, e.info.Client); err != nil {
			errs = append(errs, fmt.Errorf("hub: unsubscribe from %q: %w", ch.name, err))
		}
	}
	if leave {
		if err := h.broker.PublishLeave(ctx, ch.name, e.info); err != nil {
			errs = append(errs, fmt.Errorf("hub: unsubscribe from %q: publish leave: %w", ch.name, err))
		}
	}
	if empty {
		if err := h.release(ctx, ch); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
