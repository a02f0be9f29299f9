package server

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/duplexws/duplex/hub"
)

type subscribeParams struct {
	Channel  string          `json:"channel"`
	Token    string          `json:"token"`
	Recover  bool            `json:"recover"`
	Offset   uint64          `json:"offset"`
	Epoch    string          `json:"epoch"`
	Presence bool            `json:"presence"`
	Data     json.RawMessage `json:"data"`
}

// subscribeRequest is a checked subscription, from a client or from a
// token's channels claim.
type subscribeRequest struct {
	channel    string
	ns         Namespace
	info       *hub.ClientInfo
	recover    bool
	since      hub.StreamPosition
	presence   bool
	serverSide bool
	expiresAt  time.Time
}

func (s *session) cmdSubscribe(b []byte, raw json.RawMessage) ([]byte, func(), *Error) {
	var p subscribeParams
	if e := decodeParams(raw, &p); e != nil {
		return nil, nil, e
	}
	if !validChannel(p.Channel) {
		return nil, nil, newError(CodeBadRequest, "bad request: invalid channel name %q: use 1 to 255 of A-Z a-z 0-9 _ - . : @ =", p.Channel)
	}
	if len(p.Data) > maxInfoSize {
		return nil, nil, newError(CodeBadRequest, "bad request: data is %d bytes, over the limit of %d", len(p.Data), maxInfoSize)
	}
	ns, e := s.srv.namespace(p.Channel)
	if e != nil {
		return nil, nil, e
	}
	req := subscribeRequest{
		channel:  p.Channel,
		ns:       ns,
		recover:  p.Recover,
		since:    hub.StreamPosition{Offset: p.Offset, Epoch: p.Epoch},
		presence: p.Presence,
	}
	info := s.connInfo
	var chanInfo json.RawMessage
	if p.Token != "" {
		claims, e := s.srv.verifier.verify(p.Token, subscriptionToken)
		if e != nil {
			return nil, nil, e
		}
		if claims.User != s.user {
			return nil, nil, newError(CodeUnauthorized, "unauthorized: the subscription token is for user %q, not %q", claims.User, s.user)
		}
		if claims.Channel != p.Channel {
			return nil, nil, newError(CodeUnauthorized, "unauthorized: the subscription token is for channel %q, not %q", claims.Channel, p.Channel)
		}
		chanInfo = claims.Info
		req.expiresAt = claims.ExpiresAt
	} else {
		if ns.Private {
			return nil, nil, newError(CodePermissionDenied, "permission denied: channel %s is private; subscribe with a subscription token", p.Channel)
		}
		if s.user == "" && !ns.AllowAnonymous {
			return nil, nil, newError(CodePermissionDenied, "permission denied: namespace of %s does not allow anonymous users; connect with a token", p.Channel)
		}
	}
	req.info = &hub.ClientInfo{User: s.user, Client: s.id, ConnInfo: info, ChanInfo: chanInfo}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[p.Channel]; ok {
		return nil, nil, newError(CodeAlreadySubscribe, "already subscribed to %s", p.Channel)
	}
	if len(s.subs) >= s.srv.cfg.Limits.MaxChannels {
		return nil, nil, newError(CodeLimitExceeded, "limit exceeded: a connection may subscribe to at most %d channels", s.srv.cfg.Limits.MaxChannels)
	}
	return s.subscribeLocked(b, req)
}

// subscribeLocked subscribes to the hub and appends the subscribe result
// to b. The returned start must run once the reply is queued: it releases
// the pushes held meanwhile, so that the reply comes first. s.mu is held.
func (s *session) subscribeLocked(b []byte, req subscribeRequest) ([]byte, func(), *Error) {
	if s.ended {
		return nil, nil, newError(CodeInternal, "internal: connection closing")
	}
	if _, ok := s.subs[req.channel]; ok {
		return nil, nil, newError(CodeAlreadySubscribe, "already subscribed to %s", req.channel)
	}
	ctx := s.srv.ctx
	sub, rec, err := s.srv.hub.Subscribe(ctx, req.channel, s, hub.SubscribeOptions{
		Info:    req.info,
		Recover: req.recover,
		Since:   req.since,
	})
	if err != nil {
		return nil, nil, hubError(err)
	}
	recoverable := req.ns.Recoverable()
	recovered := rec.Status == hub.RecoveryOK && recoverable
	pubs := rec.Publications
	if recovered && len(pubs) > s.srv.cfg.Limits.RecoveryMax {
		recovered, pubs = false, nil
	}
	if !recovered {
		pubs = nil
	}
	var presence map[string]*hub.ClientInfo
	if req.presence && req.ns.Presence && req.ns.AllowPresence {
		if presence, err = s.srv.hub.Presence(ctx, req.channel); err != nil {
			_ = sub.Unsubscribe(ctx)
			return nil, nil, hubError(err)
		}
	}
	st := &subState{sub: sub, ns: req.ns, info: req.info, serverSide: req.serverSide}
	s.subs[req.channel] = st
	s.srv.channelAdded(req.channel)
	var ttl int64
	if !req.expiresAt.IsZero() {
		d := time.Until(req.expiresAt)
		ttl = max(int64(d/time.Second), 0)
		st.expiry = time.AfterFunc(d, func() { s.expireSub(req.channel, st) })
	}

	b = append(b, `{"recoverable":`...)
	b = strconv.AppendBool(b, recoverable)
	b = append(b, ',')
	b = appendPosition(b, rec.Position)
	b = append(b, `,"was_recovering":`...)
	b = strconv.AppendBool(b, req.recover)
	b = append(b, `,"recovered":`...)
	b = strconv.AppendBool(b, recovered)
	b = append(b, ',')
	b = appendExpiry(b, ttl, !req.expiresAt.IsZero())
	b = append(b, `,"publications":`...)
	b = appendPublications(b, pubs)
	if presence != nil {
		b = append(b, `,"presence":`...)
		b = appendPresence(b, presence)
	}
	b = append(b, '}')

	start := func() {
		err := sub.Start()
		if errors.Is(err, hub.ErrHeldOverflow) || errors.Is(err, hub.ErrEventsLost) {
			// Too many publications arrived while subscribing, or the
			// broker lost some: the client resubscribes with recovery and
			// gets them from history.
			s.lostTrack(req.channel)
		}
	}
	return b, start, nil
}

// expireSub ends a subscription whose token expired without sub_refresh.
func (s *session) expireSub(channel string, st *subState) {
	s.mu.Lock()
	current := s.subs[channel] == st
	s.mu.Unlock()
	if current {
		s.serverUnsubscribe(channel, unsubscribeExpired, "subscription expired", true)
	}
}

type channelParams struct {
	Channel string `json:"channel"`
}

// decodeChannel decodes params holding a channel and checks the name.
func decodeChannel(raw json.RawMessage) (string, *Error) {
	var p channelParams
	if e := decodeParams(raw, &p); e != nil {
		return "", e
	}
	if !validChannel(p.Channel) {
		return "", newError(CodeBadRequest, "bad request: invalid channel name %q", p.Channel)
	}
	return p.Channel, nil
}

func (s *session) cmdUnsubscribe(b []byte, raw json.RawMessage) ([]byte, func(), *Error) {
	channel, e := decodeChannel(raw)
	if e != nil {
		return nil, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.subs[channel]
	if ok {
		if st.serverSide {
			return nil, nil, newError(CodePermissionDenied, "permission denied: %s is a server-side subscription and ends with the connection", channel)
		}
		s.dropSubLocked(s.srv.ctx, channel, st)
	}
	return append(b, "{}"...), nil, nil
}

// subscription returns the session's subscription to channel, or nil.
func (s *session) subscription(channel string) *subState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subs[channel]
}

// hubError maps hub errors to protocol errors.
func hubError(err error) *Error {
	switch {
	case errors.Is(err, hub.ErrUnknownNamespace):
		return newError(CodeUnknownChannel, "unknown channel: %v", err)
	case errors.Is(err, hub.ErrAlreadySubscribed):
		return newError(CodeAlreadySubscribe, "already subscribed")
	case errors.Is(err, hub.ErrHistoryDisabled), errors.Is(err, hub.ErrPresenceDisabled):
		return newError(CodeNotAvailable, "not available: %v", err)
	case errors.Is(err, hub.ErrInvalidChannel):
		return newError(CodeBadRequest, "bad request: %v", err)
	case errors.Is(err, hub.ErrClosed):
		return newError(CodeInternal, "internal: the server is shutting down")
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return newError(CodeInternal, "internal: %v", err)
}
