package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/duplexws/duplex/hub"
)

type publishParams struct {
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

func (s *session) cmdPublish(b []byte, raw json.RawMessage) ([]byte, func(), *Error) {
	var p publishParams
	if e := decodeParams(raw, &p); e != nil {
		return nil, nil, e
	}
	if !validChannel(p.Channel) {
		return nil, nil, newError(CodeBadRequest, "bad request: invalid channel name %q", p.Channel)
	}
	if p.Data == nil {
		return nil, nil, newError(CodeBadRequest, "bad request: publish needs data (null is allowed)")
	}
	ns, e := s.srv.namespace(p.Channel)
	if e != nil {
		return nil, nil, e
	}
	switch {
	case !ns.AllowPublish:
		return nil, nil, newError(CodePermissionDenied, "permission denied: the namespace of %s does not allow clients to publish", p.Channel)
	case s.user == "" && !ns.AllowAnonymous:
		return nil, nil, newError(CodePermissionDenied, "permission denied: the namespace of %s does not allow anonymous users to publish", p.Channel)
	}
	st := s.subscription(p.Channel)
	if st == nil {
		return nil, nil, newError(CodeNotSubscribed, "not subscribed to %s: subscribe before publishing", p.Channel)
	}
	if len(p.Data) > s.srv.cfg.Limits.MaxPublicationSize {
		return nil, nil, newError(CodeLimitExceeded, "limit exceeded: data is %d bytes, over the limit of %d", len(p.Data), s.srv.cfg.Limits.MaxPublicationSize)
	}
	if !s.pubLimit.allow(time.Now()) {
		return nil, nil, newError(CodeTooManyRequests, "too many requests: over %v publishes per second; retry with backoff", s.srv.cfg.Limits.PublishRate)
	}
	pos, e := s.srv.publish(s.srv.ctx, p.Channel, p.Data, st.info, false, "client")
	if e != nil {
		return nil, nil, e
	}
	return appendPublishResult(b, pos, ns.Recoverable()), nil, nil
}

// appendPublishResult appends {"offset","epoch"}, or {} when the channel
// has no stream.
func appendPublishResult(b []byte, pos hub.StreamPosition, recoverable bool) []byte {
	if !recoverable || pos.Offset == 0 {
		return append(b, "{}"...)
	}
	b = append(b, '{')
	b = appendPosition(b, pos)
	return append(b, '}')
}

// publish publishes into channel through the hub (or, with skipHistory,
// straight through the broker without a stream position) and records
// metrics.
func (srv *Server) publish(ctx context.Context, channel string, data []byte, info *hub.ClientInfo, skipHistory bool, source string) (hub.StreamPosition, *Error) {
	start := time.Now()
	var pos hub.StreamPosition
	var err error
	if skipHistory {
		// Zero history options: the broker delivers the publication to
		// subscribers without keeping it or giving it an offset.
		_, err = srv.hub.Broker().Publish(ctx, channel, data, hub.PublishOptions{Info: info})
	} else {
		pos, err = srv.hub.Publish(ctx, channel, data, info)
	}
	if err != nil {
		return hub.StreamPosition{}, hubError(err)
	}
	srv.metrics.publishDuration.Observe(time.Since(start).Seconds())
	srv.metrics.publications.WithLabelValues(source).Inc()
	return pos, nil
}
