//go:build linux && amd64

package main

import "encoding/binary"

// WebSocket framing (RFC 6455 §5), streaming: a frame's header is gathered
// (it may arrive in pieces), then its payload is unmasked straight into the
// connection's output behind the echo's header as the bytes arrive, so a
// frame split over any number of receives costs no extra copy and no
// per-connection reassembly buffer. Data frames are echoed frame by frame
// (same FIN bit and opcode), which keeps fragmented messages intact.
// Control frames (≤ 125 bytes) are gathered whole, then answered.

const (
	opCont  = 0x0
	opText  = 0x1
	opBin   = 0x2
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA

	closeProtocolError = 1002
)

// parser is the per-connection frame state.
type parser struct {
	hdr       [14]byte // header being gathered
	hdrN      int
	inPayload bool
	op        byte
	remain    uint64 // payload bytes still to come
	mask      [4]byte
	maskPos   int
	ctl       [125]byte // control frame payload
	ctlN      int
}

// headerSize is the size of a masked client frame's header, from its
// second byte.
func headerSize(b1 byte) int {
	switch b1 & 0x7f {
	case 126:
		return 2 + 2 + 4
	case 127:
		return 2 + 8 + 4
	}
	return 2 + 4
}

// consume parses the client's bytes, appending the answers to c.out.
// It stops at a close frame or a protocol error (c.state leaves stOpen).
func (c *conn) consume(data []byte) {
	p := &c.p
	for len(data) > 0 && c.state == stOpen {
		if !p.inPayload {
			need := 2
			if p.hdrN >= 2 {
				need = headerSize(p.hdr[1])
			}
			n := copy(p.hdr[p.hdrN:need], data)
			p.hdrN += n
			data = data[n:]
			if p.hdrN < need {
				continue
			}
			if need == 2 {
				if p.hdr[1]&0x80 == 0 { // client frames must be masked
					c.fail(closeProtocolError)
				}
				continue // now the header's size is known
			}
			c.startFrame()
			continue
		}
		n := len(data)
		if uint64(n) > p.remain {
			n = int(p.remain)
		}
		if p.op >= opClose {
			p.ctlN += copy(p.ctl[p.ctlN:], data[:n])
		} else {
			off := len(c.out)
			c.out = append(c.out, data[:n]...)
			p.maskPos = unmask(c.out[off:], p.mask, p.maskPos)
		}
		data = data[n:]
		p.remain -= uint64(n)
		if p.remain == 0 {
			c.endFrame()
		}
	}
}

// startFrame interprets a complete header.
func (c *conn) startFrame() {
	p := &c.p
	b0 := p.hdr[0]
	p.hdrN = 0
	if b0&0x70 != 0 { // no extension negotiated: RSV bits must be 0
		c.fail(closeProtocolError)
		return
	}
	var n uint64
	i := 2
	switch l := p.hdr[1] & 0x7f; l {
	case 126:
		n, i = uint64(binary.BigEndian.Uint16(p.hdr[2:])), 4
	case 127:
		n, i = binary.BigEndian.Uint64(p.hdr[2:]), 10
		if n>>63 != 0 {
			c.fail(closeProtocolError)
			return
		}
	default:
		n = uint64(l)
	}
	copy(p.mask[:], p.hdr[i:i+4])
	p.maskPos = 0
	p.op = b0 & 0x0f
	p.remain = n
	switch p.op {
	case opCont, opText, opBin:
		c.out = appendHeader(c.out, b0&0x8f, n)
	case opClose, opPing, opPong:
		if b0&0x80 == 0 || n > 125 {
			c.fail(closeProtocolError)
			return
		}
		p.ctlN = 0
	default:
		c.fail(closeProtocolError)
		return
	}
	p.inPayload = true
	if n == 0 {
		c.endFrame()
	}
}

// endFrame finishes a frame whose payload is all in.
func (c *conn) endFrame() {
	p := &c.p
	p.inPayload = false
	switch p.op {
	case opPing:
		unmask(p.ctl[:p.ctlN], p.mask, 0)
		c.out = appendHeader(c.out, 0x80|opPong, uint64(p.ctlN))
		c.out = append(c.out, p.ctl[:p.ctlN]...)
	case opClose:
		switch p.ctlN {
		case 0:
			c.out = append(c.out, 0x80|opClose, 0)
			c.state = stClosing
		case 1:
			c.fail(closeProtocolError)
		default: // echo the status code
			unmask(p.ctl[:2], p.mask, 0)
			c.out = append(c.out, 0x80|opClose, 2, p.ctl[0], p.ctl[1])
			c.state = stClosing
		}
	}
}

// fail answers with a close frame carrying code and stops reading.
func (c *conn) fail(code uint16) {
	c.out = append(c.out, 0x80|opClose, 2, byte(code>>8), byte(code))
	c.state = stClosing
}

// appendHeader appends an unmasked server frame header.
func appendHeader(b []byte, b0 byte, n uint64) []byte {
	switch {
	case n <= 125:
		return append(b, b0, byte(n))
	case n <= 0xffff:
		return append(b, b0, 126, byte(n>>8), byte(n))
	}
	b = append(b, b0, 127)
	return binary.BigEndian.AppendUint64(b, n)
}

// unmask XORs b with the masking key starting at key byte pos and returns
// the position after b.
func unmask(b []byte, key [4]byte, pos int) int {
	if len(b) >= 8 {
		var k [8]byte
		for i := range k {
			k[i] = key[(pos+i)&3]
		}
		kw := binary.LittleEndian.Uint64(k[:])
		for len(b) >= 8 { // 8 bytes leave pos unchanged (mod 4)
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^kw)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= key[pos&3]
		pos++
	}
	return pos & 3
}
