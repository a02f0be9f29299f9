package client

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// SubscriptionOptions configure a Subscription.
type SubscriptionOptions struct {
	// Token is a subscription token, for private channels.
	Token string
	// GetToken fetches a subscription token when Token is empty or the
	// server said it expired.
	GetToken func(ctx context.Context, channel string) (string, error)
	// Presence asks for a presence snapshot in every SubscribedEvent.
	Presence bool
	// Since, when set, makes the first subscribe recover from this
	// position (one the application saved earlier).
	Since *StreamPosition

	// OnSubscribed is called each time the subscription is established,
	// after a reconnect too; see SubscribedEvent.Unrecoverable.
	OnSubscribed func(SubscribedEvent)
	// OnPublication receives every publication once, in order: recovered
	// ones first, duplicates dropped.
	OnPublication func(Publication)
	// OnJoin and OnLeave receive join and leave events.
	OnJoin  func(ClientInfo)
	OnLeave func(ClientInfo)
	// OnUnsubscribed is called when the subscription ends for good.
	OnUnsubscribed func(UnsubscribedEvent)
}

type subState int

const (
	subUnsubscribed subState = iota
	subSubscribing
	subSubscribed
)

// Subscription is a client's subscription to one channel. It survives
// reconnects: the client subscribes again, recovering from the last
// position it saw.
type Subscription struct {
	c       *Client
	channel string
	opts    SubscriptionOptions

	// Guarded by c.mu.
	want        bool
	state       subState
	pos         StreamPosition
	hasPos      bool
	recoverable bool
	token       string
	tokenStale  bool
	attempt     int
	gen         uint64
	pendingOn   *transport    // a subscribe is in flight on this connection
	ready       chan struct{} // closed when subscribed or failed for good
	err         error
}

// NewSubscription creates a subscription to channel; call Subscribe to
// subscribe. There is at most one Subscription per channel.
func (c *Client) NewSubscription(channel string, opts SubscriptionOptions) (*Subscription, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.subs[channel]; ok {
		return nil, fmt.Errorf("duplex client: a subscription to %s exists already; use it or remove it", channel)
	}
	s := &Subscription{c: c, channel: channel, opts: opts, token: opts.Token, ready: make(chan struct{})}
	if opts.Since != nil {
		s.pos, s.hasPos, s.recoverable = *opts.Since, true, true
	}
	c.subs[channel] = s
	return s, nil
}

// RemoveSubscription unsubscribes s and forgets it, so that the channel
// can be subscribed anew.
func (c *Client) RemoveSubscription(ctx context.Context, s *Subscription) error {
	err := s.Unsubscribe(ctx)
	c.mu.Lock()
	if c.subs[s.channel] == s {
		delete(c.subs, s.channel)
	}
	c.mu.Unlock()
	return err
}

// Channel returns the subscription's channel.
func (s *Subscription) Channel() string { return s.channel }

// Position returns the position of the last publication received (or the
// one the subscription started from).
func (s *Subscription) Position() StreamPosition {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.pos
}

// Subscribe subscribes and waits until the server confirmed it (connecting
// first if needed, once Client.Connect was called). After that the client
// keeps the subscription across reconnects until Unsubscribe.
func (s *Subscription) Subscribe(ctx context.Context) error {
	c := s.c
	c.mu.Lock()
	if c.state == StateClosed {
		c.mu.Unlock()
		return ErrClosed
	}
	if !s.want {
		s.want, s.state, s.err, s.attempt = true, subSubscribing, nil, 0
		select {
		case <-s.ready:
			s.ready = make(chan struct{})
		default:
		}
		if tr := c.tr; tr != nil {
			go s.subscribeOn(tr)
		}
	}
	ready := s.ready
	c.mu.Unlock()
	return s.wait(ctx, ready)
}

func (s *Subscription) wait(ctx context.Context, ready chan struct{}) error {
	select {
	case <-ready:
		s.c.mu.Lock()
		defer s.c.mu.Unlock()
		return s.err
	case <-ctx.Done():
		return fmt.Errorf("duplex client: subscribing to %s: %w", s.channel, ctx.Err())
	}
}

// waitSubscribed waits until the subscription is established.
func (s *Subscription) waitSubscribed(ctx context.Context) error {
	s.c.mu.Lock()
	want, ready := s.want, s.ready
	s.c.mu.Unlock()
	if !want {
		return ErrUnsubscribed
	}
	return s.wait(ctx, ready)
}

// Unsubscribe ends the subscription.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	c := s.c
	c.mu.Lock()
	if !s.want {
		c.mu.Unlock()
		return nil
	}
	wasActive := s.state != subUnsubscribed
	s.want, s.state, s.pendingOn = false, subUnsubscribed, nil
	s.gen++
	s.finish(ErrUnsubscribed)
	tr := c.tr
	c.mu.Unlock()
	post(c, s.opts.OnUnsubscribed, UnsubscribedEvent{Channel: s.channel, Reason: "unsubscribe called"})
	if tr == nil || !wasActive {
		return nil
	}
	_, err := tr.request(ctx, "unsubscribe", map[string]string{"channel": s.channel}, nil)
	if err == errTransportClosed {
		return nil // the server forgot the subscription with the connection
	}
	return err
}

// finish wakes Subscribe callers; c.mu is held.
func (s *Subscription) finish(err error) {
	s.err = err
	select {
	case <-s.ready:
	default:
		close(s.ready)
	}
}

// Publish publishes into the subscription's channel once subscribed.
func (s *Subscription) Publish(ctx context.Context, data any) (StreamPosition, error) {
	if err := s.waitSubscribed(ctx); err != nil {
		return StreamPosition{}, err
	}
	return s.c.Publish(ctx, s.channel, data)
}

// Presence returns who is subscribed to the channel.
func (s *Subscription) Presence(ctx context.Context) (map[string]ClientInfo, error) {
	if err := s.waitSubscribed(ctx); err != nil {
		return nil, err
	}
	return s.c.Presence(ctx, s.channel)
}

// PresenceStats counts the channel's subscribers.
func (s *Subscription) PresenceStats(ctx context.Context) (PresenceStats, error) {
	if err := s.waitSubscribed(ctx); err != nil {
		return PresenceStats{}, err
	}
	return s.c.PresenceStats(ctx, s.channel)
}

// History reads the channel's kept publications.
func (s *Subscription) History(ctx context.Context, opts HistoryOptions) (HistoryResult, error) {
	if err := s.waitSubscribed(ctx); err != nil {
		return HistoryResult{}, err
	}
	return s.c.History(ctx, s.channel, opts)
}

// subscribeResult is the result of subscribe.
type subscribeResult struct {
	Recoverable   bool                  `json:"recoverable"`
	Offset        uint64                `json:"offset"`
	Epoch         string                `json:"epoch"`
	WasRecovering bool                  `json:"was_recovering"`
	Recovered     bool                  `json:"recovered"`
	Publications  []wirePublication     `json:"publications"`
	Presence      map[string]ClientInfo `json:"presence"`
}

// subscribeOn sends subscribe on tr, recovering from the last position
// when there is one.
func (s *Subscription) subscribeOn(tr *transport) {
	c := s.c
	c.mu.Lock()
	if !s.want || s.state != subSubscribing || c.tr != tr || s.pendingOn == tr {
		// Not wanted, or already being subscribed on this connection
		// (Subscribe and the reconnect logic may both ask).
		c.mu.Unlock()
		return
	}
	s.pendingOn = tr
	s.gen++
	gen := s.gen
	params := map[string]any{"channel": s.channel}
	if s.opts.Presence {
		params["presence"] = true
	}
	if s.hasPos && s.recoverable {
		params["recover"] = true
		params["offset"] = s.pos.Offset
		params["epoch"] = s.pos.Epoch
	}
	token, needToken := s.token, s.opts.GetToken != nil && (s.token == "" || s.tokenStale)
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	if needToken {
		t, err := s.opts.GetToken(ctx, s.channel)
		if err != nil {
			c.reportError(fmt.Errorf("duplex client: getting a subscription token for %s: %w", s.channel, err))
			c.mu.Lock()
			s.pendingOn = nil
			c.mu.Unlock()
			s.retryLater(gen)
			return
		}
		c.mu.Lock()
		s.token, s.tokenStale, token = t, false, t
		c.mu.Unlock()
	}
	if token != "" {
		params["token"] = token
	}
	_, _ = tr.send(ctx, "subscribe", params, func(r reply) { s.onSubscribeReply(gen, r) })
	// A send error means the connection is gone: the next connection
	// subscribes again.
}

// onSubscribeReply runs on the reading goroutine, before any push that
// follows the reply.
func (s *Subscription) onSubscribeReply(gen uint64, r reply) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != s.gen || !s.want {
		return // superseded; an unsubscribe is on its way if needed
	}
	s.pendingOn = nil
	if r.err != nil {
		switch {
		case r.err.Code == CodeTokenExpired && s.opts.GetToken != nil:
			s.tokenStale = true
			go s.retryLater(gen)
		case r.err.Temporary:
			go s.retryLater(gen)
		default:
			s.want, s.state = false, subUnsubscribed
			s.finish(r.err)
			post(c, s.opts.OnUnsubscribed, UnsubscribedEvent{Channel: s.channel, Code: r.err.Code, Reason: r.err.Message})
		}
		return
	}
	var res subscribeResult
	if err := json.Unmarshal(r.result, &res); err != nil {
		go s.retryLater(gen)
		return
	}
	s.state, s.attempt = subSubscribed, 0
	s.recoverable = res.Recoverable
	if res.Recoverable {
		s.pos, s.hasPos = StreamPosition{Offset: res.Offset, Epoch: res.Epoch}, true
	}
	post(c, s.opts.OnSubscribed, SubscribedEvent{
		Channel:       s.channel,
		Recoverable:   res.Recoverable,
		WasRecovering: res.WasRecovering,
		Recovered:     res.Recovered,
		Unrecoverable: res.WasRecovering && res.Recoverable && !res.Recovered,
		Position:      s.pos,
		Presence:      res.Presence,
	})
	for _, p := range res.Publications {
		post(c, s.opts.OnPublication, p.publication(s.channel))
	}
	s.finish(nil)
}

// retryLater subscribes again after a backoff, unless superseded.
func (s *Subscription) retryLater(gen uint64) {
	c := s.c
	c.mu.Lock()
	if gen != s.gen || !s.want {
		c.mu.Unlock()
		return
	}
	delay := backoff(s.attempt, c.opts.MinReconnectDelay, c.opts.MaxReconnectDelay)
	s.attempt++
	c.mu.Unlock()
	time.AfterFunc(delay, func() {
		c.mu.Lock()
		tr := c.tr
		c.mu.Unlock()
		if tr != nil {
			s.subscribeOn(tr)
		}
	})
}

// resubscribeAll subscribes every wanted subscription on a new connection.
// One that is already subscribed was subscribed on this connection by a
// Subscribe call that won the race with this function (the connection's
// subscriptions were suspended when the last one ended): subscribing it
// again would be refused as a duplicate (105) and end it.
func (c *Client) resubscribeAll(tr *transport) {
	hooks := testHooks.Load()
	if hooks != nil {
		hooks.beforeResubscribe()
	}
	c.mu.Lock()
	var list []*Subscription
	for _, s := range c.subs {
		if s.want && s.state != subSubscribed {
			s.state = subSubscribing
			list = append(list, s)
		}
	}
	c.mu.Unlock()
	if hooks != nil {
		hooks.resubscribing(len(list))
	}
	for _, s := range list {
		go s.subscribeOn(tr)
	}
}

// testHooks, set by tests only: beforeResubscribe runs before
// resubscribeAll looks at the subscriptions, resubscribing with how many it
// subscribes again.
var testHooks atomic.Pointer[resubscribeHooks]

type resubscribeHooks struct {
	beforeResubscribe func()
	resubscribing     func(n int)
}

// suspendSubscriptions marks subscriptions as waiting for the next
// connection, keeping their positions.
func (c *Client) suspendSubscriptions() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.subs {
		if s.want {
			s.state = subSubscribing
			s.gen++
			s.pendingOn = nil
			select {
			case <-s.ready:
				if s.err == nil {
					s.ready = make(chan struct{})
				}
			default:
			}
		}
	}
}

// failSubscriptions wakes every waiter once the client stopped for good.
func (c *Client) failSubscriptions(ev DisconnectedEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.subs {
		if s.want {
			s.finish(fmt.Errorf("%w: disconnected with %d %s", ErrClosed, ev.Code, ev.Reason))
		}
	}
}

// onPublication delivers a publication push once: duplicates are dropped,
// and a gap or an epoch change makes the subscription recover
// (docs/protocol.md section 5.1). It runs on the reading goroutine.
func (c *Client) onPublication(tr *transport, p Publication) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.subs[p.Channel]
	if s == nil {
		if pos, ok := c.serverSubs[p.Channel]; ok {
			if p.Offset > 0 {
				if p.Epoch == pos.Epoch && p.Offset <= pos.Offset {
					return
				}
				c.serverSubs[p.Channel] = StreamPosition{Offset: p.Offset, Epoch: p.Epoch}
			}
			post(c, c.opts.OnPublication, p)
		}
		return
	}
	if s.state != subSubscribed {
		return
	}
	if p.Offset == 0 || !s.recoverable {
		post(c, s.opts.OnPublication, p)
		return
	}
	switch {
	case p.Epoch == s.pos.Epoch && p.Offset <= s.pos.Offset:
		return // a duplicate
	case p.Epoch == s.pos.Epoch && p.Offset == s.pos.Offset+1:
		s.pos.Offset = p.Offset
		post(c, s.opts.OnPublication, p)
	default:
		// A gap, or the stream was reset under us: resubscribe from the
		// last position, which recovers or reports the loss.
		s.state = subSubscribing
		s.gen++
		s.pendingOn = nil
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
			defer cancel()
			if _, err := tr.request(ctx, "unsubscribe", map[string]string{"channel": s.channel}, nil); err != nil {
				return // the connection is gone; the next one resubscribes
			}
			s.subscribeOn(tr)
		}()
	}
}

func (c *Client) onJoinLeave(kind, channel string, info ClientInfo) {
	c.mu.Lock()
	s := c.subs[channel]
	var f func(ClientInfo)
	if s != nil && s.state == subSubscribed {
		if kind == "join" {
			f = s.opts.OnJoin
		} else {
			f = s.opts.OnLeave
		}
	}
	c.mu.Unlock()
	post(c, f, info)
}

// onServerUnsubscribe handles an unsubscribe push.
func (c *Client) onServerUnsubscribe(channel string, code int, reason string, resubscribe bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.subs[channel]
	if s == nil || !s.want {
		delete(c.serverSubs, channel)
		return
	}
	s.gen++
	if !resubscribe {
		s.want, s.state, s.pendingOn = false, subUnsubscribed, nil
		s.finish(&Error{Code: code, Message: reason})
		post(c, s.opts.OnUnsubscribed, UnsubscribedEvent{Channel: channel, Code: code, Reason: reason})
		return
	}
	if code == 2001 && s.opts.GetToken != nil {
		s.tokenStale = true
	}
	s.state, s.pendingOn = subSubscribing, nil
	gen := s.gen
	delay := time.Duration(rand.N(int64(500*time.Millisecond))) + time.Millisecond
	time.AfterFunc(delay, func() {
		c.mu.Lock()
		tr, current := c.tr, gen == s.gen
		c.mu.Unlock()
		if tr != nil && current {
			s.subscribeOn(tr)
		}
	})
}

// applyServerSubs records the positions of server-side subscriptions from
// the connect result and delivers what they recovered.
func (c *Client) applyServerSubs(subs map[string]subscribeResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ch, res := range subs {
		if res.Recoverable {
			c.serverSubs[ch] = StreamPosition{Offset: res.Offset, Epoch: res.Epoch}
		}
		for _, p := range res.Publications {
			post(c, c.opts.OnPublication, p.publication(ch))
		}
	}
}
