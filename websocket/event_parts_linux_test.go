package websocket

import "testing"

// TestEventPartsWhenIdle: a long message goes in parts only when the loop
// has no other connection to read; a busy loop gathers it whole.
func TestEventPartsWhenIdle(t *testing.T) {
	for _, busy := range []bool{false, true} {
		c := &Conn{inMsg: true}
		c.frameLeft = partsAbove + 1
		ec := &eventConn{c: c, h: newPartRecorder(false)}
		s := &eventScratch{partsAbove: partsAbove, busy: busy}
		if got := ec.startParts(s); got == busy {
			t.Errorf("busy %v: in parts %v", busy, got)
		}
	}
}

// TestEventPartsStayWhole: a long message a busy loop began gathering is
// delivered whole even if the loop is idle before its end (its buffer is
// reserved); the next long message may go in parts again.
func TestEventPartsStayWhole(t *testing.T) {
	c := &Conn{inMsg: true}
	c.frameLeft = partsAbove + 1
	ec := &eventConn{c: c, h: newPartRecorder(false)}
	s := &eventScratch{partsAbove: partsAbove, busy: true}
	if ec.startParts(s) {
		t.Fatal("busy loop: in parts")
	}
	s.busy = false
	if ec.startParts(s) {
		t.Fatal("the same message switched to parts midway")
	}
	ec.releaseMsg() // delivered
	if !ec.startParts(s) {
		t.Fatal("the next long message on an idle loop: not in parts")
	}
}
