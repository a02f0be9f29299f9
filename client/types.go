package client

import (
	"encoding/json"
	"errors"
	"fmt"
)

// StreamPosition is a place in a channel's stream (docs/protocol.md
// section 5).
type StreamPosition struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// ClientInfo describes a connection: in presence, join and leave events,
// and as the publisher of a publication.
type ClientInfo struct {
	Client string          `json:"client"`
	User   string          `json:"user"`
	Info   json.RawMessage `json:"info,omitempty"`
}

// Publication is a message published into a channel.
type Publication struct {
	Channel string
	// Offset and Epoch are zero for channels without history and for
	// publications sent with skip_history.
	Offset uint64
	Epoch  string
	Data   json.RawMessage
	// Info is the publisher, when a client published it.
	Info *ClientInfo
}

// PresenceStats counts a channel's subscribers.
type PresenceStats struct {
	NumClients int `json:"num_clients"`
	NumUsers   int `json:"num_users"`
}

// HistoryOptions select publications (docs/protocol.md section 5.2).
type HistoryOptions struct {
	// Limit: 0 means as many as the server allows; PositionOnly asks for
	// the position alone.
	Limit   int
	Since   *StreamPosition
	Reverse bool
}

// PositionOnly as HistoryOptions.Limit returns no publication, only the
// stream position.
const PositionOnly = -2

// HistoryResult is the answer to History.
type HistoryResult struct {
	Publications []Publication
	Position     StreamPosition
}

// Error is an error answered by the server (docs/protocol.md section 10).
type Error struct {
	Code      int    `json:"code"`
	Message   string `json:"message"`
	Temporary bool   `json:"temporary"`
}

// Error returns the server's message with its code.
func (e *Error) Error() string { return fmt.Sprintf("duplex: %s (code %d)", e.Message, e.Code) }

// Error codes of the protocol.
const (
	CodeInternal         = 100
	CodeUnauthorized     = 101
	CodeUnknownChannel   = 102
	CodePermissionDenied = 103
	CodeMethodNotFound   = 104
	CodeAlreadySubscribe = 105
	CodeLimitExceeded    = 106
	CodeBadRequest       = 107
	CodeTokenExpired     = 108
	CodeTooManyRequests  = 109
	CodeNotAvailable     = 110
	CodeNotSubscribed    = 111
	CodeUnrecoverable    = 112
)

var (
	// ErrClosed is returned once Close was called, or after the server
	// told the client not to reconnect.
	ErrClosed = errors.New("duplex client: closed; create a new client")
	// ErrConnectionLost is returned by a command whose connection ended
	// before the reply came. The command may or may not have been
	// carried out.
	ErrConnectionLost = errors.New("duplex client: connection lost before the reply; the command may or may not have been carried out")
	// ErrUnsubscribed is returned by Subscription methods after
	// Unsubscribe, or when the server ended the subscription for good.
	ErrUnsubscribed = errors.New("duplex client: not subscribed; call Subscribe")
)

// ConnectedEvent is passed to Options.OnConnected.
type ConnectedEvent struct {
	Client  string
	User    string
	Version string
}

// DisconnectedEvent is passed to Options.OnDisconnected: Reconnect tells
// whether the client tries again (after a backoff) or stopped for good.
type DisconnectedEvent struct {
	Code      int
	Reason    string
	Reconnect bool
}

// SubscribedEvent is passed to SubscriptionOptions.OnSubscribed every time
// a subscription is (re)established.
type SubscribedEvent struct {
	Channel string
	// Recoverable: the channel keeps a stream, so recovery can work.
	Recoverable bool
	// WasRecovering: the subscription asked to recover from a position.
	WasRecovering bool
	// Recovered: every missed publication was delivered (through
	// OnPublication, before this event's successors).
	Recovered bool
	// Unrecoverable: publications were missed and cannot be recovered
	// (the stream restarted or trimmed them). Reload the state from the
	// application's own source or from History.
	Unrecoverable bool
	Position      StreamPosition
	// Presence is the snapshot asked for with SubscriptionOptions.Presence.
	Presence map[string]ClientInfo
}

// UnsubscribedEvent is passed to SubscriptionOptions.OnUnsubscribed when
// the subscription ends for good: Unsubscribe was called (Code 0), or the
// server refused or ended it.
type UnsubscribedEvent struct {
	Channel string
	Code    int
	Reason  string
}
