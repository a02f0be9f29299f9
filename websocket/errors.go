package websocket

import (
	"errors"
	"net"
)

// ErrClosed is returned by operations on a connection that has been closed,
// by either side. It wraps net.ErrClosed, so errors.Is(err, net.ErrClosed)
// holds as well.
var ErrClosed = &closedError{}

type closedError struct{}

func (*closedError) Error() string { return "websocket: use of closed connection" }
func (*closedError) Unwrap() error { return net.ErrClosed }

// ErrReadLimit is wrapped by the error returned when a message is larger than
// the read limit. The connection is closed with StatusMessageTooBig (1009);
// raise the limit with SetReadLimit or the ReadLimit option.
var ErrReadLimit = errors.New("websocket: message exceeds the read limit")

// ErrProtocol is wrapped by the errors returned when the peer broke the
// protocol. The connection has been closed with the matching status code.
var ErrProtocol = errors.New("websocket: protocol error")

// ErrInvalidUTF8 is wrapped by the error returned when a text message or a
// close reason is not valid UTF-8. The connection has been closed with
// StatusInvalidFramePayloadData (1007).
var ErrInvalidUTF8 = errors.New("websocket: invalid UTF-8 in text message")

var errCancelledMidMessage = errors.New("websocket: read cancelled in the middle of a message; the connection was closed because the message cannot be resumed")
