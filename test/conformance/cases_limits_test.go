package conformance_test

import (
	"fmt"
	"os"
)

// fullSizes runs group 9 at the catalogue's sizes everywhere. By default
// a representative subset runs at full size and the rest is scaled down to
// keep the suite within CI time (docs/conformance.md lists which).
var fullSizes = os.Getenv("CONFORMANCE_FULL") == "1"

// scaled returns n, or n/div when the suite runs at reduced sizes and the
// case is not one of those kept at full size.
func scaled(n, div int, keepFull bool) int {
	if fullSizes || keepFull {
		return n
	}
	return n / div
}

const (
	kib = 1 << 10
	mib = 1 << 20
)

func sizeLabel(n int) string {
	switch {
	case n >= mib && n%mib == 0:
		return fmt.Sprintf("%d MiB", n/mib)
	case n >= kib && n%kib == 0:
		return fmt.Sprintf("%d KiB", n/kib)
	}
	return fmt.Sprintf("%d bytes", n)
}

// group9 — limits and performance: large messages in one frame (9.1, 9.2),
// in many fragments (9.3, 9.4), in one frame written in small chops (9.5,
// 9.6), and 1000 round trips of small messages (9.7, 9.8).
func group9() []wsCase {
	var cs []wsCase
	for gi, g := range []struct {
		op      byte
		pattern string
	}{{opText, "BAsd7&jh23"}, {opBinary, "\xfe\xed\xfa\xce"}} {
		kind := opName(g.op)
		// 9.1 / 9.2: one message of 64 KiB to 16 MiB. The largest runs at
		// full size; the others at a quarter.
		for i, n := range []int{64 * kib, 256 * kib, mib, 4 * mib, 8 * mib, 16 * mib} {
			n = scaled(n, 4, i == 5)
			payload := repeatTo(g.pattern, n)
			cs = append(cs, wsCase{id: fmt.Sprintf("9.%d.%d", 1+gi, i+1), big: true,
				desc: fmt.Sprintf("Send %s message with payload of length %s.", kind, sizeLabel(n)),
				run: func(p *peer) {
					p.send(p.msg(g.op, payload))
					p.expectMessage(g.op, payload)
					p.closeNormally()
				}})
		}
		// 9.3 / 9.4: a 4 MiB message in fragments of 64 bytes to 4 MiB.
		// The smallest fragments (the most frames) run at full size.
		for i, frag := range []int{64, 256, kib, 4 * kib, 16 * kib, 64 * kib, 256 * kib, mib, 4 * mib} {
			n := scaled(4*mib, 4, i == 0)
			frag = min(frag, n)
			payload := repeatTo(g.pattern, n)
			cs = append(cs, wsCase{id: fmt.Sprintf("9.%d.%d", 3+gi, i+1), big: true,
				desc: fmt.Sprintf("Send fragmented %s message of %s in fragments of %s.", kind, sizeLabel(n), sizeLabel(frag)),
				run: func(p *peer) {
					p.send(fragments(p, g.op, payload, frag)...)
					p.expectMessage(g.op, payload)
					p.closeNormally()
				}})
		}
		// 9.5 / 9.6: a 1 MiB message in one frame, written in chops of 64
		// to 2048 bytes. The smallest chops run at full size.
		for i, chop := range []int{64, 128, 256, 512, kib, 2 * kib} {
			n := scaled(mib, 4, i == 0)
			payload := repeatTo(g.pattern, n)
			cs = append(cs, wsCase{id: fmt.Sprintf("9.%d.%d", 5+gi, i+1), big: true,
				desc: fmt.Sprintf("Send %s message of %s in one frame, written in chops of %d bytes.", kind, sizeLabel(n), chop),
				run: func(p *peer) {
					p.sendChopped(p.msg(g.op, payload), chop)
					p.expectMessage(g.op, payload)
					p.closeNormally()
				}})
		}
		// 9.7 / 9.8: 1000 messages of 0 to 4096 bytes, one round trip each.
		for i, n := range []int{0, 16, 64, 256, kib, 4 * kib} {
			count := scaled(1000, 4, i == 0)
			payload := repeatTo(g.pattern, n)
			cs = append(cs, wsCase{id: fmt.Sprintf("9.%d.%d", 7+gi, i+1), big: true,
				desc: fmt.Sprintf("Send %d %s messages of %s, each after the echo of the previous one.", count, kind, sizeLabel(n)),
				run: func(p *peer) {
					for range count {
						p.send(p.msg(g.op, payload))
						p.expectMessage(g.op, payload)
					}
					p.closeNormally()
				}})
		}
	}
	return cs
}

// fragments splits payload into frames of at most size bytes.
func fragments(p *peer, op byte, payload []byte, size int) [][]byte {
	var fs [][]byte
	for off := 0; off < len(payload) || off == 0; off += size {
		end := min(off+size, len(payload))
		fop := opCont
		if off == 0 {
			fop = op
		}
		fs = append(fs, p.frame(end == len(payload), 0, fop, payload[off:end]))
		if end == len(payload) {
			break
		}
	}
	return fs
}

// group10 — miscellaneous: 10.1.1 sends a 64 KiB text message in fragments
// of 1300 bytes, as an implementation with automatic fragmentation would.
func group10() []wsCase {
	payload := repeatTo("*", 65536)
	return []wsCase{{id: "10.1.1", desc: "Send text message with payload of length 65536 auto-fragmented with fragments of 1300 bytes.",
		run: func(p *peer) {
			p.send(fragments(p, opText, payload, 1300)...)
			p.expectMessage(opText, payload)
			p.closeNormally()
		}}}
}
