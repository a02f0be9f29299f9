package server

import (
	"encoding/json"
	"strconv"
	"time"
)

// command is a client message: a command with an id, or a pong.
type command struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// maxCommandID is the largest id a client may use (2^31-1).
const maxCommandID = 1<<31 - 1

// parseID accepts an integer from 1 to 2^31-1 written without sign,
// fraction or exponent.
func parseID(raw json.RawMessage) (uint32, bool) {
	if len(raw) == 0 || len(raw) > 10 {
		return 0, false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(raw), 10, 32)
	if err != nil || n == 0 || n > maxCommandID {
		return 0, false
	}
	return uint32(n), true
}

// decodeParams decodes a command's params into v; absent or null params
// leave v as it is.
func decodeParams(raw json.RawMessage, v any) *Error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return newError(CodeBadRequest, "bad request: params: %v", err)
	}
	return nil
}

// handler handles one command. It appends its result to b (which holds the
// start of the reply) or returns an error; after, if set, runs once the
// reply is queued.
type handler func(s *session, b []byte, params json.RawMessage) (reply []byte, after func(), e *Error)

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"subscribe":      (*session).cmdSubscribe,
		"unsubscribe":    (*session).cmdUnsubscribe,
		"publish":        (*session).cmdPublish,
		"presence":       (*session).cmdPresence,
		"presence_stats": (*session).cmdPresenceStats,
		"history":        (*session).cmdHistory,
		"ping":           (*session).cmdPing,
		"refresh":        (*session).cmdRefresh,
		"sub_refresh":    (*session).cmdSubRefresh,
	}
}

// handle handles one client message.
func (s *session) handle(msg []byte) {
	var cmd command
	if err := json.Unmarshal(msg, &cmd); err != nil {
		s.srv.log.Debug("invalid JSON from client; disconnecting", "client", s.id, "err", err)
		s.disconnect(DisconnectBadRequest)
		return
	}
	if len(cmd.ID) == 0 || string(cmd.ID) == "null" {
		if cmd.Method == "pong" {
			s.awaitingPong.Store(false)
			return
		}
		s.disconnect(DisconnectBadRequest)
		return
	}
	id, ok := parseID(cmd.ID)
	if !ok {
		s.disconnect(DisconnectBadRequest)
		return
	}
	s.srv.countCommand(cmd.Method)
	if !s.connected {
		if cmd.Method != "connect" {
			s.disconnect(DisconnectBadRequest)
			return
		}
		s.connect(id, cmd.Params)
		return
	}
	if !s.cmdLimit.allow(time.Now()) {
		s.replyError(id, newError(CodeTooManyRequests, "too many requests: over %v commands per second; retry with backoff", s.srv.cfg.Limits.CommandRate))
		return
	}
	if cmd.Method == "connect" {
		s.replyError(id, newError(CodeBadRequest, "bad request: already connected"))
		return
	}
	h, ok := handlers[cmd.Method]
	if !ok {
		s.replyError(id, newError(CodeMethodNotFound, "method not found: %q", cmd.Method))
		return
	}
	reply, after, e := h(s, appendReplyStart(make([]byte, 0, 128), id), cmd.Params)
	if e != nil {
		s.replyError(id, e)
		return
	}
	s.send(append(reply, '}'))
	if after != nil {
		after()
	}
}

func (s *session) replyError(id uint32, e *Error) {
	s.srv.metrics.commandErrors.WithLabelValues(strconv.Itoa(e.Code)).Inc()
	s.send(errorReply(id, e))
}
