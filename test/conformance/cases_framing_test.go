package conformance_test

import (
	"bytes"
	"fmt"
)

// Groups 1 to 4 of the catalogue: payload lengths, pings and pongs,
// reserved bits, reserved opcodes (RFC 6455 §5.2, §5.5, §5.7).

// group1 — framing: text (1.1.x) and binary (1.2.x) messages whose payload
// lengths sit on the boundaries of the 7-bit, 16-bit and 64-bit length
// encodings; 1.x.8 is sent in chops of 997 bytes.
func group1() []wsCase {
	var cs []wsCase
	lengths := []int{0, 125, 126, 127, 128, 65535, 65536}
	for gi, g := range []struct {
		op   byte
		fill string
	}{{opText, "*"}, {opBinary, "\xfe"}} {
		for i, n := range lengths {
			payload := repeatTo(g.fill, n)
			cs = append(cs, echoCase(fmt.Sprintf("1.%d.%d", gi+1, i+1),
				fmt.Sprintf("Send %s message with payload of length %d.", opName(g.op), n),
				g.op, payload, func(p *peer) [][]byte { return [][]byte{p.msg(g.op, payload)} }))
		}
		payload := repeatTo(g.fill, 65536)
		cs = append(cs, wsCase{id: fmt.Sprintf("1.%d.8", gi+1),
			desc: fmt.Sprintf("Send %s message with payload of length 65536, sent in chops of 997 octets.", opName(g.op)),
			run: func(p *peer) {
				p.sendChopped(p.msg(g.op, payload), 997)
				p.expectMessage(g.op, payload)
				p.closeNormally()
			}})
	}
	return cs
}

// group2 — pings and pongs (RFC 6455 §5.5.2, §5.5.3).
func group2() []wsCase {
	pingEcho := func(id, desc string, payload []byte, chop int) wsCase {
		return wsCase{id: id, desc: desc, run: func(p *peer) {
			p.sendChopped(p.msg(opPing, payload), chop)
			p.expectPong(payload)
			p.closeNormally()
		}}
	}
	big := 1 << 20
	cs := []wsCase{
		pingEcho("2.1", "Send ping without payload.", nil, big),
		pingEcho("2.2", "Send ping with small text payload.", []byte("Hello, world!"), big),
		pingEcho("2.3", "Send ping with small binary (non UTF-8) payload.", []byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff}, big),
		pingEcho("2.4", "Send ping with binary payload of 125 octets.", bytes.Repeat([]byte{0xfe}, 125), big),
		failCase("2.5", "Send ping with binary payload of 126 octets: control frames carry at most 125.", 1002,
			func(p *peer) [][]byte { return [][]byte{p.msg(opPing, bytes.Repeat([]byte{0xfe}, 126))} }),
		pingEcho("2.6", "Send ping with binary payload of 125 octets, sent in octet-wise chops.", bytes.Repeat([]byte{0xfe}, 125), 1),
		{id: "2.7", desc: "Send unsolicited pong without payload: nothing comes back.", run: func(p *peer) {
			p.send(p.msg(opPong, nil))
			p.closeNormally()
		}},
		{id: "2.8", desc: "Send unsolicited pong with payload: nothing comes back.", run: func(p *peer) {
			p.send(p.msg(opPong, []byte("unsolicited pong payload")))
			p.closeNormally()
		}},
		{id: "2.9", desc: "Send unsolicited pong with payload, then ping with payload: only the pong for the ping comes back.", run: func(p *peer) {
			p.send(p.msg(opPong, []byte("unsolicited pong payload")), p.msg(opPing, []byte("ping payload")))
			p.expectPong([]byte("ping payload"))
			p.closeNormally()
		}},
	}
	tenPings := func(id, desc string, chop int) wsCase {
		return wsCase{id: id, desc: desc, run: func(p *peer) {
			var b []byte
			for i := range 10 {
				b = append(b, p.msg(opPing, fmt.Appendf(nil, "payload-%d", i))...)
			}
			p.sendChopped(b, chop)
			for i := range 10 {
				p.expectPong(fmt.Appendf(nil, "payload-%d", i))
			}
			p.closeNormally()
		}}
	}
	return append(cs,
		tenPings("2.10", "Send 10 pings with payload: 10 pongs come back, in order.", big),
		tenPings("2.11", "Send 10 pings with payload, sent in octet-wise chops.", 1))
}

// group3 — reserved bits set without an extension that defines them
// (RFC 6455 §5.2): the connection is failed with 1002; what came before is
// still echoed and what came after is not answered.
func group3() []wsCase {
	hello := []byte("Hello, world!")
	afterEcho := func(id, desc string, rsv int, send func(p *peer, frames ...[]byte)) wsCase {
		return wsCase{id: id, desc: desc, run: func(p *peer) {
			send(p, p.msg(opText, hello), p.frame(true, rsvBits(rsv), opText, hello), p.msg(opPing, nil))
			p.expectMessage(opText, hello)
			p.expectFailure(1002)
		}}
	}
	return []wsCase{
		failCase("3.1", "Send small text message with RSV = 1.", 1002,
			func(p *peer) [][]byte { return [][]byte{p.frame(true, rsvBits(1), opText, hello)} }),
		afterEcho("3.2", "Send small text message, then another with RSV = 2, then a ping.", 2,
			func(p *peer, f ...[]byte) { p.send(f...) }),
		afterEcho("3.3", "Send small text message, then another with RSV = 3, then a ping, in frame-wise chops.", 3,
			func(p *peer, f ...[]byte) { p.sendEach(f...) }),
		afterEcho("3.4", "Send small text message, then another with RSV = 4, then a ping, in octet-wise chops.", 4,
			func(p *peer, f ...[]byte) { p.sendChopped(bytes.Join(f, nil), 1) }),
		failCase("3.5", "Send small binary message with RSV = 5.", 1002,
			func(p *peer) [][]byte {
				return [][]byte{p.frame(true, rsvBits(5), opBinary, []byte{0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff})}
			}),
		failCase("3.6", "Send ping with RSV = 6.", 1002,
			func(p *peer) [][]byte { return [][]byte{p.frame(true, rsvBits(6), opPing, hello)} }),
		failCase("3.7", "Send close with RSV = 7: the close is not honoured, the connection is failed.", 1002,
			func(p *peer) [][]byte { return [][]byte{p.frame(true, rsvBits(7), opClose, closePayload(1000, ""))} }),
	}
}

// group4 — reserved opcodes (RFC 6455 §5.2): data opcodes 3–7 (4.1.x) and
// control opcodes 11–15 (4.2.x) fail the connection with 1002.
func group4() []wsCase {
	var cs []wsCase
	for gi, ops := range [][]byte{{3, 4, 5, 6, 7}, {11, 12, 13, 14, 15}} {
		for i, op := range ops {
			id := fmt.Sprintf("4.%d.%d", gi+1, i+1)
			var payload []byte
			if i == 1 || i >= 3 { // the catalogue sends a payload in x.2, x.4 and x.5
				payload = []byte("reserved opcode payload")
			}
			if i < 2 {
				cs = append(cs, failCase(id, fmt.Sprintf("Send frame with reserved opcode %d.", op), 1002,
					func(p *peer) [][]byte { return [][]byte{p.msg(op, payload)} }))
				continue
			}
			cs = append(cs, wsCase{id: id,
				desc: fmt.Sprintf("Send small text message, then frame with reserved opcode %d, then ping.", op),
				run: func(p *peer) {
					p.send(p.text("Hello, world!"), p.msg(op, payload), p.msg(opPing, nil))
					p.expectText("Hello, world!")
					p.expectFailure(1002)
				}})
		}
	}
	return cs
}
