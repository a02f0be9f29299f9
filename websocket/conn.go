package websocket

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// MessageType is the type of a data message: text (valid UTF-8) or binary.
type MessageType int

// Message types, with the values of their opcodes (RFC 6455 §5.6).
const (
	MessageText   MessageType = 1
	MessageBinary MessageType = 2
)

// String returns "text" or "binary".
func (t MessageType) String() string {
	switch t {
	case MessageText:
		return "text"
	case MessageBinary:
		return "binary"
	}
	return "MessageType(" + itoa(int(t)) + ")"
}

// Conn is a WebSocket connection, returned by Accept and Dial.
//
// All methods are safe for concurrent use, except that only one goroutine may
// read (Read, ReadInto, Reader and the reader it returns) at a time.
type Conn struct {
	// Fields are ordered so that small ones share words: a Conn is the
	// bulk of what an idle connection costs, and 640 bytes is a size
	// class of the allocator where 728 took 768.
	nc  net.Conn
	hs  *handshakeResult // nil when neither a subprotocol nor an extension was agreed
	cfg connConfig

	// Reading; owned by whoever holds readMu.
	readMu    sync.Mutex
	pending   *[]pendingMessage // messages Close read on the application's behalf
	rbuf      []byte            // buffered bytes are rbuf[rpos:rend]
	rbufp     *[]byte
	raw       *rawReader // &rawr, or nil when the transport hides its descriptor
	rawr      rawReader
	msgGen    uint64
	rpos      int
	rend      int
	frame     frameHeader
	frameLeft int64 // payload bytes of the current frame not read yet
	maskPos   int
	msgType   MessageType
	msgLen    int64 // payload bytes of the current message so far (after inflating)
	readErr   error // sticky: once set, every read returns it
	readLimit atomic.Int64

	client  bool
	inMsg   bool // a data message has started and its final frame is not fully read
	msgRSV1 bool
	utf8    utf8Validator
	hdr     [maxHeaderSize]byte // frame header being written; guarded by wsem

	// Writing. wsem serialises frames; msem serialises data messages so that
	// a streamed message's frames are not interleaved with another message's,
	// while control frames can still go between them.
	wsem     slot
	msem     slot
	writeErr error     // sticky, guarded by wsem
	wv       *writev   // for header and payload in one system call; made on first use
	ck       *cork     // frames waiting for the reader to use up its input (cork.go)
	keys     *[64]byte // client only: random masking keys, refilled when used up
	keyPos   int

	// Lifecycle.
	closeSent  atomic.Bool
	noCompress atomic.Bool
	io         atomic.Uint32 // ioMoreInput, ioCorked (cork.go); here, it fills padding
	closeOnce  sync.Once
	closeRecvd signal // the peer's close frame arrived
	closed     signal // the transport is closed
	closeErr   error

	// Pings waiting for their pong, by payload.
	pingMu  sync.Mutex
	pings   map[uint64]chan struct{}
	pingSeq atomic.Uint64
	hb      *heartbeat

	compressor   *deflateCompressor
	decompressor *deflateDecompressor
	payloadSrc   *payloadSource
	inflater     io.Reader

	// ev is set while an EventLoop serves the connection (event_conn_linux.go).
	ev atomic.Pointer[eventConn]
}

// handshakeResult is what the opening handshake agreed beyond the defaults;
// most connections have none, so it is kept out of the Conn.
type handshakeResult struct {
	subprotocol string
	extensions  string
}

// setHandshake records the subprotocol and extensions agreed.
func (c *Conn) setHandshake(subprotocol, extensions string) {
	if subprotocol != "" || extensions != "" {
		c.hs = &handshakeResult{subprotocol: subprotocol, extensions: extensions}
	}
}

func newConn(nc net.Conn, client bool, cfg connConfig, buffered []byte) *Conn {
	c := &Conn{
		nc:     nc,
		client: client,
		cfg:    cfg,
	}
	c.readLimit.Store(cfg.readLimit)
	if len(buffered) > 0 {
		c.rbuf = make([]byte, max(cfg.readBufferSize, len(buffered)))
		c.rend = copy(c.rbuf, buffered)
	}
	if len(buffered) == 0 {
		c.raw = newRawReader(&c.rawr, nc, cfg.readBufferSize)
	} else {
		c.raw = newRawReader(&c.rawr, nc, max(cfg.readBufferSize, len(buffered)))
	}
	c.setupDeflate()
	if cfg.pingInterval > 0 {
		c.startHeartbeat()
	}
	return c
}

// Subprotocol returns the subprotocol chosen in the handshake, or "".
func (c *Conn) Subprotocol() string {
	if c.hs == nil {
		return ""
	}
	return c.hs.subprotocol
}

// Extensions returns the Sec-WebSocket-Extensions value negotiated in the
// handshake, or "".
func (c *Conn) Extensions() string {
	if c.hs == nil {
		return ""
	}
	return c.hs.extensions
}

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetReadLimit sets the largest message, in bytes, that the connection
// accepts; a larger one closes the connection with StatusMessageTooBig. For a
// compressed message the limit applies to its inflated size. A negative n
// removes the limit.
func (c *Conn) SetReadLimit(n int64) {
	if n < 0 {
		n = 1<<63 - 1
	}
	c.readLimit.Store(n)
}

// closeTransport closes the underlying connection once and releases buffers
// and timers. It is safe to call from any goroutine.
func (c *Conn) closeTransport() error {
	c.closeOnce.Do(func() {
		if ec := c.ev.Load(); ec != nil {
			// Event mode: only the loop closes the descriptor, once it
			// is out of the epoll set; shutdown wakes the loop for it,
			// and the loop must see the connection closed by us.
			c.closed.fire()
			c.closeErr = ec.shutdown()
		} else {
			// Marked closed first, so that a read or write this
			// interrupts reports ErrClosed.
			c.closed.fire()
			c.closeErr = c.nc.Close()
		}
		if c.hb != nil {
			c.hb.stop()
		}
		// Free the compressor now unless a writer is using it; that
		// writer frees it on its way out.
		if c.msem.tryAcquire() {
			c.releaseCompressor()
			release(&c.msem)
		}
	})
	return c.closeErr
}

// isClosed reports whether the transport has been closed.
func (c *Conn) isClosed() bool { return c.closed.fired() }

// CloseNow closes the underlying connection at once, without a close
// handshake. Blocked reads and writes return errors wrapping ErrClosed.
func (c *Conn) CloseNow() error {
	if c.isClosed() {
		return ErrClosed
	}
	return c.closeTransport()
}

// maskKey returns a fresh masking key from the crypto/rand source (RFC 6455
// §5.3 asks for keys an intermediary cannot predict). Keys are drawn 16 at a
// time. The caller holds wsem.
func (c *Conn) maskKey() [4]byte {
	if c.keys == nil {
		c.keys = new([64]byte)
		c.keyPos = len(c.keys)
	}
	if c.keyPos+4 > len(c.keys) {
		_, _ = rand.Read(c.keys[:])
		c.keyPos = 0
	}
	var k [4]byte
	copy(k[:], c.keys[c.keyPos:])
	c.keyPos += 4
	return k
}

// aLongTimeAgo is a deadline in the past, used to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// cancelWatch arranges for blocked I/O on the connection to be interrupted
// when ctx is done. stop must be called when the I/O is over; it reports
// whether the interruption happened. A context that can never be done costs
// nothing.
type cancelWatch struct {
	stopFn func() bool
	done   chan struct{}
}

func (c *Conn) watch(ctx context.Context, read bool) cancelWatch {
	if ctx.Done() == nil {
		return cancelWatch{}
	}
	w := cancelWatch{done: make(chan struct{})}
	w.stopFn = context.AfterFunc(ctx, func() {
		if read {
			_ = c.nc.SetReadDeadline(aLongTimeAgo)
		} else {
			_ = c.nc.SetWriteDeadline(aLongTimeAgo)
		}
		close(w.done)
	})
	return w
}

// stop ends the watch; it reports true when the context fired, in which case
// the deadline it set has been waited for and is still in force.
func (w cancelWatch) stop() bool {
	if w.stopFn == nil {
		return false
	}
	if w.stopFn() {
		return false
	}
	<-w.done
	return true
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
