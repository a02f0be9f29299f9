package server

import "fmt"

// Error codes of command replies and of the HTTP API (docs/protocol.md
// section 10).
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

// Error is an error a client or backend receives in a reply: a code from
// the protocol's table, a message for humans, and whether repeating the same
// request later may succeed.
type Error struct {
	Code      int    `json:"code"`
	Message   string `json:"message"`
	Temporary bool   `json:"temporary"`
}

// Error returns the message with its code.
func (e *Error) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// newError returns an Error whose temporary flag follows the code's row in
// the protocol's table.
func newError(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Temporary: code == CodeInternal || code == CodeTooManyRequests}
}

// Disconnect codes (docs/protocol.md section 11). 4000-4499 tell the client
// to reconnect; 4500-4999 tell it not to.
const (
	DisconnectShutdown       = 4001
	DisconnectInternal       = 4002
	DisconnectExpired        = 4003
	DisconnectStale          = 4004
	DisconnectNoPong         = 4005
	DisconnectSlow           = 4006
	DisconnectWriteError     = 4007
	DisconnectInsufficient   = 4008
	DisconnectForceReconnect = 4009
	DisconnectTooLarge       = 4010
	DisconnectBadRequest     = 4500
	DisconnectUnauthorized   = 4501
	DisconnectForced         = 4502
	DisconnectConnLimit      = 4503
)

// disconnectReasons are the reasons sent with each code.
var disconnectReasons = map[int]string{
	DisconnectShutdown:       "shutdown",
	DisconnectInternal:       "internal error",
	DisconnectExpired:        "expired",
	DisconnectStale:          "stale",
	DisconnectNoPong:         "no pong",
	DisconnectSlow:           "slow",
	DisconnectWriteError:     "write error",
	DisconnectInsufficient:   "insufficient state",
	DisconnectForceReconnect: "force reconnect",
	DisconnectTooLarge:       "message too large",
	DisconnectBadRequest:     "bad request",
	DisconnectUnauthorized:   "unauthorized",
	DisconnectForced:         "forced disconnect",
	DisconnectConnLimit:      "connection limit",
}

// reconnectAllowed reports whether code tells the client to reconnect.
func reconnectAllowed(code int) bool { return code < 4500 || code > 4999 }

// connectErrorDisconnect maps a failed connect's error code to the close
// code that follows it (section 11).
func connectErrorDisconnect(code int) int {
	switch code {
	case CodeUnauthorized:
		return DisconnectUnauthorized
	case CodeLimitExceeded:
		return DisconnectConnLimit
	case CodeBadRequest:
		return DisconnectBadRequest
	case CodeTokenExpired:
		return DisconnectExpired
	}
	return DisconnectInternal
}

// Unsubscribe push codes (section 8).
const (
	unsubscribeServer      = 2000
	unsubscribeExpired     = 2001
	unsubscribeResubscribe = 2500
)
