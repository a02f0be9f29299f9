package server

import (
	"sync"

	"github.com/duplexws/duplex/hub"
	"github.com/duplexws/duplex/websocket"
)

// outItem is one message waiting to be written to a client: either a frame
// shared with other connections (a push) or bytes of this connection alone
// (a reply, an unsubscribe push).
type outItem struct {
	pm   *websocket.PreparedMessage
	data []byte
	pub  *hub.Publication // set for publication pushes, to measure latency
}

func (it *outItem) size() int {
	if it.pm != nil {
		return len(it.pm.Data())
	}
	return len(it.data)
}

// sendQueue is a connection's bounded send queue: a ring of items, limited
// by the bytes it holds, drained by the connection's one writer goroutine.
// The bytes the writer took and has not finished writing still count
// against the limit, so a client that reads nothing ties up at most about
// limit bytes, not a full queue plus the batch stuck in its socket.
// Producers (the fan-out, the command loop, timers) never block: when an
// item does not fit, push reports false and the session applies the
// slow-consumer policy.
type sendQueue struct {
	mu     sync.Mutex
	ring   []outItem
	head   int
	n      int
	bytes  int // in the ring
	flying int // taken by the writer and not yet written
	limit  int
	closed bool
	// final is written after everything queued before close; then the
	// writer closes the connection with closeCode.
	final     []byte
	closeCode websocket.StatusCode
	closeMsg  string
	wake      chan struct{} // capacity 1: the writer has something to do
}

func newSendQueue(limit int) *sendQueue {
	return &sendQueue{limit: limit, ring: make([]outItem, 8), wake: make(chan struct{}, 1)}
}

// push appends it unless the queue is closed (reported as accepted: the
// connection is going away and its client will recover) or full. An empty
// ring takes any one item, so that a reply larger than the limit (a long
// history) can still go out.
func (q *sendQueue) push(it outItem) bool {
	sz := it.size()
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return true
	}
	if q.n > 0 && q.bytes+q.flying+sz > q.limit {
		q.mu.Unlock()
		return false
	}
	if q.n == len(q.ring) {
		q.grow()
	}
	q.ring[(q.head+q.n)%len(q.ring)] = it
	q.n++
	q.bytes += sz
	q.mu.Unlock()
	q.signal()
	return true
}

func (q *sendQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *sendQueue) grow() {
	ring := make([]outItem, 2*len(q.ring))
	for i := range q.n {
		ring[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head = ring, 0
}

// take moves every queued item into dst (reused by the caller) and returns
// it, with closed true once the queue is closed and empty. Their bytes count
// as in flight until the writer calls written.
func (q *sendQueue) take(dst []outItem) (items []outItem, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.n {
		j := (q.head + i) % len(q.ring)
		dst = append(dst, q.ring[j])
		q.ring[j] = outItem{}
	}
	q.flying = q.bytes
	q.head, q.n, q.bytes = 0, 0, 0
	if len(q.ring) > 1024 {
		q.ring = make([]outItem, 8) // a burst is over: give its memory back
	}
	return dst, q.closed && len(dst) == 0
}

// written tells the queue that the items of the last take are written.
func (q *sendQueue) written() {
	q.mu.Lock()
	q.flying = 0
	q.mu.Unlock()
}

// close stops accepting items. When drop is set, items not yet taken are
// discarded (the client is too slow to get them anyway). final, if any, is
// written after what is left, and then the connection is closed with code.
// Only the first close counts; it reports whether this call was it.
func (q *sendQueue) close(final []byte, code websocket.StatusCode, msg string, drop bool) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.closed = true
	if drop {
		clear(q.ring)
		q.head, q.n, q.bytes = 0, 0, 0
	}
	q.final, q.closeCode, q.closeMsg = final, code, msg
	q.mu.Unlock()
	q.signal()
	return true
}

// finalMessage returns what close left for the writer.
func (q *sendQueue) finalMessage() ([]byte, websocket.StatusCode, string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.final, q.closeCode, q.closeMsg
}

// buffered returns the bytes waiting in the queue or being written.
func (q *sendQueue) buffered() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes + q.flying
}
