package server

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/duplexws/duplex/hub"
)

// The wire format is built by appending to byte slices rather than through
// encoding/json: a publication push is encoded once per fan-out, but a
// reply to publish or subscribe is encoded per command, and both are on the
// hot path. Opaque JSON (data, info) is copied as is: it was valid JSON when
// it arrived.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// U+2028 and U+2029 are escaped so the output is also valid JavaScript.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendRaw appends opaque JSON, or null when it is empty.
func appendRaw(b []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

// appendClientInfo appends the protocol's ClientInfo: info is the
// subscription's info when it has one, else the connection's.
func appendClientInfo(b []byte, ci *hub.ClientInfo) []byte {
	b = append(b, `{"client":`...)
	b = appendString(b, ci.Client)
	b = append(b, `,"user":`...)
	b = appendString(b, ci.User)
	info := ci.ChanInfo
	if len(info) == 0 {
		info = ci.ConnInfo
	}
	if len(info) > 0 {
		b = append(b, `,"info":`...)
		b = append(b, info...)
	}
	return append(b, '}')
}

// appendPublicationFields appends the members of a Publication without the
// braces, after whatever members b already holds (first tells whether a
// comma is needed).
func appendPublicationFields(b []byte, p *hub.Publication, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	if p.Offset > 0 {
		b = append(b, `"offset":`...)
		b = strconv.AppendUint(b, p.Offset, 10)
		b = append(b, `,"epoch":`...)
		b = appendString(b, p.Epoch)
		b = append(b, ',')
	}
	b = append(b, `"data":`...)
	b = appendRaw(b, p.Data)
	if p.Info != nil {
		b = append(b, `,"info":`...)
		b = appendClientInfo(b, p.Info)
	}
	return b
}

// appendPublication appends a Publication object.
func appendPublication(b []byte, p *hub.Publication) []byte {
	b = append(b, '{')
	b = appendPublicationFields(b, p, true)
	return append(b, '}')
}

// appendPublications appends an array of Publication objects.
func appendPublications(b []byte, pubs []*hub.Publication) []byte {
	b = append(b, '[')
	for i, p := range pubs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPublication(b, p)
	}
	return append(b, ']')
}

// appendPresence appends {"<client>": ClientInfo, ...}.
func appendPresence(b []byte, clients map[string]*hub.ClientInfo) []byte {
	b = append(b, '{')
	first := true
	for id, ci := range clients {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, id)
		b = append(b, ':')
		b = appendClientInfo(b, ci)
	}
	return append(b, '}')
}

// encodePush is the hub encoding of pushes: one JSON text message.
func encodePush(p *hub.Push) ([]byte, error) {
	size := 64 + len(p.Channel)
	if p.Publication != nil {
		size += len(p.Publication.Data) + len(p.Publication.Epoch)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"push":"`...)
	b = append(b, p.Kind.String()...)
	b = append(b, `","channel":`...)
	b = appendString(b, p.Channel)
	switch p.Kind {
	case hub.PushPublication:
		b = appendPublicationFields(b, p.Publication, false)
	case hub.PushJoin, hub.PushLeave:
		b = append(b, `,"info":`...)
		b = appendClientInfo(b, p.Info)
	}
	return append(b, '}'), nil
}

// jsonEncoding is the one encoding of pushes the server uses; the hub
// caches its output per push.
var jsonEncoding = hub.NewEncoding("json", encodePush)

// appendReplyStart appends `{"id":N,"result":` for a reply.
func appendReplyStart(b []byte, id uint32) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, uint64(id), 10)
	return append(b, `,"result":`...)
}

// errorReply encodes an error reply.
func errorReply(id uint32, e *Error) []byte {
	b := make([]byte, 0, 64+len(e.Message))
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, uint64(id), 10)
	b = append(b, `,"error":`...)
	b = appendError(b, e)
	return append(b, '}')
}

func appendError(b []byte, e *Error) []byte {
	b = append(b, `{"code":`...)
	b = strconv.AppendInt(b, int64(e.Code), 10)
	b = append(b, `,"message":`...)
	b = appendString(b, e.Message)
	b = append(b, `,"temporary":`...)
	b = strconv.AppendBool(b, e.Temporary)
	return append(b, '}')
}

// disconnectPush encodes a disconnect push.
func disconnectPush(code int, reason string) []byte {
	b := make([]byte, 0, 80)
	b = append(b, `{"push":"disconnect","code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"reason":`...)
	b = appendString(b, reason)
	b = append(b, `,"reconnect":`...)
	b = strconv.AppendBool(b, reconnectAllowed(code))
	return append(b, '}')
}

// unsubscribePush encodes an unsubscribe push.
func unsubscribePush(channel string, code int, reason string, resubscribe bool) []byte {
	b := make([]byte, 0, 96+len(channel))
	b = append(b, `{"push":"unsubscribe","channel":`...)
	b = appendString(b, channel)
	b = append(b, `,"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"reason":`...)
	b = appendString(b, reason)
	b = append(b, `,"resubscribe":`...)
	b = strconv.AppendBool(b, resubscribe)
	return append(b, '}')
}

// appendPosition appends "offset":N,"epoch":"E" (no braces).
func appendPosition(b []byte, pos hub.StreamPosition) []byte {
	b = append(b, `"offset":`...)
	b = strconv.AppendUint(b, pos.Offset, 10)
	b = append(b, `,"epoch":`...)
	return appendString(b, pos.Epoch)
}

// appendExpiry appends "expires":bool[,"ttl":N] (no braces).
func appendExpiry(b []byte, ttl int64, expires bool) []byte {
	b = append(b, `"expires":`...)
	b = strconv.AppendBool(b, expires)
	if expires {
		b = append(b, `,"ttl":`...)
		b = strconv.AppendInt(b, ttl, 10)
	}
	return b
}
