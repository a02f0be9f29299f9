package websocket

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// opcode is a frame's opcode (RFC 6455 §5.2).
type opcode byte

const (
	opContinuation opcode = 0x0
	opText         opcode = 0x1
	opBinary       opcode = 0x2
	opClose        opcode = 0x8
	opPing         opcode = 0x9
	opPong         opcode = 0xA
)

func (op opcode) isControl() bool { return op&0x8 != 0 }

func (op opcode) String() string {
	switch op {
	case opContinuation:
		return "continuation"
	case opText:
		return "text"
	case opBinary:
		return "binary"
	case opClose:
		return "close"
	case opPing:
		return "ping"
	case opPong:
		return "pong"
	}
	return fmt.Sprintf("reserved opcode %#x", byte(op))
}

// Header bits of the first byte.
const (
	bitFin  = 0x80
	bitRSV1 = 0x40
	bitRSV2 = 0x20
	bitRSV3 = 0x10
	bitMask = 0x80
)

// maxHeaderSize is the largest frame header: 2 bytes, 8 bytes of extended
// length and a 4-byte masking key.
const maxHeaderSize = 14

// maxControlPayload is the largest payload of a control frame (RFC 6455 §5.5).
const maxControlPayload = 125

// frameHeader is a decoded frame header.
type frameHeader struct {
	fin    bool
	rsv    byte // the three reserved bits, as in the first header byte
	op     opcode
	masked bool
	length int64
	key    [4]byte
}

// errHeaderShort means more bytes are needed to decode a header.
var errHeaderShort = errors.New("websocket: frame header incomplete")

// headerSize returns the size of the header that starts with the two bytes
// b0 and b1.
func headerSize(b1 byte) int {
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&bitMask != 0 {
		n += 4
	}
	return n
}

// parseHeader decodes the frame header at the start of b. It returns
// errHeaderShort when b holds less than a whole header. It checks only what
// the header alone can tell: a 64-bit length with its top bit set.
func parseHeader(b []byte) (h frameHeader, n int, err error) {
	if len(b) < 2 {
		return h, 0, errHeaderShort
	}
	n = headerSize(b[1])
	if len(b) < n {
		return h, 0, errHeaderShort
	}
	h.fin = b[0]&bitFin != 0
	h.rsv = b[0] & (bitRSV1 | bitRSV2 | bitRSV3)
	h.op = opcode(b[0] & 0x0F)
	h.masked = b[1]&bitMask != 0
	p := 2
	switch l := b[1] & 0x7F; l {
	case 126:
		h.length = int64(binary.BigEndian.Uint16(b[2:]))
		p = 4
	case 127:
		u := binary.BigEndian.Uint64(b[2:])
		if u>>63 != 0 {
			return h, n, errors.New("websocket: frame length has its most significant bit set")
		}
		h.length = int64(u)
		p = 10
	default:
		h.length = int64(l)
	}
	if h.masked {
		copy(h.key[:], b[p:p+4])
	}
	return h, n, nil
}

// appendHeader appends an encoded frame header to b, using the minimal length
// encoding as RFC 6455 §5.2 requires.
func appendHeader(b []byte, fin bool, rsv byte, op opcode, length int64, masked bool, key [4]byte) []byte {
	b0 := byte(op) | rsv
	if fin {
		b0 |= bitFin
	}
	var mbit byte
	if masked {
		mbit = bitMask
	}
	switch {
	case length <= 125:
		b = append(b, b0, mbit|byte(length))
	case length <= 0xFFFF:
		b = append(b, b0, mbit|126, byte(length>>8), byte(length))
	default:
		b = append(b, b0, mbit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(length))
	}
	if masked {
		b = append(b, key[:]...)
	}
	return b
}
