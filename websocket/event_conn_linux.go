package websocket

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// eventConn is what an event loop keeps per connection. Between messages
// it holds no buffer: left and msg are borrowed only while a frame header
// or a message is incomplete.
type eventConn struct {
	c *Conn
	h EventHandler

	// fdc is the connection's transport in event mode (its descriptor,
	// taken out of Go's poller). It is also the Conn's net.Conn, which
	// saves an allocation per connection.
	fdc fdConn

	left  *[]byte // unparsed tail of the last input: part of a frame header or a control frame
	nleft int
	msg   *[]byte // payload so far of a message not complete yet (compressed bytes when compressed)
	// lastLong is the length of the last message if it was at least
	// longMsgMin bytes, else 0: the peer sends long messages, so the next
	// read only looks for a frame header (headReadSize) and a frame as
	// long as that one gets all its room at once (reserve).
	lastLong int

	// bud is the loop's budget for messages still arriving (nil: none);
	// charged is what the message in progress counts against it, want
	// what a stalled connection waits for: it is not read until the loop
	// admits it.
	bud     *pendingBudget
	charged int
	want    int
	stalled bool
	// now: the message in progress is all in the kernel and is read to
	// its end before the loop moves on, so it is counted even past the
	// budget: it is held for no longer than that (readAdmitted).
	now bool
	// ending: the peer's end or an error was reported; with edge
	// triggering no later event will come, so the loop reads the
	// connection again after every read until the read returns the end.
	ending bool
	// inParts: the message in progress goes to the handler in parts
	// (EventPartHandler); whole: a busy loop began gathering it, and
	// it is delivered whole even if the loop is idle before its end.
	inParts bool
	whole   bool
	// queued: its answers wait for the loop's flush (epollLoop.flushQ).
	queued bool

	closeTimer atomic.Pointer[time.Timer] // set by Close, stopped when the connection ends
	done       bool                       // OnClose has been called
}

// eventScratch is per-loop state the parser uses; one goroutine at a time.
type eventScratch struct {
	src bytesSource
	// partsAbove is EventLoopOptions.PartsAbove.
	partsAbove int
	// busy: the loop has more than one connection to read this round,
	// so long messages are gathered whole (EventPartHandler).
	busy bool
}

// feed parses in, the bytes kept from the last call followed by new ones,
// delivering each complete message to the handler, and keeps what is left
// of an incomplete frame header. A non-nil result ends the connection: it is
// the error OnClose receives.
func (ec *eventConn) feed(in []byte, s *eventScratch) error {
	c := ec.c
	c.rbuf, c.rpos, c.rend = in, 0, len(in)
	return ec.end(ec.parse(s))
}

// directReadMin is the least a read straight into a message buffer must
// be able to take: below it, the bytes go through the loop's buffer with
// the next frame's, in one read.
const directReadMin = 16 << 10

// longMsgMin and headReadSize: after a message of at least longMsgMin
// bytes, the next read into the loop's buffer takes at most headReadSize
// bytes. A long message's first read would otherwise bring up to a whole
// loop buffer of its payload, to be copied into the message buffer; this
// way a few KiB are, and the rest is read straight into place, for one
// more read(2). Measured at 1 MiB × 100 connections: the copy was 9 % of
// the server's CPU (docs/performance.md).
const (
	longMsgMin   = 256 << 10
	headReadSize = 4 << 10
)

// directBuf returns where the next bytes of a long frame can be read
// straight into the message buffer, sparing a copy through the loop's
// buffer of size least; nil when they cannot.
func (ec *eventConn) directBuf(least int) []byte {
	c := ec.c
	if ec.left != nil || ec.msg == nil || !c.inMsg || c.msgRSV1 || c.frameLeft < int64(least) {
		return nil
	}
	b := *ec.msg
	room := cap(b) - len(b)
	if room < least {
		return nil
	}
	return b[len(b) : len(b)+int(min(int64(room), c.frameLeft))]
}

// feedPayload takes p, bytes of the current frame's payload read straight
// into the message buffer by way of directBuf, and goes on parsing.
func (ec *eventConn) feedPayload(p []byte, s *eventScratch) error {
	c := ec.c
	c.rbuf, c.rpos, c.rend = p, 0, len(p)
	// The bytes are where readMsgData puts them: readPayload sees that
	// and skips the copy; it unmasks and checks them in place.
	k, err := c.readMsgData(p)
	*ec.msg = (*ec.msg)[:len(*ec.msg)+k]
	if err == nil {
		err = ec.parse(s)
	}
	return ec.end(err)
}

// end finishes a parse: it keeps the unparsed tail, or turns the error
// into the one OnClose receives.
func (ec *eventConn) end(err error) error {
	c := ec.c
	if err == errWouldBlock {
		err = nil
		ec.keep(c.rbuf[c.rpos:c.rend])
	}
	c.rbuf, c.rpos, c.rend = nil, 0, 0
	if err != nil {
		ec.releaseMsg()
		return c.readFailed(err)
	}
	return nil
}

// parse runs the frame parser until the input runs out (errWouldBlock) or
// the connection fails.
func (ec *eventConn) parse(s *eventScratch) error {
	c := ec.c
	for {
		if c.readErr != nil {
			return c.readErr
		}
		if !c.inMsg {
			if c.rpos == c.rend {
				return errWouldBlock
			}
			// Control frames are handled here; it returns at the
			// header of a data message.
			if err := c.nextFrame(); err != nil {
				return err
			}
		}
		var p []byte
		var err error
		switch {
		case c.msgRSV1:
			p, err = ec.readCompressed(s)
		case ec.inParts || ec.startParts(s):
			if err := ec.readParts(); err != nil {
				return err
			}
			ec.lastLong = 0 // the next read is a whole buffer's worth
			if c.isClosed() {
				return ErrClosed
			}
			continue
		default:
			p, err = ec.readPlain()
		}
		if err != nil {
			return err
		}
		// Messages that arrive after our close frame are delivered too,
		// as Close keeps them for the reader in goroutine mode.
		if len(p) >= longMsgMin {
			ec.lastLong = len(p)
		} else {
			ec.lastLong = 0
		}
		ec.h.OnMessage(c, c.msgType, p)
		ec.releaseMsg()
		if c.isClosed() {
			return ErrClosed
		}
	}
}

// startParts reports whether the uncompressed message in progress goes to
// the handler in parts from here on: it does once its frames so far
// announce more than partsAbove bytes and the handler takes parts. What has
// gathered of it already is delivered as its first part.
func (ec *eventConn) startParts(s *eventScratch) bool {
	c := ec.c
	have := 0
	if ec.msg != nil {
		have = len(*ec.msg)
	}
	if ec.whole || int64(have)+c.frameLeft <= int64(s.partsAbove) {
		return false
	}
	ph, ok := ec.h.(EventPartHandler)
	if !ok {
		return false
	}
	if s.busy {
		// Switching later would trade the buffer reserved for a
		// whole frame for parts: gathered whole to its end.
		ec.whole = true
		return false
	}
	ec.inParts = true
	if have > 0 {
		ph.OnMessagePart(c, c.msgType, *ec.msg, false)
		putMsgBuf(ec.msg)
		ec.msg = nil
	}
	if ec.bud != nil {
		// Counted like a message gathered whole, though it holds no
		// buffer: when the budget is spent, what this read brought is
		// delivered and the rest waits in the kernel until its turn.
		// Reading every long message at once, each a little at a time,
		// left their bytes to go cold in the kernel: at 1 MiB × 1 000
		// connections the copies out of it cost 30 % more
		// (docs/performance.md).
		ec.bud.grant(ec, have+int(c.frameLeft))
	}
	return true
}

// readParts hands the payload of a message in parts to the handler, a part
// for each stretch of the input, unmasked and checked where it lies: the
// bytes are never copied. It returns nil once the message has ended.
func (ec *eventConn) readParts() error {
	c := ec.c
	ph := ec.h.(EventPartHandler)
	for {
		var p []byte
		if c.frameLeft > 0 {
			avail := c.rend - c.rpos
			if avail == 0 {
				return errWouldBlock
			}
			n := int(min(c.frameLeft, int64(avail)))
			p = c.rbuf[c.rpos : c.rpos+n : c.rpos+n]
		}
		// With no payload left in the frame, this reads the next frame's
		// header (and any control frames before it), or reports the end.
		k, err := c.readMsgData(p)
		final := err == io.EOF
		if err != nil && !final {
			return err
		}
		p = p[:k]
		if !final && c.frameLeft == 0 && c.frame.fin {
			// The last bytes: the message's end is checked (a character
			// cut short) before the handler hears it is whole.
			if _, err := c.readMsgData(nil); err != io.EOF {
				return err
			}
			final = true
		}
		if len(p) > 0 || final {
			ph.OnMessagePart(c, c.msgType, p, final)
		}
		if final {
			ec.inParts = false
			ec.releaseMsg() // its count in the budget
			return nil
		}
		if c.isClosed() {
			return ErrClosed
		}
	}
}

// readPlain reads the rest of an uncompressed message; it returns the whole
// payload once the message is complete.
func (ec *eventConn) readPlain() ([]byte, error) {
	c := ec.c
	if ec.msg == nil && c.frame.fin && c.frameLeft <= int64(c.rend-c.rpos) {
		// The whole message is this frame and is all in the input:
		// unmask and check it where it lies, no copy (readPayload
		// skips copying bytes onto themselves).
		p := c.rbuf[c.rpos : c.rpos+int(c.frameLeft) : c.rpos+int(c.frameLeft)]
		n := 0
		for {
			k, err := c.readMsgData(p[n:])
			n += k
			if err == io.EOF {
				return p[:n], nil
			}
			if err != nil {
				return nil, err
			}
		}
	}
	for {
		if c.frameLeft > 0 {
			avail := c.rend - c.rpos
			if avail == 0 {
				return nil, errWouldBlock
			}
			ec.reserve(int(min(c.frameLeft, int64(avail))))
		}
		var b []byte
		if ec.msg != nil {
			b = *ec.msg
		}
		k, err := c.readMsgData(b[len(b):cap(b)])
		if ec.msg != nil {
			*ec.msg = b[:len(b)+k]
		}
		if err == io.EOF {
			return b[:len(b)+k], nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// readCompressed gathers the compressed bytes of a message and, once the
// last frame is in, inflates them in one go. The inflater cannot stop in
// the middle of a block and resume, so it only runs on a complete message.
func (ec *eventConn) readCompressed(s *eventScratch) ([]byte, error) {
	c := ec.c
	for c.frameLeft > 0 || !c.frame.fin {
		if c.frameLeft == 0 {
			// The next frame's header; io.EOF would mean the message
			// ended, which the loop condition sees.
			if _, err := c.readPayload(nil); err != nil && err != io.EOF {
				return nil, err
			}
			continue
		}
		avail := c.rend - c.rpos
		if avail == 0 {
			return nil, errWouldBlock
		}
		n := int(min(c.frameLeft, int64(avail)))
		have := 0
		if ec.msg != nil {
			have = len(*ec.msg)
		}
		if limit := c.readLimit.Load(); int64(have+n) > limit {
			return nil, c.fail(StatusMessageTooBig, fmt.Errorf("%w: compressed message of more than %d bytes", ErrReadLimit, limit))
		}
		ec.reserve(n)
		b := *ec.msg
		k, err := c.readPayload(b[len(b) : len(b)+n])
		*ec.msg = b[:len(b)+k]
		if err != nil && err != io.EOF {
			return nil, err
		}
	}
	var raw []byte
	if ec.msg != nil {
		raw = *ec.msg
	}
	s.src.reset(raw)
	if c.decompressor != nil {
		c.inflater = c.decompressor.reader(&s.src)
	}
	op := getMsgBuf(max(2*len(raw), 512))
	out := (*op)[:0]
	for {
		if len(out) == cap(out) {
			np := getMsgBuf(2 * cap(out))
			out = append((*np)[:0], out...)
			putMsgBuf(op)
			op = np
		}
		k, err := c.readMsgData(out[len(out):cap(out)])
		out = out[:len(out)+k]
		if err == io.EOF {
			break
		}
		if err != nil {
			s.src.reset(nil)
			putMsgBuf(op)
			return nil, err
		}
	}
	s.src.reset(nil)
	ec.releaseMsg()
	*op = out
	ec.msg = op
	return out, nil
}

// reserve makes room for n more payload bytes in ec.msg, growing it by
// doubling: memory follows the bytes that arrived, not the lengths that
// frame headers announce.
//
// A long frame is the exception: once a sixteenth of it has arrived, or
// at once when the peer's last message was at least as long, room is made
// for all of it, so that it is not copied as it grows and its bytes can be
// read straight into place (directBuf).
func (ec *eventConn) reserve(n int) {
	var b []byte
	if ec.msg != nil {
		b = *ec.msg
	}
	if cap(b)-len(b) >= n && ec.msg != nil {
		return
	}
	want := max(len(b)+n, 2*cap(b))
	if total := int64(len(b)) + ec.c.frameLeft; total > int64(want) && (total <= 16*int64(len(b)+n) || total <= int64(ec.lastLong) || ec.now) {
		want = int(total)
	}
	if ec.bud != nil {
		if !ec.bud.grant(ec, len(b)+int(ec.c.frameLeft)) {
			want = len(b) + n // room for the bytes read, no more
		}
	}
	np := getMsgBuf(want)
	*np = append((*np)[:0], b...)
	if ec.msg != nil {
		putMsgBuf(ec.msg)
	}
	ec.msg = np
}

func (ec *eventConn) releaseMsg() {
	ec.whole = false
	if ec.msg != nil {
		putMsgBuf(ec.msg)
		ec.msg = nil
	}
	if ec.bud != nil && ec.charged > 0 {
		ec.bud.used -= ec.charged
		ec.charged = 0
	}
}

// pendingBudget bounds the bytes one loop holds in messages still
// arriving (EventLoopOptions.PendingBytes). Without it, every connection
// reads its message as it arrives: a thousand 1 MiB messages in flight
// held a thousand buffers (645 MiB of RSS). With it, the loop assembles a
// budget's worth at a time and leaves the others' bytes in the kernel,
// where TCP flow control slows their senders.
//
// A message is counted from its first room until it is delivered, for the
// length its frame header announces (its fragments add theirs as they
// come): it is admitted whole or not at all, so a message in progress
// never waits for room. One that does not fit stalls before it starts:
// while the budget is tight the loop peeks before it takes and leaves
// such a message's bytes in the kernel (eventConn.admitPrefix); a read
// made while it was not tight may have brought the start of one, which
// is then held, uncounted, so that stalled connections cannot keep each
// other waiting. A stalled connection is admitted in its turn as messages
// complete. With nothing counted, the next message is admitted however
// long it is (up to the read limit), so that every message completes.
type pendingBudget struct {
	limit   int
	used    int
	waiting []*eventConn // stalled, in the order they asked
}

// grant is asked when ec's message, total bytes so far, needs more room.
// A message already counted has its count raised and goes on; a new one
// is counted if it fits and nobody waits, or if nothing is counted at
// all. Otherwise ec stalls and grant reports false.
func (b *pendingBudget) grant(ec *eventConn, total int) bool {
	switch {
	case ec.now, ec.charged > 0:
		if total > ec.charged {
			b.used += total - ec.charged
			ec.charged = total
		}
		return true
	case b.fits(total):
		b.used += total
		ec.charged = total
		return true
	}
	b.stall(ec, total)
	return false
}

// fits reports whether a new message of n bytes would be counted now.
func (b *pendingBudget) fits(n int) bool {
	return b.used == 0 || (len(b.waiting) == 0 && b.used+n <= b.limit)
}

// stall puts ec on the waiting list for a message of want bytes.
func (b *pendingBudget) stall(ec *eventConn, want int) {
	if !ec.stalled {
		ec.stalled, ec.want = true, want
		b.waiting = append(b.waiting, ec)
	}
}

// tight reports whether a read of n bytes might bring a message the
// budget cannot count: the loop then peeks before it takes
// (eventConn.admitPrefix).
func (b *pendingBudget) tight(n int) bool {
	return len(b.waiting) > 0 || b.used+n > b.limit
}

// take counts ec's awaited message and ends its stall.
func (b *pendingBudget) take(ec *eventConn) {
	ec.stalled = false
	b.used += ec.want
	ec.charged = ec.want
}

// admit lets stalled connections go on, oldest first, while their
// messages fit (or nothing is counted), and appends them to more, the
// connections the loop reads next.
func (b *pendingBudget) admit(more []*eventConn) []*eventConn {
	n := 0
	for _, ec := range b.waiting {
		if ec.done || !ec.stalled {
			n++
			continue
		}
		if b.used > 0 && b.used+ec.want > b.limit {
			break
		}
		b.take(ec)
		n++
		more = append(more, ec)
	}
	if n > 0 {
		rest := copy(b.waiting, b.waiting[n:])
		clear(b.waiting[rest:])
		b.waiting = b.waiting[:rest]
	}
	return more
}

// keep saves the unparsed tail of the input for the next read. It is part
// of a frame header or a control frame: payload bytes are always consumed.
func (ec *eventConn) keep(tail []byte) {
	if len(tail) == 0 {
		return
	}
	ec.left = getBuf(max(len(tail), leftBufSize))
	ec.nleft = copy(*ec.left, tail)
}

// leftBufSize holds the longest tail: a control frame's header and payload.
const leftBufSize = 256

// takeLeft copies the kept tail to the front of buf and returns its length;
// the kept buffer is given back by dropLeft once the new bytes are in.
func (ec *eventConn) takeLeft(buf []byte) int {
	if ec.left == nil {
		return 0
	}
	return copy(buf, (*ec.left)[:ec.nleft])
}

func (ec *eventConn) dropLeft() {
	if ec.left != nil {
		putBuf(ec.left)
		ec.left, ec.nleft = nil, 0
	}
}

// release gives back everything the connection holds; it has ended.
func (ec *eventConn) release() {
	ec.dropLeft()
	ec.releaseMsg()
	if t := ec.closeTimer.Load(); t != nil {
		t.Stop()
	}
	ec.c.releaseDecompressor()
}

// bytesSource reads a byte slice; unlike bytes.Reader it can drop the
// slice without allocating.
type bytesSource struct {
	b []byte
}

func (s *bytesSource) reset(b []byte) { s.b = b }

func (s *bytesSource) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// Message buffers of event mode, pooled by power-of-two size from 512 bytes
// to 8 MiB; larger ones are left to the garbage collector.
const (
	msgBufMinShift = 9
	msgBufClasses  = 15
)

var msgBufPools [msgBufClasses]sync.Pool

func msgBufClass(n int) int {
	k := 0
	for n > 1<<(msgBufMinShift+k) {
		k++
	}
	return k
}

func getMsgBuf(n int) *[]byte {
	k := msgBufClass(n)
	if k >= msgBufClasses {
		b := make([]byte, 0, n)
		return &b
	}
	if bp, ok := msgBufPools[k].Get().(*[]byte); ok {
		*bp = (*bp)[:0]
		return bp
	}
	b := make([]byte, 0, 1<<(msgBufMinShift+k))
	return &b
}

func putMsgBuf(bp *[]byte) {
	c := cap(*bp)
	k := msgBufClass(c)
	if k >= msgBufClasses || c != 1<<(msgBufMinShift+k) {
		return
	}
	*bp = (*bp)[:0]
	msgBufPools[k].Put(bp)
}

// tcpConnOf returns the TCP connection under c, which epoll loops need.
func tcpConnOf(c *Conn) (*net.TCPConn, error) {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return nil, fmt.Errorf("%w: its transport is %T, not plain TCP; read it with Read in a goroutine", ErrNotServable, c.nc)
	}
	return tc, nil
}
