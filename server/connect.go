package server

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/duplexws/duplex/hub"
)

type connectParams struct {
	Token   string                        `json:"token"`
	Name    string                        `json:"name"`
	Version string                        `json:"version"`
	Data    json.RawMessage               `json:"data"`
	Subs    map[string]hub.StreamPosition `json:"subs"`
}

// connect handles the first command of a connection. On failure it
// answers the error and closes with the matching disconnect code.
func (s *session) connect(id uint32, raw json.RawMessage) {
	fail := func(e *Error) {
		s.replyError(id, e)
		s.disconnect(connectErrorDisconnect(e.Code))
	}
	var p connectParams
	if e := decodeParams(raw, &p); e != nil {
		fail(e)
		return
	}
	switch {
	case len(p.Name) > 32 || len(p.Version) > 32:
		fail(newError(CodeBadRequest, "bad request: name and version are limited to 32 bytes"))
		return
	case len(p.Data) > maxInfoSize:
		fail(newError(CodeBadRequest, "bad request: data is %d bytes, over the limit of %d", len(p.Data), maxInfoSize))
		return
	}
	var claims TokenClaims
	if p.Token == "" {
		if !s.srv.cfg.Anonymous {
			fail(newError(CodeUnauthorized, "unauthorized: this server does not accept anonymous connections; connect with a token"))
			return
		}
	} else {
		var e *Error
		if claims, e = s.srv.verifier.verify(p.Token, connectionToken); e != nil {
			fail(e)
			return
		}
	}
	s.user, s.connInfo, s.name = claims.User, claims.Info, p.Name
	if e := s.srv.registerUser(s); e != nil {
		fail(e)
		return
	}
	s.connected = true
	s.connectTimer.Stop()

	b := appendReplyStart(make([]byte, 0, 256), id)
	b = append(b, `{"client":`...)
	b = appendString(b, s.id)
	b = append(b, `,"user":`...)
	b = appendString(b, s.user)
	b = append(b, `,"version":`...)
	b = appendString(b, s.srv.version)
	b = append(b, `,"proto":1,`...)
	b = appendExpiry(b, s.setExpiry(claims.ExpiresAt), !claims.ExpiresAt.IsZero())
	b = append(b, `,"ping":`...)
	b = strconv.AppendInt(b, int64(time.Duration(s.srv.cfg.Ping)/time.Second), 10)
	b = append(b, `,"pong":`...)
	b = strconv.AppendInt(b, int64(time.Duration(s.srv.cfg.Pong)/time.Second), 10)
	var starts []func()
	if len(claims.Channels) > 0 {
		b = append(b, `,"subs":{`...)
		first := true
		for _, ch := range claims.Channels {
			res, start, e := s.subscribeServerSide(ch, p.Subs)
			if e != nil {
				s.srv.log.Warn("server-side subscription from the token's channels claim skipped", "channel", ch, "user", s.user, "err", e.Message)
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, ch)
			b = append(b, ':')
			b = append(b, res...)
			starts = append(starts, start)
		}
		b = append(b, '}')
	}
	b = append(b, "}}"...)
	s.send(b)
	for _, start := range starts {
		start()
	}
	s.startHeartbeat()
}

// setExpiry arms the connection's expiry at t (zero: never) and returns
// the seconds left.
func (s *session) setExpiry(t time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	s.expireAt = t
	if t.IsZero() {
		return 0
	}
	d := time.Until(t)
	s.expiry = time.AfterFunc(d, func() { s.disconnect(DisconnectExpired) })
	return max(int64(d/time.Second), 0)
}

// subscribeServerSide subscribes to a channel of the token's channels
// claim, without permission checks, recovering from subs[channel] if the
// client sent a position.
func (s *session) subscribeServerSide(channel string, subs map[string]hub.StreamPosition) ([]byte, func(), *Error) {
	if !validChannel(channel) {
		return nil, nil, newError(CodeBadRequest, "bad request: invalid channel name %q", channel)
	}
	ns, e := s.srv.namespace(channel)
	if e != nil {
		return nil, nil, e
	}
	pos, recover := subs[channel]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subscribeLocked(make([]byte, 0, 128), subscribeRequest{
		channel:    channel,
		ns:         ns,
		info:       &hub.ClientInfo{User: s.user, Client: s.id, ConnInfo: s.connInfo},
		recover:    recover,
		since:      pos,
		serverSide: true,
	})
}
