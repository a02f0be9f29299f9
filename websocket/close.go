package websocket

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// StatusCode is a WebSocket close status code (RFC 6455 §7.4).
type StatusCode int

// Close status codes registered by RFC 6455 §7.4.1 and the IANA registry.
const (
	StatusNormalClosure           StatusCode = 1000
	StatusGoingAway               StatusCode = 1001
	StatusProtocolError           StatusCode = 1002
	StatusUnsupportedData         StatusCode = 1003
	StatusNoStatusRcvd            StatusCode = 1005 // never sent: the peer's close frame had no code
	StatusAbnormalClosure         StatusCode = 1006 // never sent: the connection dropped without a close frame
	StatusInvalidFramePayloadData StatusCode = 1007
	StatusPolicyViolation         StatusCode = 1008
	StatusMessageTooBig           StatusCode = 1009
	StatusMandatoryExtension      StatusCode = 1010
	StatusInternalError           StatusCode = 1011
	StatusServiceRestart          StatusCode = 1012
	StatusTryAgainLater           StatusCode = 1013
	StatusBadGateway              StatusCode = 1014
	StatusTLSHandshake            StatusCode = 1015 // never sent
)

// maxCloseReason is the longest close reason that fits a control frame:
// 125 bytes of payload minus the two-byte code.
const maxCloseReason = 123

var statusNames = map[StatusCode]string{
	StatusNormalClosure:           "normal closure",
	StatusGoingAway:               "going away",
	StatusProtocolError:           "protocol error",
	StatusUnsupportedData:         "unsupported data",
	StatusNoStatusRcvd:            "no status",
	StatusAbnormalClosure:         "abnormal closure",
	StatusInvalidFramePayloadData: "invalid payload data",
	StatusPolicyViolation:         "policy violation",
	StatusMessageTooBig:           "message too big",
	StatusMandatoryExtension:      "mandatory extension",
	StatusInternalError:           "internal error",
	StatusServiceRestart:          "service restart",
	StatusTryAgainLater:           "try again later",
	StatusBadGateway:              "bad gateway",
	StatusTLSHandshake:            "TLS handshake failure",
}

// String returns the code and its registered name, such as "1000 (normal closure)".
func (s StatusCode) String() string {
	if n, ok := statusNames[s]; ok {
		return strconv.Itoa(int(s)) + " (" + n + ")"
	}
	return strconv.Itoa(int(s))
}

// validWireCode reports whether code may appear in a close frame on the wire
// (RFC 6455 §7.4): the registered codes except those reserved for local use,
// and the ranges 3000–3999 (registered by libraries and frameworks) and
// 4000–4999 (private use).
func validWireCode(code StatusCode) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// CloseError is the error returned when the peer closes the connection with a
// close frame. Code is StatusNoStatusRcvd when the frame carried no code.
type CloseError struct {
	// Code is the status code of the peer's close frame.
	Code StatusCode
	// Reason is the UTF-8 reason of the peer's close frame, often empty.
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("websocket: closed by peer with status %v", e.Code)
	}
	return fmt.Sprintf("websocket: closed by peer with status %v and reason %q", e.Code, e.Reason)
}

// CloseStatus returns the status code of the CloseError in err's chain, or -1
// when err was not caused by a close frame from the peer.
func CloseStatus(err error) StatusCode {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// parseClosePayload decodes a received close frame payload and checks it as
// RFC 6455 §5.5.1 and §7.4 require. The returned code is the one to fail the
// connection with when the payload is invalid.
func parseClosePayload(p []byte) (ce CloseError, failCode StatusCode, err error) {
	switch {
	case len(p) == 0:
		return CloseError{Code: StatusNoStatusRcvd}, 0, nil
	case len(p) == 1:
		return ce, StatusProtocolError, errors.New("websocket: close frame payload of one byte: a code needs two")
	}
	code := StatusCode(int(p[0])<<8 | int(p[1]))
	if !validWireCode(code) {
		return ce, StatusProtocolError, fmt.Errorf("websocket: close frame with invalid status code %d", code)
	}
	reason := p[2:]
	if !utf8.Valid(reason) {
		return ce, StatusInvalidFramePayloadData, fmt.Errorf("%w: the close frame reason is not valid UTF-8", ErrInvalidUTF8)
	}
	return CloseError{Code: code, Reason: string(reason)}, 0, nil
}

// checkOutgoingClose validates a code and reason given to Close.
func checkOutgoingClose(code StatusCode, reason string) error {
	if !validWireCode(code) {
		return fmt.Errorf("websocket: status code %d may not be sent in a close frame; use 1000–1003, 1007–1014 or 3000–4999", code)
	}
	if len(reason) > maxCloseReason {
		return fmt.Errorf("websocket: close reason is %d bytes; at most %d fit a close frame", len(reason), maxCloseReason)
	}
	if !utf8.ValidString(reason) {
		return errors.New("websocket: close reason must be valid UTF-8")
	}
	return nil
}

// appendClosePayload appends the payload of a close frame for code and reason.
// StatusNoStatusRcvd produces an empty payload.
func appendClosePayload(b []byte, code StatusCode, reason string) []byte {
	if code == StatusNoStatusRcvd {
		return b
	}
	b = append(b, byte(code>>8), byte(code))
	return append(b, reason...)
}
