package conformance_test

import (
	"fmt"
	"strings"
)

// group7 — the closing handshake (RFC 6455 §5.5.1, §7): a close frame is
// answered once, nothing is answered after it, close payloads are checked
// (length, code, UTF-8 reason) and bad ones fail the connection.
func group7() []wsCase {
	afterClose := func(id, desc string, frames func(p *peer) [][]byte) wsCase {
		return wsCase{id: id, desc: desc, run: func(p *peer) {
			p.send(frames(p)...)
			p.sentClose = true
			p.expectClose(1000)
			p.finish()
		}}
	}
	closeCase := func(id, desc string, payload []byte, answers ...int) wsCase {
		return wsCase{id: id, desc: desc, run: func(p *peer) {
			p.send(p.msg(opClose, payload))
			p.sentClose = true
			if len(answers) == 1 && answers[0] != 1000 && answers[0] != noCode {
				// A failure: the answer is the failing code, then the end.
				p.expectFailure(answers[0])
				return
			}
			p.expectClose(answers...)
			p.finish()
		}}
	}
	big := repeatTo("BAsd7&jh23", 256<<10)
	cs := []wsCase{
		echoCase("7.1.1", "Send a message followed by a close frame: echo, then close.", opText, []byte("Hello World!"),
			func(p *peer) [][]byte { return [][]byte{p.text("Hello World!")} }),
		afterClose("7.1.2", "Send two close frames: one close answer, nothing else.", func(p *peer) [][]byte {
			return [][]byte{p.closeFrame(1000, ""), p.closeFrame(1000, "")}
		}),
		afterClose("7.1.3", "Send a ping after the close frame: no pong.", func(p *peer) [][]byte {
			return [][]byte{p.closeFrame(1000, ""), p.msg(opPing, []byte("Hello World!"))}
		}),
		afterClose("7.1.4", "Send a text message after the close frame: no echo.", func(p *peer) [][]byte {
			return [][]byte{p.closeFrame(1000, ""), p.text("Hello World!")}
		}),
		afterClose("7.1.5", "Send message fragment 1, then a close frame, then fragment 2: no echo.", func(p *peer) [][]byte {
			return [][]byte{p.frame(false, 0, opText, []byte("fragment1")), p.closeFrame(1000, ""), p.frame(true, 0, opCont, []byte("fragment2"))}
		}),
		{id: "7.1.6", desc: "Send a 256 KiB message, a small one, a close frame and a ping, back to back (informational in the catalogue; Duplex handles them in order).",
			run: func(p *peer) {
				p.send(p.msg(opText, big), p.text("Hello World!"), p.closeFrame(1000, ""), p.msg(opPing, nil))
				p.sentClose = true
				p.expectMessage(opText, big)
				p.expectText("Hello World!")
				p.expectClose(1000)
				p.finish()
			}},
		closeCase("7.3.1", "Send a close frame with payload length 0 (no code, no reason).", nil, noCode, 1000),
		closeCase("7.3.2", "Send a close frame with payload length 1: protocol error.", []byte{0x03}, 1002),
		closeCase("7.3.3", "Send a close frame with payload length 2 (code only).", closePayload(1000, ""), 1000),
		closeCase("7.3.4", "Send a close frame with code and reason.", closePayload(1000, "Hello World!"), 1000),
		closeCase("7.3.5", "Send a close frame with a reason of the maximum length (123).", closePayload(1000, strings.Repeat("*", 123)), 1000),
		closeCase("7.3.6", "Send a close frame with a reason that is too long (124): protocol error.", closePayload(1000, strings.Repeat("*", 124)), 1002),
		closeCase("7.5.1", "Send a close frame whose reason is not valid UTF-8.", closePayload(1000, kosme+"\xed\xa0\x80edited"), 1007),
	}
	for i, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		cs = append(cs, closeCase(fmt.Sprintf("7.7.%d", i+1), fmt.Sprintf("Send close with valid close code %d: echoed (or answered with 1000).", code),
			closePayload(code, ""), code, 1000))
	}
	for i, code := range []int{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		cs = append(cs, closeCase(fmt.Sprintf("7.9.%d", i+1), fmt.Sprintf("Send close with invalid close code %d: protocol error.", code),
			closePayload(code, ""), 1002))
	}
	return append(cs,
		closeCase("7.13.1", "Send close with close code 5000 (informational in the catalogue; undefined codes fail with 1002 here).", closePayload(5000, ""), 1002),
		closeCase("7.13.2", "Send close with close code 65535 (informational in the catalogue; undefined codes fail with 1002 here).", closePayload(65535, ""), 1002),
	)
}
