package server

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/duplexws/duplex/hub"
)

// cmdPresence and the other read commands check the namespace's switches,
// then the client's permission, then its subscription.

func (s *session) readableChannel(raw json.RawMessage, feature string) (string, *Error) {
	channel, e := decodeChannel(raw)
	if e != nil {
		return "", e
	}
	ns, e := s.srv.namespace(channel)
	if e != nil {
		return "", e
	}
	switch feature {
	case "presence":
		if !ns.Presence {
			return "", newError(CodeNotAvailable, "not available: the namespace of %s does not track presence", channel)
		}
		if !ns.AllowPresence {
			return "", newError(CodePermissionDenied, "permission denied: the namespace of %s does not let clients read presence", channel)
		}
	case "history":
		if !ns.Recoverable() {
			return "", newError(CodeNotAvailable, "not available: the namespace of %s keeps no history", channel)
		}
		if !ns.AllowHistory {
			return "", newError(CodePermissionDenied, "permission denied: the namespace of %s does not let clients read history", channel)
		}
	}
	if s.subscription(channel) == nil {
		return "", newError(CodeNotSubscribed, "not subscribed to %s: subscribe first", channel)
	}
	return channel, nil
}

func (s *session) cmdPresence(b []byte, raw json.RawMessage) ([]byte, func(), *Error) {
	channel, e := s.readableChannel(raw, "presence")
	if e != nil {
		return nil, nil, e
	}
	b, e = s.srv.appendPresenceResult(s.srv.ctx, b, channel)
	return b, nil, e
}

func (s *session) cmdPresenceStats(b []byte, raw json.RawMessage) ([]byte, func(), *Error) {
	channel, e := s.readableChannel(raw, "presence")
	if e != nil {
		return nil, nil, e
	}
	b, e = s.srv.appendPresenceStats(s.srv.ctx, b, channel)
	return b, nil, e
}

func (srv *Server) appendPresenceResult(ctx context.Context, b []byte, channel string) ([]byte, *Error) {
	clients, err := srv.hub.Presence(ctx, channel)
	if err != nil {
		return nil, hubError(err)
	}
	b = append(b, `{"clients":`...)
	b = appendPresence(b, clients)
	return append(b, '}'), nil
}

func (srv *Server) appendPresenceStats(ctx context.Context, b []byte, channel string) ([]byte, *Error) {
	st, err := srv.hub.PresenceStats(ctx, channel)
	if err != nil {
		return nil, hubError(err)
	}
	b = append(b, `{"num_clients":`...)
	b = strconv.AppendInt(b, int64(st.Clients), 10)
	b = append(b, `,"num_users":`...)
	b = strconv.AppendInt(b, int64(st.Users), 10)
	return append(b, '}'), nil
}

// historyParams are the params of history, for clients and the HTTP API.
type historyParams struct {
	Channel string              `json:"channel"`
	Limit   *int                `json:"limit"`
	Since   *hub.StreamPosition `json:"since"`
	Reverse bool                `json:"reverse"`
}

func (s *session) cmdHistory(b []byte, raw json.RawMessage) ([]byte, func(), *Error) {
	if _, e := s.readableChannel(raw, "history"); e != nil {
		return nil, nil, e
	}
	var p historyParams
	if e := decodeParams(raw, &p); e != nil {
		return nil, nil, e
	}
	b, e := s.srv.appendHistory(s.srv.ctx, b, p)
	return b, nil, e
}

// appendHistory reads history as docs/protocol.md section 5.2 describes
// and appends the result.
func (srv *Server) appendHistory(ctx context.Context, b []byte, p historyParams) ([]byte, *Error) {
	max := srv.cfg.Limits.HistoryLimit
	opts := hub.HistoryOptions{Limit: max, Since: p.Since, Reverse: p.Reverse}
	if p.Limit != nil {
		switch n := *p.Limit; {
		case n == 0:
			opts.Limit = hub.PositionOnly
		case n > 0 && n < max:
			opts.Limit = n
		case n < -1:
			return nil, newError(CodeBadRequest, "bad request: limit must be -1, 0 or positive")
		}
	}
	pubs, pos, err := srv.hub.History(ctx, p.Channel, opts)
	if err != nil {
		return nil, hubError(err)
	}
	if p.Since != nil {
		switch {
		case p.Since.Epoch != pos.Epoch:
			return nil, newError(CodeUnrecoverable, "unrecoverable position: the stream of %s has epoch %q, not %q; reload from the start", p.Channel, pos.Epoch, p.Since.Epoch)
		case p.Since.Offset > pos.Offset:
			return nil, newError(CodeUnrecoverable, "unrecoverable position: offset %d is past the top of %s (%d); reload from the start", p.Since.Offset, p.Channel, pos.Offset)
		case !p.Reverse && opts.Limit != hub.PositionOnly && p.Since.Offset < pos.Offset &&
			(len(pubs) == 0 || pubs[0].Offset != p.Since.Offset+1):
			return nil, newError(CodeUnrecoverable, "unrecoverable position: publications after offset %d of %s were trimmed; reload from the start", p.Since.Offset, p.Channel)
		}
	}
	b = append(b, '{')
	b = appendPosition(b, pos)
	b = append(b, `,"publications":`...)
	b = appendPublications(b, pubs)
	return append(b, '}'), nil
}

func (s *session) cmdPing(b []byte, _ json.RawMessage) ([]byte, func(), *Error) {
	return append(b, "{}"...), nil, nil
}

type refreshParams struct {
	Channel string `json:"channel"`
	Token   string `json:"token"`
}

func (s *session) cmdRefresh(b []byte, raw json.RawMessage) ([]byte, func(), *Error) {
	var p refreshParams
	if e := decodeParams(raw, &p); e != nil {
		return nil, nil, e
	}
	if p.Token == "" {
		return nil, nil, newError(CodeBadRequest, "bad request: refresh needs a token")
	}
	claims, e := s.srv.verifier.verify(p.Token, connectionToken)
	if e != nil {
		return nil, nil, e
	}
	if claims.User != s.user {
		return nil, nil, newError(CodeUnauthorized, "unauthorized: the token is for user %q, not %q", claims.User, s.user)
	}
	ttl := s.setExpiry(claims.ExpiresAt)
	b = append(b, '{')
	b = appendExpiry(b, ttl, !claims.ExpiresAt.IsZero())
	return append(b, '}'), nil, nil
}

func (s *session) cmdSubRefresh(b []byte, raw json.RawMessage) ([]byte, func(), *Error) {
	var p refreshParams
	if e := decodeParams(raw, &p); e != nil {
		return nil, nil, e
	}
	if p.Token == "" || !validChannel(p.Channel) {
		return nil, nil, newError(CodeBadRequest, "bad request: sub_refresh needs a channel and a token")
	}
	claims, e := s.srv.verifier.verify(p.Token, subscriptionToken)
	if e != nil {
		return nil, nil, e
	}
	if claims.User != s.user || claims.Channel != p.Channel {
		return nil, nil, newError(CodeUnauthorized, "unauthorized: the token is for user %q and channel %q", claims.User, claims.Channel)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.subs[p.Channel]
	if !ok {
		return nil, nil, newError(CodeNotSubscribed, "not subscribed to %s", p.Channel)
	}
	if st.expiry != nil {
		st.expiry.Stop()
		st.expiry = nil
	}
	var ttl int64
	expires := !claims.ExpiresAt.IsZero()
	if expires {
		d := time.Until(claims.ExpiresAt)
		ttl = max(int64(d/time.Second), 0)
		st.expiry = time.AfterFunc(d, func() { s.expireSub(p.Channel, st) })
	}
	b = append(b, '{')
	b = appendExpiry(b, ttl, expires)
	return append(b, '}'), nil, nil
}
