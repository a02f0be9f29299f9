package websocket

import "sync"

// preparedDeflate is a message compressed once for many connections, the
// compression half of a broadcast (PreparedMessage). A message compressed
// on its own, without context takeover, with a window of w bits is valid on
// every connection whose sending direction has no context takeover and a
// window of w bits: equal negotiated parameters give equal bytes. Under
// takeover a connection must compress the message itself, so that its
// window sees it.
type preparedDeflate struct {
	payload []byte
	level   int

	mu  sync.Mutex
	out [16][]byte // by window bits 8..15, filled on first use
	err [16]error
}

// newPreparedDeflate wraps payload, which must not change afterwards; level
// is used for 15-bit windows (0 means the default).
func newPreparedDeflate(payload []byte, level int) *preparedDeflate {
	if level < 1 || level > 9 {
		level = DefaultCompressionLevel
	}
	return &preparedDeflate{payload: payload, level: level}
}

// forCompressor returns the compressed bytes to send on the connection
// that owns c, computed at most once per window size and shared: callers
// must not modify them. ok is false when c uses context takeover; the
// caller then compresses with c.compress.
func (pd *preparedDeflate) forCompressor(c *deflateCompressor) (compressed []byte, ok bool, err error) {
	bits, ok := c.shareable()
	if !ok {
		return nil, false, nil
	}
	pd.mu.Lock()
	defer pd.mu.Unlock()
	if pd.out[bits] == nil && pd.err[bits] == nil {
		pd.out[bits], pd.err[bits] = deflateStandalone(nil, pd.payload, pd.level, bits)
	}
	return pd.out[bits], pd.err[bits] == nil, pd.err[bits]
}

// deflateStandalone appends p compressed on its own (no context takeover)
// with the given level and window to dst, without the trailing 00 00 ff ff.
func deflateStandalone(dst, p []byte, level, windowBits int) ([]byte, error) {
	c := deflateCompressor{level: level, windowBits: clampWindowBits(windowBits)}
	if level < 1 || level > 9 {
		c.level = DefaultCompressionLevel
	}
	return c.compress(dst, p)
}
