package websocket

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// EventHandler receives the messages of connections served by an
// EventLoop.
//
// Both methods run on the loop's goroutine, one connection at a time: while
// one runs, no other connection of that loop is read. Keep them short:
// what a handler writes from the loop leaves when its connection's input
// is used up, together with the answers to the other connections read in
// the same round on Linux (EventLoopOptions.NoIOUring), which wait for at
// most 50 µs or for the handler that is running to return. A
// handler may call c.Write, c.WritePrepared, c.Close or c.CloseNow, from the
// loop or from any other goroutine. On Linux a write to a peer that reads
// too slowly leaves what the socket buffer cannot take in the
// connection's write queue and returns (EventLoopOptions.WriteQueueBytes);
// only a write whose rest does not fit waits for room, so a handler that
// may answer with more than the queue holds should write with a context
// deadline or from a goroutine of your own. Messages to one connection go
// one at a time, so a handler that writes to a connection while another
// goroutine's write to it waits for room waits for that write too; the
// loop does not read a connection while a write to it waits, or while its
// queue is half full, so this happens only to a handler already running.
type EventHandler interface {
	// OnMessage is called once per data message, in order. p is valid only
	// during the call: copy it to keep it.
	OnMessage(c *Conn, typ MessageType, p []byte)

	// OnClose is called exactly once per served connection, when it has
	// ended, with the error a Read would have returned: a *CloseError
	// after a close handshake (CloseStatus decodes it), an error wrapping
	// ErrProtocol, ErrReadLimit or ErrInvalidUTF8 when the peer broke the
	// rules (the connection was closed with the matching code), or one
	// wrapping ErrClosed after CloseNow or EventLoop.Close. The transport is
	// closed and every buffer of the connection released when it is called.
	OnClose(c *Conn, err error)
}

// EventPartHandler is an EventHandler that also takes long messages in
// parts, as their bytes arrive, instead of whole: a message longer than
// EventLoopOptions.PartsAbove is never assembled, so it holds no buffer of
// its own and its first bytes can be answered (forwarded, stored, echoed
// with a MessageWriter) while the rest is still on its way.
type EventPartHandler interface {
	EventHandler

	// OnMessagePart is called, instead of OnMessage, with each part of an
	// uncompressed data message once the message is known to be longer
	// than PartsAbove: its frames so far announce more bytes than that. A
	// message that grows past it in short fragments gets what has
	// gathered as its first part. On Linux a loop does so only when the
	// connection has it to itself: no other connection to read in that
	// round, and none read since this one's last read. A busy loop, or
	// one whose connections take turns, gathers the message and calls
	// OnMessage, which costs it fewer system calls, while parts let a
	// loop serving one sender answer before the message has all
	// arrived. So a handler must take a long message either way. Parts
	// come in order and follow the reads, not the frames; p is valid only during the call, and may be
	// empty when final is set. final is set on the last part, once the
	// whole message has been checked (a text message's UTF-8 too); a
	// message that breaks the rules midway ends the connection with no
	// final part, and OnClose reports why.
	OnMessagePart(c *Conn, typ MessageType, p []byte, final bool)
}

// EventLoopOptions configures an EventLoop. The zero value is a sensible
// default.
type EventLoopOptions struct {
	// Loops is the number of loop goroutines; each serves its share of the
	// connections. Zero means GOMAXPROCS-1, at least 1. On Linux a loop
	// waits in epoll_wait and keeps its processor (P) while it waits, so
	// one processor is left to the other goroutines of the program (the
	// HTTP server that accepts, timers, the application) by default. With
	// no processor to spare (GOMAXPROCS no larger than Loops, as with one
	// CPU) loops park on Go's poller between events instead.
	Loops int

	// ReadBufferSize is the size of each loop's read buffer, shared by all
	// of its connections: one read system call takes at most this many
	// bytes from a connection. Zero means DefaultEventReadBufferSize.
	ReadBufferSize int

	// PendingBytes bounds the memory each loop holds in messages that are
	// still arriving. A connection whose message needs more room than is
	// left stops being read, its bytes left in the kernel (TCP flow
	// control then slows its sender), until other messages complete;
	// meanwhile it holds no message buffer. Connections are let go on in
	// the order they stopped, and a loop always lets one message grow,
	// however long (up to the read limit), so that every message
	// completes. A message no longer than ReadBufferSize that has all
	// arrived is read at once rather than wait, so a loop may hold one
	// message past the bound for the time it takes to read it. While it
	// waits, a connection's pings and close
	// frame wait too, and so does its peer's orderly close (TCP queues the
	// FIN behind the unread bytes); a reset, or CloseNow, ends it at once.
	// Zero means DefaultEventPendingBytes. On Linux only.
	PendingBytes int

	// NoIOUring makes a loop write each connection's answers with a
	// write(2) of their own. By default, on Linux, a loop that answered
	// several connections in one round sends all those answers with one
	// io_uring_enter(2), where the kernel allows io_uring (a loop falls
	// back to writes by itself where it does not: an old kernel,
	// kernel.io_uring_disabled, a container's seccomp profile). Set it
	// where policy forbids io_uring, or to compare.
	NoIOUring bool

	// PartsAbove is the length past which an uncompressed message goes to
	// an EventPartHandler in parts (OnMessagePart) rather than whole. A
	// handler that does not implement EventPartHandler gets every message
	// whole. Zero means ReadBufferSize: a message that one read can bring
	// is parsed where it lies, with no copy, and delivered whole; a longer
	// one would need a buffer of its own. Measured with 1 MiB echoes over
	// one connection (docs/performance.md): with the answer streamed as
	// the parts come, 2.0 k round trips a second instead of 1.5 k.
	// A message in parts counts against PendingBytes like one gathered
	// whole, though it holds no buffer: reading every long message a
	// little at a time left their bytes to cool in the kernel.
	PartsAbove int

	// WriteQueueBytes bounds the bytes each connection may hold queued
	// for a peer that reads too slowly. A write that finds the socket
	// buffer full leaves what did not fit in the connection's queue and
	// returns, so a slow reader does not hold up the loop and the other
	// connections it serves; the loop sends the queue as the peer makes
	// room, and reads nothing more from that connection while the queue
	// holds half the limit or more (TCP flow control then slows the peer
	// down). A write whose
	// rest does not fit waits for room, as it would without the queue,
	// and so does one to a loop's only connection, which holds up nobody.
	// Zero means DefaultEventWriteQueueBytes; negative turns the queue
	// off. On Linux only.
	WriteQueueBytes int
}

// DefaultEventWriteQueueBytes is the default
// EventLoopOptions.WriteQueueBytes: a slow reader costs at most this much
// memory besides its socket buffer, and a handler's answer of up to this
// size never waits for it.
const DefaultEventWriteQueueBytes = 1 << 20

// DefaultEventPendingBytes is the default EventLoopOptions.PendingBytes.
// Measured with a thousand connections each echoing 1 MiB messages, one
// loop: server RSS 35–55 MiB instead of 645 MiB without a bound, 440
// instead of 509 µs of CPU per message, p99 latency 0.55–0.6 s
// (gobwas/ws with 64 workers: 0.9 s); 4 MiB saved memory (24 MiB) but no
// CPU (docs/performance.md).
const DefaultEventPendingBytes = 16 << 20

// DefaultEventReadBufferSize is the default EventLoopOptions.ReadBufferSize.
// A buffer is per loop, not per connection, so it can be large. A message
// that fits in one read is parsed where it lies, without a copy: with
// 64 KiB, a 64 KiB message (and its header) took two reads and a copy, and
// cost 70% more server CPU per echo than with 256 KiB; 1 MiB was slower
// again for 1 MiB messages (docs/performance.md).
const DefaultEventReadBufferSize = 256 << 10

// EventLoop serves very many, mostly idle, server connections without a
// goroutine or a buffer per connection. On Linux a few loop goroutines wait
// on epoll for the connections that have bytes to read, read them into a
// buffer they share, and call an EventHandler with each complete message; an
// idle connection holds no goroutine and no read buffer (a message that
// arrives in pieces holds a pooled buffer until it is complete). On other
// systems Serve runs a goroutine per connection behind the same API.
//
// The rest of the Conn API is unchanged: writes, pings, Close and CloseNow
// work as usual. What changes is reading: a served Conn must not be read
// with Read, ReadInto, Reader or CloseRead (they return an error), and Close
// does not wait for the peer's answer: it sends the close frame and returns;
// messages the peer sent before its close frame still reach OnMessage, and
// OnClose reports the end of the handshake (or the close timeout).
//
// In event mode a compressed message is inflated once all of its bytes have
// arrived, and the read limit also applies to its compressed size.
//
// Measured on Linux (docs/performance.md): at 10 000 idle connections that
// have each echoed one message, the server's RSS grows by about 3 KiB per
// connection, against 6.8 KiB with a goroutine per connection. With one
// message in flight per connection the server CPU per echoed message is up
// to a third lower than with a goroutine per connection (about the same for
// 1 MiB messages); with several in flight, when one read brings many
// messages and their answers leave in one write, it is 3–7 times lower at
// 100 and 1 000 connections.
type EventLoop struct {
	b eventBackend
}

// eventBackend is what a platform provides: epoll loops on Linux, a
// goroutine per connection elsewhere.
type eventBackend interface {
	serve(c *Conn, h EventHandler) error
	close() error
}

// ErrEventLoopClosed is returned by Serve after Close.
var ErrEventLoopClosed = errors.New("websocket: the event loop is closed; create a new one with NewEventLoop")

// ErrNotServable is wrapped by the error of Serve when the connection
// cannot be handed to an event loop; the connection is left as it was, to be
// read with Read in a goroutine.
var ErrNotServable = errors.New("websocket: this connection cannot be served by an event loop")

// NewEventLoop starts the loop goroutines. Close them with Close.
func NewEventLoop(opts EventLoopOptions) (*EventLoop, error) {
	opts = opts.withDefaults()
	b, err := newEventBackend(opts)
	if err != nil {
		return nil, fmt.Errorf("websocket: starting the event loop: %w", err)
	}
	return &EventLoop{b: b}, nil
}

func (o EventLoopOptions) withDefaults() EventLoopOptions {
	if o.Loops <= 0 {
		o.Loops = max(1, runtime.GOMAXPROCS(0)-1)
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = DefaultEventReadBufferSize
	}
	// Room for a whole control frame and the next header at least.
	o.ReadBufferSize = max(o.ReadBufferSize, 512)
	if o.PendingBytes <= 0 {
		o.PendingBytes = DefaultEventPendingBytes
	}
	if o.PartsAbove <= 0 {
		o.PartsAbove = o.ReadBufferSize
	}
	if o.WriteQueueBytes == 0 {
		o.WriteQueueBytes = DefaultEventWriteQueueBytes
	}
	return o
}

// Serve hands the reading of c, a connection returned by Accept, to the
// loop, and returns at once: the HTTP handler that accepted c may return.
// From then on h.OnMessage is called with each message and h.OnClose once at
// the end. Bytes the client sent right behind its handshake are delivered
// too.
//
// Call Serve right after Accept, before c is shared with other goroutines:
// on Linux it changes the connection's transport (it takes the socket out
// of Go's poller) and waits for a write in progress to finish first.
//
// On Linux, Serve needs a connection over plain TCP: a TLS connection (wrap
// the listener in a TLS-terminating proxy instead), HTTP/2 or HTTP/3
// streams, and client connections return an error wrapping ErrNotServable.
// So does a connection that is being read, is in the middle of a message or
// is closed, or that is already served. After an error c is unchanged.
func (l *EventLoop) Serve(c *Conn, h EventHandler) error {
	if h == nil {
		return fmt.Errorf("%w: the EventHandler is nil", ErrNotServable)
	}
	// What was corked while the connection was read in the default mode
	// goes out now; the loop batches its writes itself.
	c.inputUsedUp()
	return l.b.serve(c, h)
}

// Close closes every connection served by the loop, without a close
// handshake (each OnClose gets an error wrapping ErrClosed), waits for the
// OnClose calls to return, and stops the loop goroutines. To end connections
// gracefully, Close each of them first. Do not call it from a handler: it
// waits for the loops, one of which would be waiting for it.
func (l *EventLoop) Close() error { return l.b.close() }

// checkServable reports why c cannot be served; the caller holds c.readMu.
func checkServable(c *Conn) error {
	switch {
	case c.client:
		return fmt.Errorf("%w: it is a client connection; serve connections returned by Accept", ErrNotServable)
	case c.ev.Load() != nil:
		return fmt.Errorf("%w: it is already served by an event loop", ErrNotServable)
	case c.readErr != nil || c.isClosed():
		return fmt.Errorf("%w: %w", ErrNotServable, ErrClosed)
	case c.inMsg:
		return fmt.Errorf("%w: a message has been partly read; call Serve before reading or between messages", ErrNotServable)
	}
	return nil
}

// errWouldBlock is what fill returns in event mode when the input handed to
// the parser is used up: parsing stops where it is and resumes with the
// next bytes.
var errWouldBlock = errors.New("websocket: no more input (event mode)")

// errServed is returned by reads of a connection an event loop serves.
var errServed = errors.New("websocket: the connection is served by an EventLoop: its messages go to the EventHandler, do not read it")

// eventConn is what an event loop keeps per connection. Between messages
// it holds no buffer: left and msg are borrowed only while a frame header
// or a message is incomplete.
type eventConn struct {
	c *Conn
	h EventHandler

	// fdc is the connection's transport in event mode on Linux (its
	// descriptor, taken out of Go's poller); empty elsewhere. It is also
	// the Conn's net.Conn, which saves an allocation per connection.
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

// closeEvent is Close for a served connection. Waiting for the peer's close
// frame here would block the loop when a handler calls Close, and the loop
// is what reads that frame: so it sends ours and returns; the loop finishes
// the handshake, and the close timeout ends a peer that does not answer.
func (c *Conn) closeEvent(ec *eventConn, code StatusCode, reason string) error {
	if err := c.writeClose(code, reason); err != nil {
		_ = c.closeTransport()
		return err
	}
	t := time.AfterFunc(c.cfg.closeTimeout, func() { _ = c.closeTransport() })
	if !ec.closeTimer.CompareAndSwap(nil, t) {
		t.Stop()
	}
	return nil
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

// vectorWriter is a transport that writes several buffers in one system
// call; net.Buffers only knows how to do that for the net package's own
// connections.
type vectorWriter interface {
	writeBuffers(bufs net.Buffers) (int64, error)
}

// writeVectored writes bufs with one system call where the transport
// allows it.
func writeVectored(nc net.Conn, bufs *net.Buffers) (int64, error) {
	if vw, ok := nc.(vectorWriter); ok {
		return vw.writeBuffers(*bufs)
	}
	return bufs.WriteTo(nc)
}

// tcpConnOf returns the TCP connection under c, which epoll loops need.
func tcpConnOf(c *Conn) (*net.TCPConn, error) {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return nil, fmt.Errorf("%w: its transport is %T, not plain TCP; read it with Read in a goroutine", ErrNotServable, c.nc)
	}
	return tc, nil
}
