package websocket

import "testing"

// TestEventAdmitPrefix: with the budget tight, the loop takes whole
// frames, control frames, parts of headers and messages that have room,
// and stops at the first data frame of a message the budget cannot count,
// reporting what that message wants and, when it is one uncompressed
// frame, how long the frame is.
func TestEventAdmitPrefix(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	frame := func(fin bool, rsv byte, op opcode, n int) []byte {
		b := appendHeader(nil, fin, rsv, op, int64(n), true, key)
		return append(b, make([]byte, n)...)
	}
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	small := frame(true, 0, opBinary, 100)
	big := frame(true, 0, opBinary, 70000) // 14-byte header
	hdrBig := len(big) - 70000

	type state struct {
		charged   int  // counted for the message at the head
		frameLeft int  // payload left of a frame in progress
		fin       bool // that frame is its message's last
		inMsg     bool
		used      int // the budget's count (limit 100 000)
		waiting   bool
	}
	cases := []struct {
		name        string
		st          state
		in          []byte
		k, want, wh int
	}{
		{"whole frames", state{used: 99999}, cat(small, small), 2 * len(small), 0, 0},
		{"room for the next", state{used: 10}, cat(small, big[:500]), len(small) + 500, 0, 0},
		{"nothing counted: any message goes", state{used: 0, waiting: true}, big[:500], 500, 0, 0},
		{"no room", state{used: 50000}, cat(small, big[:500]), len(small), 70000, len(big)},
		{"others wait", state{used: 10, waiting: true}, cat(small, big[:500]), len(small), 70000, len(big)},
		{"no room, at once", state{used: 50000}, big[:500], 0, 70000, len(big)},
		{"compressed", state{used: 50000}, frame(true, 0x40, opBinary, 70000)[:500], 0, 70000, 0},
		{"first fragment", state{used: 50000}, frame(false, 0, opText, 70000)[:500], 0, 70000, 0},
		{"control frame", state{used: 50000}, frame(true, 0, opPing, 100)[:50], 50, 0, 0},
		{"part of a header", state{used: 50000}, cat(small, big[:hdrBig-1]), len(small) + hdrBig - 1, 0, 0},
		{"one byte of a header", state{used: 50000}, cat(small, big[:1]), len(small) + 1, 0, 0},
		{"admitted", state{charged: 70000, used: 99999, waiting: true}, big[:500], 500, 0, 0},
		{"admitted, then another", state{charged: 100, used: 99999}, cat(small, big[:500]), len(small), 70000, len(big)},
		{"frame in progress", state{charged: 200, frameLeft: 150, fin: true, inMsg: true, used: 99999}, make([]byte, 100), 100, 0, 0},
		{"frame in progress, then another", state{charged: 200, frameLeft: 150, fin: true, inMsg: true, used: 99999},
			cat(make([]byte, 150), big[:500]), 150, 70000, len(big)},
		{"message in progress", state{charged: 200, frameLeft: 150, inMsg: true, used: 99999},
			cat(make([]byte, 150), frame(true, 0, opContinuation, 70000)[:500]), 650, 0, 0},
		{"over the read limit", state{used: 50000}, frame(true, 0, opBinary, 2<<20)[:500], 500, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &pendingBudget{limit: 100000, used: tc.st.used}
			if tc.st.waiting {
				b.waiting = []*eventConn{{}}
			}
			c := &Conn{inMsg: tc.st.inMsg}
			c.readLimit.Store(1 << 20)
			c.frameLeft = int64(tc.st.frameLeft)
			c.frame.fin = tc.st.fin
			ec := &eventConn{c: c, bud: b, charged: tc.st.charged}
			k, want, whole := ec.admitPrefix(tc.in)
			if k != tc.k || want != tc.want || whole != tc.wh {
				t.Errorf("admitPrefix = %d, %d, %d; want %d, %d, %d", k, want, whole, tc.k, tc.want, tc.wh)
			}
		})
	}
}
