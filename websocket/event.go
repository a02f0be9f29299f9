package websocket

import (
	"errors"
	"fmt"
	"net"
	"runtime"
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
	// final part, and OnClose reports why. A handler that passes the
	// message on through a MessageWriter ends it with CloseWith(p) on
	// the final part, so that part and the end of the message leave as
	// one frame.
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
