package websocket

import (
	"syscall"
	"testing"
)

// TestEpollLoopBusy: a round is busy when it reads more than one
// connection; the wake-up descriptor does not count, nor does a
// connection that has both an event and a read to repeat.
func TestEpollLoopBusy(t *testing.T) {
	conn := func(fd int32) *eventConn {
		ec := &eventConn{}
		ec.fdc.fd = fd
		return ec
	}
	for _, tc := range []struct {
		name string
		fds  []int32
		more []*eventConn
		busy bool
	}{
		{"one event", []int32{7}, nil, false},
		{"wake-up and one event", []int32{3, 7}, nil, false},
		{"two events", []int32{7, 8}, nil, true},
		{"one to read again", nil, []*eventConn{conn(7)}, false},
		{"the same one twice", []int32{7}, []*eventConn{conn(7)}, false},
		{"two different", []int32{7}, []*eventConn{conn(8)}, true},
		{"two to read again", nil, []*eventConn{conn(7), conn(8)}, true},
		{"read twice last round", []int32{7}, []*eventConn{conn(7), conn(7)}, false},
		{"a third one", []int32{7}, []*eventConn{conn(7), conn(8)}, true},
	} {
		l := &epollLoop{wakefd: 3, events: make([]syscall.EpollEvent, 4), more: tc.more}
		for i, fd := range tc.fds {
			l.events[i].Fd = fd
		}
		l.nev = len(tc.fds)
		if got := l.busy(); got != tc.busy {
			t.Errorf("%s: busy %v, want %v", tc.name, got, tc.busy)
		}
	}
}

// TestEpollLoopNoteRead: a long message may go in parts only when the
// loop's read before this one came from the same connection (or there
// was none) and the round reads no other connection.
func TestEpollLoopNoteRead(t *testing.T) {
	a, b := &eventConn{}, &eventConn{}
	l := &epollLoop{}
	steps := []struct {
		ec        *eventConn
		roundBusy bool
		busy      bool
	}{
		{a, false, false}, // the first read of an idle loop
		{a, false, false}, // the same connection again
		{b, false, true},  // another one: connections take turns
		{b, false, false},
		{b, true, true}, // the round reads others too
		{a, false, true},
	}
	for i, st := range steps {
		l.roundBusy = st.roundBusy
		l.noteRead(st.ec)
		if l.scratch.busy != st.busy {
			t.Errorf("step %d: busy %v, want %v", i, l.scratch.busy, st.busy)
		}
	}
}
