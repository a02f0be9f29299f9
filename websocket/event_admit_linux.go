package websocket

// admitPrefix decides how much of in, a connection's next bytes as peeked
// from the kernel (after the tail kept from its last read), the loop takes
// when the pending-bytes budget is tight. It returns len(in) unless a data
// frame that is incomplete in in starts a message the budget cannot count
// yet; then it returns where that frame begins, so the message's bytes
// stay in the kernel, and want, the length its header announces. whole is
// the length of that frame, header included, when it is a whole
// uncompressed message (else 0): if the kernel holds all of it already,
// the loop reads it at once instead (epollLoop.readAdmitted).
//
// Taking only whole messages (and the one already counted) is what lets a
// connection that must wait hold nothing, while still reading a buffer's
// worth at a time: reading a header's worth per call instead cost two more
// small reads per message, each sending a window update through the
// sender's TCP stack, which doubled the CPU per 64 KiB message at 1 000
// connections with eight in flight (docs/performance.md).
func (ec *eventConn) admitPrefix(in []byte) (k, want, whole int) {
	c := ec.c
	// counted: the message at the head of in already has room, being in
	// progress or admitted from the waiting list.
	counted := ec.charged > 0
	// open: the message in progress continues past its current frame.
	open := c.inMsg
	pos := 0
	if c.frameLeft > 0 {
		if int64(len(in)) <= c.frameLeft {
			return len(in), 0, 0
		}
		pos = int(c.frameLeft)
		if c.frame.fin {
			counted, open = false, false
		}
	}
	for pos < len(in) {
		h, hl, err := parseHeader(in[pos:])
		if err != nil {
			// Part of a header, kept (a few bytes), or a bad one,
			// which the parser refuses at once.
			return len(in), 0, 0
		}
		plen := uint64(h.length)
		if plen <= uint64(len(in)-pos-hl) { // whole: parsed in place
			pos += hl + int(plen)
			if !h.op.isControl() {
				if h.fin {
					counted, open = false, false
				} else {
					open = true
				}
			}
			continue
		}
		switch {
		case h.op.isControl(), counted, open:
			// A control frame is short; a message with room goes on.
			return len(in), 0, 0
		case h.length > c.readLimit.Load():
			return len(in), 0, 0 // the parser refuses it at once
		case ec.bud.fits(int(plen)):
			return len(in), 0, 0
		}
		if h.fin && h.op != opContinuation && h.rsv&bitRSV1 == 0 {
			whole = hl + int(plen)
		}
		return pos, int(plen), whole
	}
	return len(in), 0, 0
}

// countedFor reports whether the next n bytes all belong to a frame of a
// message the budget counts already: they need no look first. A message in
// parts is read this way, a buffer at a time, without a peek per read.
func (ec *eventConn) countedFor(n int) bool {
	return ec.charged > 0 && ec.left == nil && ec.c.frameLeft >= int64(n)
}
