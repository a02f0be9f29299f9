package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
)

// apiHandler handles one HTTP API method: it appends its result object to
// b or returns an error.
type apiHandler func(srv *Server, ctx context.Context, b []byte, params json.RawMessage) ([]byte, *Error)

var apiHandlers map[string]apiHandler

func init() {
	apiHandlers = map[string]apiHandler{
		"publish":        (*Server).apiPublish,
		"broadcast":      (*Server).apiBroadcast,
		"unsubscribe":    (*Server).apiUnsubscribe,
		"disconnect":     (*Server).apiDisconnect,
		"presence":       (*Server).apiPresence,
		"presence_stats": (*Server).apiPresenceStats,
		"history":        (*Server).apiHistory,
		"history_remove": (*Server).apiHistoryRemove,
		"channels":       (*Server).apiChannels,
	}
}

// apiStatus is the HTTP status of an API error (docs/protocol.md section 13).
func apiStatus(code int) int {
	switch code {
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeMethodNotFound, CodeNotAvailable:
		return http.StatusNotFound
	case CodeTooManyRequests:
		return http.StatusTooManyRequests
	case CodeInternal:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

func (srv *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	if _, ok := apiHandlers[method]; !ok {
		method = "unknown"
	}
	status := srv.api(w, r)
	srv.metrics.apiRequests.WithLabelValues(method, strconv.Itoa(status)).Inc()
}

// api answers one request and returns the status it sent.
func (srv *Server) api(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return writeAPIError(w, http.StatusMethodNotAllowed, newError(CodeBadRequest, "bad request: use POST"))
	}
	if srv.cfg.APIKey == "" {
		return writeAPIError(w, http.StatusNotFound, newError(CodeNotAvailable, "not available: the HTTP API is off; configure api_key"))
	}
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "apikey ")
	if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(key)), []byte(srv.cfg.APIKey)) != 1 {
		return writeAPIError(w, http.StatusUnauthorized, newError(CodeUnauthorized, "unauthorized: send the header \"Authorization: apikey KEY\" with the server's API key"))
	}
	if srv.draining.Load() {
		return writeAPIError(w, http.StatusServiceUnavailable, newError(CodeInternal, "internal: %v; retry on another node", errDraining))
	}
	h, ok := apiHandlers[strings.TrimPrefix(r.URL.Path, "/api/")]
	if !ok {
		return writeAPIError(w, http.StatusNotFound, newError(CodeMethodNotFound, "method not found: %s", r.URL.Path))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(srv.cfg.Limits.APIBodySize)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return writeAPIError(w, http.StatusRequestEntityTooLarge, newError(CodeLimitExceeded, "limit exceeded: the body is over %d bytes", mbe.Limit))
		}
		return writeAPIError(w, http.StatusBadRequest, newError(CodeBadRequest, "bad request: reading the body: %v", err))
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	if !json.Valid(body) || body[0] != '{' {
		return writeAPIError(w, http.StatusBadRequest, newError(CodeBadRequest, "bad request: the body must be a JSON object of params"))
	}
	b := append(make([]byte, 0, 128), `{"result":`...)
	b, e := h(srv, r.Context(), b, body)
	if e != nil {
		return writeAPIError(w, apiStatus(e.Code), e)
	}
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	return http.StatusOK
}

func writeAPIError(w http.ResponseWriter, status int, e *Error) int {
	b := append(make([]byte, 0, 96), `{"error":`...)
	b = appendError(b, e)
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return status
}

type apiPublishParams struct {
	Channel     string          `json:"channel"`
	Channels    []string        `json:"channels"`
	Data        json.RawMessage `json:"data"`
	SkipHistory bool            `json:"skip_history"`
}

func (srv *Server) apiPublish(ctx context.Context, b []byte, raw json.RawMessage) ([]byte, *Error) {
	var p apiPublishParams
	if e := decodeParams(raw, &p); e != nil {
		return nil, e
	}
	if e := srv.checkAPIData(p.Data); e != nil {
		return nil, e
	}
	return srv.apiPublishOne(ctx, b, p.Channel, p.Data, p.SkipHistory)
}

func (srv *Server) checkAPIData(data json.RawMessage) *Error {
	if data == nil {
		return newError(CodeBadRequest, "bad request: data is required (null is allowed)")
	}
	if len(data) > srv.cfg.Limits.MaxPublicationSize {
		return newError(CodeLimitExceeded, "limit exceeded: data is %d bytes, over the limit of %d", len(data), srv.cfg.Limits.MaxPublicationSize)
	}
	return nil
}

func (srv *Server) apiPublishOne(ctx context.Context, b []byte, channel string, data json.RawMessage, skip bool) ([]byte, *Error) {
	if !validChannel(channel) {
		return nil, newError(CodeBadRequest, "bad request: invalid channel name %q", channel)
	}
	ns, e := srv.namespace(channel)
	if e != nil {
		return nil, e
	}
	pos, e := srv.publish(ctx, channel, data, nil, skip, "api")
	if e != nil {
		return nil, e
	}
	return appendPublishResult(b, pos, ns.Recoverable() && !skip), nil
}

func (srv *Server) apiBroadcast(ctx context.Context, b []byte, raw json.RawMessage) ([]byte, *Error) {
	var p apiPublishParams
	if e := decodeParams(raw, &p); e != nil {
		return nil, e
	}
	if e := srv.checkAPIData(p.Data); e != nil {
		return nil, e
	}
	if len(p.Channels) == 0 {
		return nil, newError(CodeBadRequest, "bad request: channels is required")
	}
	if len(p.Channels) > srv.cfg.Limits.BroadcastChannels {
		return nil, newError(CodeLimitExceeded, "limit exceeded: at most %d channels per broadcast", srv.cfg.Limits.BroadcastChannels)
	}
	b = append(b, `{"responses":[`...)
	for i, ch := range p.Channels {
		if i > 0 {
			b = append(b, ',')
		}
		mark := len(b)
		b = append(b, `{"result":`...)
		var e *Error
		var nb []byte
		if nb, e = srv.apiPublishOne(ctx, b, ch, p.Data, p.SkipHistory); e != nil {
			b = append(b[:mark], `{"error":`...)
			b = appendError(b, e)
		} else {
			b = nb
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

type apiTargetParams struct {
	Channel   string `json:"channel"`
	User      string `json:"user"`
	Client    string `json:"client"`
	Code      int    `json:"code"`
	Reason    string `json:"reason"`
	Reconnect bool   `json:"reconnect"`
}

func (srv *Server) apiUnsubscribe(ctx context.Context, b []byte, raw json.RawMessage) ([]byte, *Error) {
	var p apiTargetParams
	if e := decodeParams(raw, &p); e != nil {
		return nil, e
	}
	if !validChannel(p.Channel) {
		return nil, newError(CodeBadRequest, "bad request: invalid channel name %q", p.Channel)
	}
	if p.User == "" && p.Client == "" {
		return nil, newError(CodeBadRequest, "bad request: give user (and optionally client)")
	}
	for _, s := range srv.sessionsOf(p.User, p.Client) {
		s.serverUnsubscribe(p.Channel, unsubscribeServer, "unsubscribed by server", false)
	}
	return append(b, "{}"...), nil
}

func (srv *Server) apiDisconnect(ctx context.Context, b []byte, raw json.RawMessage) ([]byte, *Error) {
	var p apiTargetParams
	if e := decodeParams(raw, &p); e != nil {
		return nil, e
	}
	if p.User == "" && p.Client == "" {
		return nil, newError(CodeBadRequest, "bad request: give user (and optionally client)")
	}
	code := p.Code
	switch {
	case code == 0 && p.Reconnect:
		code = DisconnectForceReconnect
	case code == 0:
		code = DisconnectForced
	case p.Reconnect && (code < 4000 || code > 4499):
		return nil, newError(CodeBadRequest, "bad request: with reconnect, code must be in 4000-4499")
	case !p.Reconnect && (code < 4500 || code > 4999):
		return nil, newError(CodeBadRequest, "bad request: without reconnect, code must be in 4500-4999")
	}
	reason := p.Reason
	if reason == "" {
		reason = disconnectReasons[code]
	}
	if len(reason) > 100 {
		return nil, newError(CodeBadRequest, "bad request: reason is limited to 100 bytes")
	}
	for _, s := range srv.sessionsOf(p.User, p.Client) {
		s.disconnectWith(code, reason)
	}
	return append(b, "{}"...), nil
}

func (srv *Server) apiChannelParam(raw json.RawMessage) (string, *Error) {
	channel, e := decodeChannel(raw)
	if e != nil {
		return "", e
	}
	if _, e := srv.namespace(channel); e != nil {
		return "", e
	}
	return channel, nil
}

func (srv *Server) apiPresence(ctx context.Context, b []byte, raw json.RawMessage) ([]byte, *Error) {
	channel, e := srv.apiChannelParam(raw)
	if e != nil {
		return nil, e
	}
	return srv.appendPresenceResult(ctx, b, channel)
}

func (srv *Server) apiPresenceStats(ctx context.Context, b []byte, raw json.RawMessage) ([]byte, *Error) {
	channel, e := srv.apiChannelParam(raw)
	if e != nil {
		return nil, e
	}
	return srv.appendPresenceStats(ctx, b, channel)
}

func (srv *Server) apiHistory(ctx context.Context, b []byte, raw json.RawMessage) ([]byte, *Error) {
	channel, e := srv.apiChannelParam(raw)
	if e != nil {
		return nil, e
	}
	var p historyParams
	if e := decodeParams(raw, &p); e != nil {
		return nil, e
	}
	p.Channel = channel
	return srv.appendHistory(ctx, b, p)
}

func (srv *Server) apiHistoryRemove(ctx context.Context, b []byte, raw json.RawMessage) ([]byte, *Error) {
	channel, e := srv.apiChannelParam(raw)
	if e != nil {
		return nil, e
	}
	ns, _ := srv.namespace(channel)
	if !ns.Recoverable() {
		return nil, newError(CodeNotAvailable, "not available: the namespace of %s keeps no history", channel)
	}
	if err := srv.hub.Broker().RemoveHistory(ctx, channel); err != nil {
		return nil, hubError(err)
	}
	return append(b, "{}"...), nil
}

type apiChannelsParams struct {
	Pattern string `json:"pattern"`
}

// apiChannels lists the channels with subscribers: those the broker
// reports when it is a ChannelLister (several nodes), else this node's,
// which with one node (the memory broker) are all of them.
func (srv *Server) apiChannels(ctx context.Context, b []byte, raw json.RawMessage) ([]byte, *Error) {
	var p apiChannelsParams
	if e := decodeParams(raw, &p); e != nil {
		return nil, e
	}
	var all map[string]int
	if cl, ok := srv.hub.Broker().(ChannelLister); ok {
		var err error
		if all, err = cl.Channels(ctx); err != nil {
			return nil, hubError(err)
		}
	} else {
		srv.mu.Lock()
		all = maps.Clone(srv.channels)
		srv.mu.Unlock()
	}
	counts := make(map[string]int, len(all))
	for ch, n := range all {
		if n > 0 && (p.Pattern == "" || matchPattern(p.Pattern, ch)) {
			counts[ch] = n
		}
	}
	b = append(b, `{"channels":{`...)
	first := true
	for ch, n := range counts {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, ch)
		b = append(b, `:{"num_clients":`...)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, '}')
	}
	return append(b, "}}"...), nil
}

// matchPattern matches s against a pattern in which * stands for any run
// of characters and everything else for itself.
func matchPattern(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}
