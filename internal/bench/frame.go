package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

const (
	bitFin  = 0x80
	bitRSV1 = 0x40
	bitMask = 0x80
)

// appendClientFrame appends one final, masked frame carrying payload. Client
// frames must be masked (RFC 6455 §5.3); the generator masks each message
// once, when it builds its frame bank, and then only copies bytes.
func appendClientFrame(dst []byte, op byte, rsv1 bool, payload []byte, key [4]byte) []byte {
	b0 := bitFin | op
	if rsv1 {
		b0 |= bitRSV1
	}
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, b0, bitMask|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, b0, bitMask|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, bitMask|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= key[i&3]
	}
	return dst
}

// errMaskedServerFrame is returned for a server frame with the mask bit set,
// which RFC 6455 §5.1 forbids.
var errMaskedServerFrame = errors.New("the server sent a masked frame (RFC 6455 §5.1 forbids it)")

// frameHeader is a parsed frame header.
type frameHeader struct {
	fin    bool
	rsv1   bool
	op     byte
	length int64
	size   int // bytes taken by the header itself
}

// parseServerHeader parses the header at the start of b. ok is false when b
// does not hold the whole header yet.
func parseServerHeader(b []byte) (h frameHeader, ok bool, err error) {
	if len(b) < 2 {
		return h, false, nil
	}
	h.fin = b[0]&bitFin != 0
	h.rsv1 = b[0]&bitRSV1 != 0
	if b[0]&0x30 != 0 {
		return h, false, fmt.Errorf("the server set RSV2 or RSV3 (byte 0x%02x) without an extension that defines them", b[0])
	}
	h.op = b[0] & 0x0F
	if b[1]&bitMask != 0 {
		return h, false, errMaskedServerFrame
	}
	switch n := b[1] & 0x7F; n {
	case 126:
		if len(b) < 4 {
			return h, false, nil
		}
		h.length = int64(binary.BigEndian.Uint16(b[2:4]))
		h.size = 4
	case 127:
		if len(b) < 10 {
			return h, false, nil
		}
		u := binary.BigEndian.Uint64(b[2:10])
		if u > 1<<62 {
			return h, false, fmt.Errorf("frame length %d is out of range", u)
		}
		h.length = int64(u)
		h.size = 10
	default:
		h.length = int64(n)
		h.size = 2
	}
	if h.op >= opClose {
		if !h.fin || h.length > 125 {
			return h, false, fmt.Errorf("control frame 0x%x is fragmented or longer than 125 bytes", h.op)
		}
	}
	return h, true, nil
}

// closeFrame returns a masked close frame with code and reason.
func closeFrame(code uint16, reason string, key [4]byte) []byte {
	p := binary.BigEndian.AppendUint16(nil, code)
	p = append(p, reason...)
	return appendClientFrame(nil, opClose, false, p, key)
}

// parseClosePayload decodes a close frame's payload; code 1005 means none.
func parseClosePayload(p []byte) (code uint16, reason string) {
	if len(p) < 2 {
		return 1005, ""
	}
	return binary.BigEndian.Uint16(p), string(p[2:])
}
