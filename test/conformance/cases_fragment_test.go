package conformance_test

import "bytes"

// group5 — fragmentation (RFC 6455 §5.4): control frames may not be
// fragmented, may be injected between the fragments of a message; a
// continuation frame needs a message to continue and a new message may not
// start before the current one ends.
func group5() []wsCase {
	f1, f2 := []byte("fragment1"), []byte("fragment2")
	twoFrags := func(p *peer) [][]byte {
		return [][]byte{p.frame(false, 0, opText, f1), p.frame(true, 0, opCont, f2)}
	}
	withPing := func(p *peer) [][]byte {
		return [][]byte{p.frame(false, 0, opText, f1), p.msg(opPing, []byte("ping payload")), p.frame(true, 0, opCont, f2)}
	}
	echoFrags := func(id, desc string, frames func(p *peer) [][]byte, pong bool, send func(p *peer, b [][]byte)) wsCase {
		return wsCase{id: id, desc: desc, run: func(p *peer) {
			send(p, frames(p))
			if pong {
				p.expectPong([]byte("ping payload"))
			}
			p.expectMessage(opText, []byte("fragment1fragment2"))
			p.closeNormally()
		}}
	}
	oneChop := func(p *peer, b [][]byte) { p.send(b...) }
	octets := func(p *peer, b [][]byte) { p.sendChopped(bytes.Join(b, nil), 1) }
	frameWise := func(p *peer, b [][]byte) { p.sendEach(b...) }
	failWith := func(id, desc string, frames func(p *peer) [][]byte, send func(p *peer, b [][]byte)) wsCase {
		return wsCase{id: id, desc: desc, run: func(p *peer) {
			send(p, frames(p))
			p.expectFailure(1002)
		}}
	}
	contFinFirst := func(p *peer) [][]byte {
		return [][]byte{p.frame(true, 0, opCont, []byte("non-continuation payload")), p.text("Hello, world!")}
	}
	contNoFinFirst := func(p *peer) [][]byte {
		return [][]byte{p.frame(false, 0, opCont, []byte("non-continuation payload")), p.text("Hello, world!")}
	}
	pongme := func(n string) []byte { return []byte("pongme " + n + "!") }
	case519 := func(id, desc string, send func(p *peer, b [][]byte)) wsCase {
		return wsCase{id: id, desc: desc, run: func(p *peer) {
			send(p, [][]byte{
				p.frame(false, 0, opText, []byte("fragment1")),
				p.frame(false, 0, opCont, []byte("fragment2")),
				p.msg(opPing, pongme("1")),
			})
			// The pong must come while the message is still incomplete.
			p.expectPong(pongme("1"))
			send(p, [][]byte{
				p.frame(false, 0, opCont, []byte("fragment3")),
				p.frame(false, 0, opCont, []byte("fragment4")),
				p.msg(opPing, pongme("2")),
				p.frame(true, 0, opCont, []byte("fragment5")),
			})
			p.expectPong(pongme("2"))
			p.expectText("fragment1fragment2fragment3fragment4fragment5")
			p.closeNormally()
		}}
	}
	return []wsCase{
		failWith("5.1", "Send ping fragmented into 2 fragments.", func(p *peer) [][]byte {
			return [][]byte{p.frame(false, 0, opPing, f1), p.frame(true, 0, opCont, f2)}
		}, oneChop),
		failWith("5.2", "Send pong fragmented into 2 fragments.", func(p *peer) [][]byte {
			return [][]byte{p.frame(false, 0, opPong, f1), p.frame(true, 0, opCont, f2)}
		}, oneChop),
		echoFrags("5.3", "Send text message fragmented into 2 fragments.", twoFrags, false, oneChop),
		echoFrags("5.4", "Same as 5.3, in octet-wise chops.", twoFrags, false, octets),
		echoFrags("5.5", "Same as 5.3, in frame-wise chops.", twoFrags, false, frameWise),
		echoFrags("5.6", "Send text message fragmented into 2 fragments, one ping with payload in between.", withPing, true, oneChop),
		echoFrags("5.7", "Same as 5.6, in octet-wise chops.", withPing, true, octets),
		echoFrags("5.8", "Same as 5.6, in frame-wise chops.", withPing, true, frameWise),
		failWith("5.9", "Send unfragmented text message after continuation frame with FIN = true, where there is nothing to continue, in one chop.", contFinFirst, oneChop),
		failWith("5.10", "Same as 5.9, in frame-wise chops.", contFinFirst, frameWise),
		failWith("5.11", "Same as 5.9, in octet-wise chops.", contFinFirst, octets),
		failWith("5.12", "Send unfragmented text message after continuation frame with FIN = false, where there is nothing to continue, in one chop.", contNoFinFirst, oneChop),
		failWith("5.13", "Same as 5.12, in frame-wise chops.", contNoFinFirst, frameWise),
		failWith("5.14", "Same as 5.12, in octet-wise chops.", contNoFinFirst, octets),
		{id: "5.15", desc: "Send text message fragmented into 2 fragments, then continuation frame with FIN = false where there is nothing to continue, then unfragmented text message, in one chop.",
			run: func(p *peer) {
				p.send(p.frame(false, 0, opText, f1), p.frame(true, 0, opCont, f2),
					p.frame(false, 0, opCont, []byte("fragment3")), p.text("fragment4"))
				p.expectText("fragment1fragment2")
				p.expectFailure(1002)
			}},
		failWith("5.16", "Repeated 2x: continuation frame with FIN = false (nothing to continue), then text message fragmented into 2 fragments.", func(p *peer) [][]byte {
			var b [][]byte
			for range 2 {
				b = append(b, p.frame(false, 0, opCont, f1), p.frame(false, 0, opText, f2), p.frame(true, 0, opCont, []byte("fragment3")))
			}
			return b
		}, oneChop),
		failWith("5.17", "Repeated 2x: continuation frame with FIN = true (nothing to continue), then text message fragmented into 2 fragments.", func(p *peer) [][]byte {
			var b [][]byte
			for range 2 {
				b = append(b, p.frame(true, 0, opCont, f1), p.frame(false, 0, opText, f2), p.frame(true, 0, opCont, []byte("fragment3")))
			}
			return b
		}, oneChop),
		failWith("5.18", "Send text message fragmented into 2 fragments, with both frame opcodes set to text.", func(p *peer) [][]byte {
			return [][]byte{p.frame(false, 0, opText, f1), p.frame(true, 0, opText, f2)}
		}, oneChop),
		case519("5.19", "Send a text message in 5 fragments with 2 pings in between, the first ping while the message is incomplete; pongs come back at once, then the message.", oneChop),
		case519("5.20", "Same as 5.19, in frame-wise chops.", frameWise),
	}
}
