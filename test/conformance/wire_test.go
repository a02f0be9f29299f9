package conformance_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
)

// Opcodes of RFC 6455 §5.2, written out here rather than taken from the
// package under test: the suite must not share the code it checks.
const (
	opCont   byte = 0x0
	opText   byte = 0x1
	opBinary byte = 0x2
	opClose  byte = 0x8
	opPing   byte = 0x9
	opPong   byte = 0xA
)

// Reserved bits as they sit in the first header byte.
const (
	rsv1 byte = 0x40
	rsv2 byte = 0x20
	rsv3 byte = 0x10
)

// rsvBits turns the catalogue's RSV number (1–7, RSV1 being the high bit)
// into header bits.
func rsvBits(n int) byte { return byte(n&7) << 4 }

// appendHeader appends a frame header. length is written with the minimal
// encoding unless it does not fit; key nil means unmasked.
func appendHeader(b []byte, fin bool, rsv, op byte, length uint64, key *[4]byte) []byte {
	b0 := rsv | op&0x0F
	if fin {
		b0 |= 0x80
	}
	var m byte
	if key != nil {
		m = 0x80
	}
	switch {
	case length <= 125:
		b = append(b, b0, m|byte(length))
	case length <= 0xFFFF:
		b = append(b, b0, m|126, byte(length>>8), byte(length))
	default:
		b = append(b, b0, m|127)
		b = binary.BigEndian.AppendUint64(b, length)
	}
	if key != nil {
		b = append(b, key[:]...)
	}
	return b
}

// encodeFrame builds a whole frame; key nil means unmasked.
func encodeFrame(fin bool, rsv, op byte, payload []byte, key *[4]byte) []byte {
	b := appendHeader(make([]byte, 0, 14+len(payload)), fin, rsv, op, uint64(len(payload)), key)
	start := len(b)
	b = append(b, payload...)
	if key != nil {
		maskAt(*key, 0, b[start:])
	}
	return b
}

// randomKey returns a masking key.
func randomKey() *[4]byte {
	var k [4]byte
	binary.LittleEndian.PutUint32(k[:], rand.Uint32())
	return &k
}

// maskAt XORs b with key, b[0] being byte pos of the masked payload, eight
// bytes at a time so that megabytes cost little under the race detector.
func maskAt(key [4]byte, pos int, b []byte) {
	var rot [4]byte
	for i := range rot {
		rot[i] = key[(pos+i)&3]
	}
	k32 := binary.LittleEndian.Uint32(rot[:])
	k64 := uint64(k32) | uint64(k32)<<32
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= rot[i&3]
	}
}

// wireFrame is a frame read from the peer, payload unmasked.
type wireFrame struct {
	fin     bool
	rsv     byte
	op      byte
	masked  bool
	payload []byte
}

func (f wireFrame) String() string {
	p := f.payload
	more := ""
	if len(p) > 32 {
		p, more = p[:32], fmt.Sprintf("… (%d bytes)", len(f.payload))
	}
	return fmt.Sprintf("{op=%#x fin=%v rsv=%#x masked=%v payload=%q%s}", f.op, f.fin, f.rsv, f.masked, p, more)
}

// errNonMinimal reports a frame whose length is not minimally encoded,
// which RFC 6455 §5.2 forbids a sender to do.
var errNonMinimal = errors.New("frame length not in its minimal encoding (RFC 6455 §5.2)")

// readWireFrame reads one frame, refusing payloads over maxLen.
func readWireFrame(r io.Reader, maxLen uint64) (wireFrame, error) {
	var h [14]byte
	if _, err := io.ReadFull(r, h[:2]); err != nil {
		return wireFrame{}, err
	}
	f := wireFrame{fin: h[0]&0x80 != 0, rsv: h[0] & 0x70, op: h[0] & 0x0F, masked: h[1]&0x80 != 0}
	length := uint64(h[1] & 0x7F)
	switch length {
	case 126:
		if _, err := io.ReadFull(r, h[2:4]); err != nil {
			return f, truncated(err)
		}
		length = uint64(binary.BigEndian.Uint16(h[2:4]))
		if length <= 125 {
			return f, errNonMinimal
		}
	case 127:
		if _, err := io.ReadFull(r, h[2:10]); err != nil {
			return f, truncated(err)
		}
		length = binary.BigEndian.Uint64(h[2:10])
		if length <= 0xFFFF {
			return f, errNonMinimal
		}
	}
	if length > maxLen {
		return f, fmt.Errorf("frame of %d bytes is over the %d this test expects", length, maxLen)
	}
	var key [4]byte
	if f.masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return f, truncated(err)
		}
	}
	f.payload = make([]byte, length)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, truncated(err)
	}
	if f.masked {
		maskAt(key, 0, f.payload)
	}
	return f, nil
}

func truncated(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// closePayload builds a close frame payload; code < 0 means none.
func closePayload(code int, reason string) []byte {
	if code < 0 {
		return nil
	}
	return append([]byte{byte(code >> 8), byte(code)}, reason...)
}
