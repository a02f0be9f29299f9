package conformance_test

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// echoReadLimit is the largest message `duplex echo` and `duplex
// echo-client` accept by default (their --max-message, 64 MiB).
const echoReadLimit = 64 << 20

// rfcCases are frame-level requirements of RFC 6455 that the catalogue
// does not test, run against both implementations like the catalogue
// cases. Their IDs name the RFC section.
func rfcCases() []wsCase {
	cs := []wsCase{
		{id: "RFC6455_5_1_unmasked_client_frame", only: serverOnly,
			desc: "A client frame without a mask fails the connection with 1002 (§5.1).",
			run: func(p *peer) {
				p.send(p.wrongMaskFrame(opText, []byte("Hello")))
				p.expectFailure(1002)
			}},
		{id: "RFC6455_5_1_masked_server_frame", only: clientOnly,
			desc: "A masked server frame fails the connection with 1002 (§5.1).",
			run: func(p *peer) {
				p.send(p.wrongMaskFrame(opText, []byte("Hello")))
				p.expectFailure(1002)
			}},
		{id: "RFC6455_5_1_masked_server_ping", only: clientOnly,
			desc: "A masked server control frame fails the connection with 1002 (§5.1).",
			run: func(p *peer) {
				p.send(p.wrongMaskFrame(opPing, []byte("Hello")))
				p.expectFailure(1002)
			}},
		{id: "RFC6455_5_2_length_msb_set",
			desc: "A 64-bit payload length with its most significant bit set fails the connection with 1002 (§5.2).",
			run: func(p *peer) {
				hdr, _ := p.header(true, 0, opBinary, 1<<63|5)
				p.send(hdr, []byte("Hello"))
				p.expectFailure(1002)
			}},
		{id: "RFC6455_10_4_message_over_limit",
			desc: "A frame announcing more than the read limit (64 MiB for duplex echo and echo-client) fails the connection with 1009 at its header (§10.4, §7.4.1).",
			run: func(p *peer) {
				hdr, _ := p.header(true, 0, opBinary, echoReadLimit+1)
				p.send(hdr)
				p.expectFailure(1009)
			}},
		{id: "RFC6455_10_4_message_over_limit_fragmented",
			desc: "A fragmented message whose next fragment would take it over the read limit fails with 1009 at that fragment's header.",
			run: func(p *peer) {
				first := bytes.Repeat([]byte{0xfe}, 1<<20)
				p.send(p.frame(false, 0, opBinary, first))
				p.expectAlive()
				hdr, _ := p.header(true, 0, opCont, echoReadLimit-uint64(len(first))+1)
				p.send(hdr)
				p.expectFailure(1009)
			}},
		{id: "RFC6455_4_frames_behind_handshake",
			desc: "Frames sent in the same write as the opening handshake are not lost (§4.1, §4.2.2).",
			withHandshake: func(p *peer) []byte {
				return append(p.text("right behind the handshake"), p.msg(opPing, []byte("ping behind the handshake"))...)
			},
			run: func(p *peer) {
				p.expectText("right behind the handshake")
				p.expectPong([]byte("ping behind the handshake"))
				p.closeNormally()
			}},
		{id: "RFC6455_5_2_split_at_every_byte",
			desc: "Frames with 7-, 16- and 64-bit lengths, each written in two pieces split at every header byte and the first payload bytes, are reassembled.",
			run: func(p *peer) {
				for _, n := range []int{5, 300, 70000} {
					payload := repeatTo("split-", n)
					for cut := 1; cut < min(n, 24); cut++ {
						f := p.msg(opBinary, payload)
						p.sendEach(f[:cut])
						time.Sleep(200 * time.Microsecond) // let the peer read the first piece alone
						p.sendEach(f[cut:])
						p.expectMessage(opBinary, payload)
					}
				}
				p.closeNormally()
			}},
		{id: "RFC6455_5_4_ping_between_every_fragment",
			desc: "A ping between every pair of fragments is answered at once, and the message is echoed whole (§5.4, §5.5.2).",
			run: func(p *peer) {
				msg := "fragments with pings in between"
				for i := range len(msg) {
					op := opCont
					if i == 0 {
						op = opText
					}
					p.send(p.frame(i == len(msg)-1, 0, op, []byte{msg[i]}))
					if i < len(msg)-1 {
						p.expectAlive()
					}
				}
				p.expectText(msg)
				p.closeNormally()
			}},
		{id: "RFC6455_5_6_text_and_binary_alternate",
			desc: "Text and binary messages alternate, each fragmented, and keep their types (§5.6).",
			run: func(p *peer) {
				for i := range 6 {
					op := opText
					if i%2 == 1 {
						op = opBinary
					}
					payload := fmt.Appendf(nil, "message %d, %s", i, strings.Repeat("x", i*50))
					p.send(fragments(p, op, payload, 17)...)
					p.expectMessage(op, payload)
				}
				p.closeNormally()
			}},
		{id: "RFC6455_5_5_1_close_with_data_pending",
			desc: "A close frame in the middle of a fragmented message is honoured at once; the unfinished message is dropped (§5.5.1, §5.4).",
			run: func(p *peer) {
				p.send(p.frame(false, 0, opBinary, []byte("unfinished")), p.closeFrame(1001, "going away"))
				p.sentClose = true
				p.expectClose(1001, 1000)
				p.finish()
			}},
		{id: "RFC6455_7_1_5_truncated_fragmented_message_not_delivered",
			desc: "The connection ends (TCP FIN) after the first fragment of a message: the message is incomplete and must not be delivered (§7.1.5, §5.4).",
			run: func(p *peer) {
				p.send(p.frame(false, 0, opText, []byte("first fragment of a message never finished")))
				p.expectAlive()
				p.halfClose()
				p.expectEOF()
			}},
		{id: "RFC6455_7_1_5_truncated_frame_not_delivered",
			desc: "The connection ends (TCP FIN) in the middle of a frame's payload: the message must not be delivered (§7.1.5).",
			run: func(p *peer) {
				f := p.text("a frame cut short by the end of the connection")
				p.send(f[:len(f)-10])
				p.halfClose()
				p.expectEOF()
			}},
		{id: "RFC6455_7_4_2_reserved_code_1015",
			desc: "Close code 1015 is reserved for local use and may not appear on the wire: protocol error (§7.4.1).",
			run: func(p *peer) {
				p.send(p.closeFrame(1015, ""))
				p.sentClose = true
				p.expectFailure(1002)
			}},
	}
	// §8.1 fail fast: every invalid sequence of the 6.x tables, sent so
	// that a frame boundary falls right before the first byte that makes
	// it invalid, and again inside one frame.
	for gi, table := range utf8Tables() {
		for i, s := range table {
			if s.valid {
				continue
			}
			label := fmt.Sprintf("6_%d_%d", gi+5, i+1)
			b := []byte(s.b)
			k := firstBadByte(b)
			cs = append(cs, wsCase{id: "RFC6455_8_1_fail_fast_fragments_" + label,
				desc: fmt.Sprintf("Sequence % x: its valid prefix as one fragment is accepted, the next fragment fails at once with 1007.", b),
				run: func(p *peer) {
					p.send(p.frame(false, 0, opText, b[:k]))
					p.expectAlive()
					if k < len(b) {
						p.send(p.frame(false, 0, opCont, b[k:k+1]))
					} else {
						p.send(p.frame(true, 0, opCont, nil)) // only the end of the message makes it invalid
					}
					p.expectFailure(1007)
				}})
			if k == len(b) {
				continue
			}
			cs = append(cs, wsCase{id: "RFC6455_8_1_fail_fast_in_frame_" + label,
				desc: fmt.Sprintf("Sequence % x padded to 64 bytes in one frame, written up to its first bad byte: fails with 1007 before the frame is complete.", b),
				run: func(p *peer) {
					msg := append(append([]byte(nil), b...), bytes.Repeat([]byte("x"), 64)...)
					hdr, key := p.header(true, 0, opText, uint64(len(msg)))
					p.send(hdr, payloadPart(key, 0, msg[:k]))
					p.send(payloadPart(key, k, msg[k:k+1]))
					p.expectFailure(1007)
				}})
		}
	}
	return cs
}
