package websocket

import (
	"errors"
	"fmt"
)

// CompressionMode chooses how much per-connection memory permessage-deflate
// (RFC 7692) may hold between messages.
type CompressionMode int

const (
	// CompressionNoContextTakeover compresses every message on its own. Both
	// directions are negotiated without context takeover, so a connection
	// holds no compression memory while idle: compressors and decompressors
	// come from process-wide pools for the duration of one message. Small
	// messages compress less well than with context takeover, because each
	// one starts with an empty dictionary. This is the zero value and the
	// right choice for servers with many connections.
	CompressionNoContextTakeover CompressionMode = iota

	// CompressionContextTakeover keeps the LZ77 window from one message to
	// the next where the peer allows it, so a message that repeats earlier
	// content (JSON keys, a previous state) costs a few bytes. The price is
	// memory for as long as the connection lives: the sending direction
	// keeps a dedicated compressor (about 1 MiB, whatever the window size,
	// allocated on the first compressed message) and the receiving direction
	// keeps a copy of the peer's window (2^ClientMaxWindowBits bytes on a
	// server, plus a quarter for slack). ServerNoContextTakeover and
	// ClientNoContextTakeover still switch takeover off per direction, for
	// example to keep only the cheap receiving window.
	CompressionContextTakeover
)

// String returns the constant's name.
func (m CompressionMode) String() string {
	switch m {
	case CompressionNoContextTakeover:
		return "CompressionNoContextTakeover"
	case CompressionContextTakeover:
		return "CompressionContextTakeover"
	}
	return fmt.Sprintf("CompressionMode(%d)", int(m))
}

// Defaults of CompressionOptions, chosen by measurement (docs/compression.md).
const (
	// DefaultCompressionLevel is flate level 1: on JSON-like messages it
	// compresses within a few percent of level 6 at two to four times the
	// speed.
	DefaultCompressionLevel = 1
	// DefaultCompressionThreshold is the size below which a message is sent
	// uncompressed when its direction has no context takeover: measured on
	// JSON-like messages, deflate output at 128 bytes and under is larger
	// than the input; at 160 bytes it is 80% of it.
	DefaultCompressionThreshold = 160
	// takeoverCompressionThreshold replaces it under context takeover,
	// where even a 32-byte message shrinks to about a third by referring
	// to earlier ones.
	takeoverCompressionThreshold = 32
)

// CompressionOptions configures permessage-deflate (RFC 7692). A nil
// *CompressionOptions in AcceptOptions or DialOptions leaves compression off;
// a pointer to the zero value turns it on with the defaults below, which
// keep no per-connection compression memory.
//
// Measured on the reference machine (docs/compression.md has the tables
// and the commands): at the default level 1, compressing a 4 KiB JSON-like
// message takes about 10–13 µs and decompressing it about 10 µs, and the
// output is about a quarter of the input. Context takeover makes small
// messages much smaller (64 bytes: 29% of the input instead of 109%), but
// the sending direction then holds about 1 MiB per connection. Without
// takeover an idle connection holds under 300 bytes for compression.
type CompressionOptions struct {
	// Level is the flate level, 1 (fastest) to 9 (smallest output); 0 means
	// DefaultCompressionLevel. Levels above 1 cost much more CPU for a few
	// percent of size. The level applies when the sending window is 15 bits;
	// smaller windows use the one compressor that can honour them, whose
	// speed sits near level 5.
	Level int

	// Threshold is the message size, in bytes, below which a message is sent
	// uncompressed (RSV1 clear, which RFC 7692 allows per message). 0 means
	// DefaultCompressionThreshold (160) for a direction without context
	// takeover and 32 bytes with it; a negative value compresses every
	// message. Streamed messages (Conn.Writer) are always compressed: their
	// size is not known up front.
	Threshold int

	// ServerMaxWindowBits is the base-2 logarithm of the LZ77 window for
	// server-to-client messages, 8 to 15; 0 means 15. On a server it is the
	// largest window it compresses with (it answers with the smaller of this
	// and what the client asks for). On a client it is sent as
	// server_max_window_bits when below 15, so that the server's messages
	// need a smaller receiving window. A smaller window costs compression
	// ratio on messages that repeat content further back than the window.
	ServerMaxWindowBits int

	// ClientMaxWindowBits is the same for client-to-server messages. On a
	// server it limits the window clients that announce client_max_window_bits
	// may use, and with it the receiving window the server keeps per
	// connection under context takeover. On a client it is the window it
	// compresses with. A value of 8 is sent as 9 by a server: zlib (used by
	// browsers, Python and Node) cannot compress raw deflate with a 256-byte
	// window and would fail the connection.
	ClientMaxWindowBits int

	// ServerNoContextTakeover makes server-to-client messages independent of
	// each other: a server announces server_no_context_takeover and uses
	// pooled compressors; a client asks the server for it. Implied by
	// CompressionNoContextTakeover.
	ServerNoContextTakeover bool

	// ClientNoContextTakeover does the same for client-to-server messages: a
	// server requires client_no_context_takeover and decompresses with pooled
	// state; a client announces it and uses pooled compressors. Implied by
	// CompressionNoContextTakeover.
	ClientNoContextTakeover bool

	// Mode chooses between no per-connection state (the zero value) and
	// context takeover; see CompressionMode.
	Mode CompressionMode
}

// errCompressionOptions is wrapped by every validation error of
// CompressionOptions.
var errCompressionOptions = errors.New("websocket: invalid CompressionOptions")

// deflateConfig is CompressionOptions with the defaults applied.
type deflateConfig struct {
	level            int
	threshold        int
	serverMaxWindow  int
	clientMaxWindow  int
	serverNoTakeover bool
	clientNoTakeover bool
}

// validate reports the first field of o that is out of range. Accept and
// Dial call it so that a mistake shows at once rather than as a handshake
// that silently turns compression off.
func (o *CompressionOptions) validate() error {
	if o == nil {
		return nil
	}
	if o.Level < 0 || o.Level > 9 {
		return fmt.Errorf("%w: Level %d is outside 0..9; use 1 for speed, 9 for size or 0 for the default", errCompressionOptions, o.Level)
	}
	if o.ServerMaxWindowBits != 0 && (o.ServerMaxWindowBits < 8 || o.ServerMaxWindowBits > 15) {
		return fmt.Errorf("%w: ServerMaxWindowBits %d is outside 8..15; use 0 for 15", errCompressionOptions, o.ServerMaxWindowBits)
	}
	if o.ClientMaxWindowBits != 0 && (o.ClientMaxWindowBits < 8 || o.ClientMaxWindowBits > 15) {
		return fmt.Errorf("%w: ClientMaxWindowBits %d is outside 8..15; use 0 for 15", errCompressionOptions, o.ClientMaxWindowBits)
	}
	if o.Mode != CompressionNoContextTakeover && o.Mode != CompressionContextTakeover {
		return fmt.Errorf("%w: unknown Mode %d; use CompressionNoContextTakeover or CompressionContextTakeover", errCompressionOptions, int(o.Mode))
	}
	return nil
}

// config applies the defaults. Out-of-range values are clamped so that a
// caller that skipped validate still gets a working, standard-conforming
// negotiation.
func (o *CompressionOptions) config() deflateConfig {
	c := deflateConfig{
		level:            DefaultCompressionLevel,
		threshold:        DefaultCompressionThreshold,
		serverMaxWindow:  15,
		clientMaxWindow:  15,
		serverNoTakeover: true,
		clientNoTakeover: true,
	}
	if o == nil {
		return c
	}
	if o.Level >= 1 && o.Level <= 9 {
		c.level = o.Level
	}
	switch {
	case o.Threshold < 0:
		c.threshold = 0
	case o.Threshold > 0:
		c.threshold = o.Threshold
	default:
		c.threshold = -1 // chosen per direction, see threshold
	}
	c.serverMaxWindow = clampWindowBits(o.ServerMaxWindowBits)
	c.clientMaxWindow = clampWindowBits(o.ClientMaxWindowBits)
	if o.Mode == CompressionContextTakeover {
		c.serverNoTakeover = o.ServerNoContextTakeover
		c.clientNoTakeover = o.ClientNoContextTakeover
	}
	return c
}

// thresholdFor is the smallest message worth compressing in a direction
// with or without context takeover.
func (c deflateConfig) thresholdFor(takeover bool) int {
	switch {
	case c.threshold >= 0:
		return c.threshold
	case takeover:
		return takeoverCompressionThreshold
	}
	return DefaultCompressionThreshold
}

func clampWindowBits(b int) int {
	switch {
	case b == 0 || b > 15:
		return 15
	case b < 8:
		return 8
	}
	return b
}
