package websocket

import (
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strings"
)

// keyGUID is the GUID that RFC 6455 §1.3 appends to Sec-WebSocket-Key.
const keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func acceptKey(key string) string { return string(appendAcceptKey(nil, key)) }

// appendAcceptKey appends the Sec-WebSocket-Accept value for key to dst.
func appendAcceptKey(dst []byte, key string) []byte {
	var in [64]byte // a valid key is 24 bytes, the GUID 36
	b := append(append(in[:0], key...), keyGUID...)
	sum := sha1.Sum(b)
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// headerHasToken reports whether any value of the header named name holds
// token in its comma-separated list, compared case-insensitively (RFC 9110
// §5.6.1: lists may repeat a header and carry empty elements).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// headerTokens returns the elements of all the comma-separated values of the
// header named name, trimmed, without empty ones.
func headerTokens(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}
