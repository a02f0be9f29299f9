package websocket

import (
	"context"
	"fmt"
	"net"
	"sync"
)

// PreparedMessage is a message encoded once and sent to many connections:
// the frame a server sends is the same for every client, so a broadcast
// builds it once instead of once per connection. With permessage-deflate the
// message is compressed once per negotiated window size for connections
// without context takeover; a connection with takeover compresses it
// itself, since its window must see the message.
type PreparedMessage struct {
	typ  MessageType
	data []byte

	once  sync.Once
	frame []byte // uncompressed server frame

	deflate *preparedDeflate
	mu      sync.Mutex
	zframes [16][]byte // compressed server frames, by window bits
}

// NewPreparedMessage prepares data as a message of type typ. data must not
// be modified afterwards.
func NewPreparedMessage(typ MessageType, data []byte) *PreparedMessage {
	return &PreparedMessage{typ: typ, data: data, deflate: newPreparedDeflate(data, 0)}
}

// Type returns the message type.
func (pm *PreparedMessage) Type() MessageType { return pm.typ }

// Data returns the payload. It must not be modified.
func (pm *PreparedMessage) Data() []byte { return pm.data }

// serverFrame returns the uncompressed frame, built on first use.
func (pm *PreparedMessage) serverFrame() []byte {
	pm.once.Do(func() {
		var key [4]byte
		b := make([]byte, 0, maxHeaderSize+len(pm.data))
		b = appendHeader(b, true, 0, opcode(pm.typ), int64(len(pm.data)), false, key)
		pm.frame = append(b, pm.data...)
	})
	return pm.frame
}

// compressedFrame returns the compressed server frame for a compressor whose
// output can be shared, or ok false.
func (pm *PreparedMessage) compressedFrame(dc *deflateCompressor) (frame []byte, ok bool, err error) {
	bits, ok := dc.shareable()
	if !ok {
		return nil, false, nil
	}
	z, ok, err := pm.deflate.forCompressor(dc)
	if !ok || err != nil {
		return nil, false, err
	}
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if pm.zframes[bits] == nil {
		var key [4]byte
		b := make([]byte, 0, maxHeaderSize+len(z))
		b = appendHeader(b, true, bitRSV1, opcode(pm.typ), int64(len(z)), false, key)
		pm.zframes[bits] = append(b, z...)
	}
	return pm.zframes[bits], true, nil
}

// WritePrepared sends pm. On a server connection this is one write of the
// shared frame; a client connection masks its own copy.
func (c *Conn) WritePrepared(ctx context.Context, pm *PreparedMessage) error {
	if err := c.acquire(ctx, &c.msem); err != nil {
		return err
	}
	defer release(&c.msem)
	return c.writePreparedLocked(ctx, pm)
}

// writePreparedLocked writes pm; the caller holds msem.
func (c *Conn) writePreparedLocked(ctx context.Context, pm *PreparedMessage) error {
	if pm.typ != MessageText && pm.typ != MessageBinary {
		return fmt.Errorf("websocket: cannot write a prepared message of type %v", pm.typ)
	}
	if c.client {
		return c.writeData(ctx, pm.typ, pm.data)
	}
	frame := pm.serverFrame
	if c.compressMessage(len(pm.data)) {
		f, ok, err := pm.compressedFrame(c.compressor)
		if err != nil {
			return fmt.Errorf("websocket: compressing a prepared message: %w", err)
		}
		if !ok {
			return c.writeCompressed(ctx, pm.typ, pm.data)
		}
		frame = func() []byte { return f }
	}
	return c.writeEncoded(ctx, frame())
}

// writeEncoded writes bytes that already form whole frames.
func (c *Conn) writeEncoded(ctx context.Context, b []byte) error {
	if err := c.acquire(ctx, &c.wsem); err != nil {
		return err
	}
	defer c.releaseWrite()
	if c.closeSent.Load() {
		return errCloseSent
	}
	if err := c.uncorkLocked(); err != nil {
		return err
	}
	if c.writeErr != nil {
		return c.writeErr
	}
	w := c.watch(ctx, false)
	_, err := c.nc.Write(b)
	if err != nil {
		err = c.writeFailed(err)
	}
	if w.stop() {
		if err == nil {
			c.resetWriteDeadline()
		} else {
			err = fmt.Errorf("websocket: write: %w", ctx.Err())
			c.writeErr = err
		}
	}
	return err
}

// WritePreparedBatch sends several prepared messages in order. On a server
// connection their frames go out together, in one vectored system call,
// which is what a per-connection writer draining a queue of broadcasts
// wants: one write for everything that piled up. A connection that must
// compress or mask per message writes them one by one.
func (c *Conn) WritePreparedBatch(ctx context.Context, pms []*PreparedMessage) error {
	if len(pms) == 0 {
		return nil
	}
	if err := c.acquire(ctx, &c.msem); err != nil {
		return err
	}
	defer release(&c.msem)
	if c.client || c.compressor != nil {
		for _, pm := range pms {
			if err := c.writePreparedLocked(ctx, pm); err != nil {
				return err
			}
		}
		return nil
	}
	bufs := make(net.Buffers, 0, len(pms))
	for _, pm := range pms {
		if pm.typ != MessageText && pm.typ != MessageBinary {
			return fmt.Errorf("websocket: cannot write a prepared message of type %v", pm.typ)
		}
		bufs = append(bufs, pm.serverFrame())
	}
	if err := c.acquire(ctx, &c.wsem); err != nil {
		return err
	}
	defer c.releaseWrite()
	if c.closeSent.Load() {
		return errCloseSent
	}
	if err := c.uncorkLocked(); err != nil {
		return err
	}
	if c.writeErr != nil {
		return c.writeErr
	}
	w := c.watch(ctx, false)
	_, err := writeVectored(c.nc, &bufs) // one writev in event mode too
	if err != nil {
		err = c.writeFailed(err)
	}
	if w.stop() {
		if err == nil {
			c.resetWriteDeadline()
		} else {
			err = fmt.Errorf("websocket: write: %w", ctx.Err())
			c.writeErr = err
		}
	}
	return err
}
