package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// errMismatch reports an echo whose payload differs from what was sent.
var errMismatch = errors.New("echoed payload differs from the message sent")

// conn is one client connection: a raw TCP socket, a read buffer parsed in
// place, and what is needed to check each echo without copying it.
type conn struct {
	nc   net.Conn
	fs   *frameSet
	buf  []byte
	r, w int // unread bytes are buf[r:w]

	compress bool
	zbuf     []byte    // compressed message being received
	good     []byte    // a compressed echo already verified by inflating it
	inf      *inflater // created on the first compressed echo
	next     int       // index of the next precomputed frame to send
	inflates uint64    // compressed echoes that had to be inflated
}

func newConn(nc net.Conn, fs *frameSet, compress bool, bufSize int) *conn {
	return &conn{nc: nc, fs: fs, compress: compress, buf: make([]byte, bufSize)}
}

// send writes the next precomputed frame.
func (c *conn) send() error {
	f := c.fs.frames[c.next]
	c.next++
	if c.next == len(c.fs.frames) {
		c.next = 0
	}
	_, err := c.nc.Write(f)
	return err
}

// fill makes at least n bytes available at buf[r:], n <= len(buf).
func (c *conn) fill(n int) error {
	if c.w-c.r >= n {
		return nil
	}
	if c.r+n > len(c.buf) {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	for c.w-c.r < n {
		m, err := c.nc.Read(c.buf[c.w:])
		c.w += m
		if err != nil {
			if err == io.EOF && c.w-c.r < n {
				return io.ErrUnexpectedEOF
			}
			if c.w-c.r < n {
				return err
			}
		}
	}
	return nil
}

// header reads one frame header of the server (which must not mask).
func (c *conn) header() (fin, rsv1 bool, op byte, n uint64, err error) {
	if err = c.fill(2); err != nil {
		return
	}
	b0, b1 := c.buf[c.r], c.buf[c.r+1]
	if b1&0x80 != 0 {
		err = errors.New("server sent a masked frame (RFC 6455 5.1 forbids it)")
		return
	}
	if b0&0x30 != 0 {
		err = fmt.Errorf("server set RSV2/RSV3 (first byte %#x) without an extension for them", b0)
		return
	}
	fin, rsv1, op = b0&0x80 != 0, b0&0x40 != 0, b0&0x0f
	hl := 2
	switch b1 & 0x7f {
	case 126:
		hl = 4
	case 127:
		hl = 10
	}
	if err = c.fill(hl); err != nil {
		return
	}
	switch hl {
	case 2:
		n = uint64(b1 & 0x7f)
	case 4:
		n = uint64(binary.BigEndian.Uint16(c.buf[c.r+2:]))
	default:
		n = binary.BigEndian.Uint64(c.buf[c.r+2:])
	}
	c.r += hl
	return
}

// readEcho reads one whole data message (all its fragments, answering any
// control frame in between) and checks it against the message sent.
func (c *conn) readEcho() error {
	var (
		started    bool
		compressed bool
		off        int // bytes of the uncompressed echo compared so far
		same       = true
	)
	c.zbuf = c.zbuf[:0]
	for {
		fin, rsv1, op, n, err := c.header()
		if err != nil {
			return err
		}
		if op >= 8 {
			if err := c.control(op, n); err != nil {
				return err
			}
			continue
		}
		switch {
		case !started && op == 0:
			return errors.New("server sent a continuation frame with no message started")
		case started && op != 0:
			return fmt.Errorf("server started a new message (opcode %d) inside a fragmented one", op)
		case !started && op != c.fs.op:
			return fmt.Errorf("echo has opcode %d, sent %d", op, c.fs.op)
		case started && rsv1:
			return errors.New("server set RSV1 on a continuation frame")
		case !started:
			started = true
			compressed = rsv1
			if compressed && !c.compress {
				return errors.New("server compressed a message though compression was not negotiated")
			}
		}
		// Consume the payload chunk by chunk, straight from the read buffer.
		for n > 0 {
			if c.r == c.w {
				c.r, c.w = 0, 0
				m, err := c.nc.Read(c.buf)
				c.w = m
				if m == 0 && err != nil {
					if err == io.EOF {
						err = io.ErrUnexpectedEOF
					}
					return err
				}
			}
			k := c.w - c.r
			if uint64(k) > n {
				k = int(n)
			}
			chunk := c.buf[c.r : c.r+k]
			if compressed {
				c.zbuf = append(c.zbuf, chunk...)
			} else if same {
				same = off+k <= len(c.fs.want) && bytes.Equal(chunk, c.fs.want[off:off+k])
			}
			off += k
			c.r += k
			n -= uint64(k)
		}
		if fin {
			break
		}
	}
	if !compressed {
		if !same || off != len(c.fs.want) {
			return errMismatch
		}
		return nil
	}
	return c.checkCompressed()
}

// checkCompressed verifies a compressed echo. Without context takeover a
// deterministic compressor gives the same bytes for the same message, so
// after one verified inflate the check is a comparison.
func (c *conn) checkCompressed() error {
	if c.good != nil && bytes.Equal(c.zbuf, c.good) {
		return nil
	}
	if c.inf == nil {
		c.inf = &inflater{}
	}
	c.inflates++
	out, err := c.inf.inflate(c.zbuf)
	if err != nil {
		return err
	}
	if !bytes.Equal(out, c.fs.want) {
		return errMismatch
	}
	c.good = append(c.good[:0], c.zbuf...)
	return nil
}

// control handles a control frame of n bytes: pings get a pong, a close
// frame ends the connection with the server's code.
func (c *conn) control(op byte, n uint64) error {
	if n > 125 {
		return fmt.Errorf("control frame of %d bytes (RFC 6455 5.5 allows 125)", n)
	}
	if err := c.fill(int(n)); err != nil {
		return err
	}
	p := c.buf[c.r : c.r+int(n)]
	c.r += int(n)
	switch op {
	case 9: // ping
		_, err := c.nc.Write(clientFrame(10, false, p))
		return err
	case 10: // pong
		return nil
	case 8:
		code := 1005
		if len(p) >= 2 {
			code = int(binary.BigEndian.Uint16(p))
		}
		return fmt.Errorf("server closed the connection: code %d %q", code, p[min(2, len(p)):])
	}
	return fmt.Errorf("server sent reserved control opcode %d", op)
}

// closeFrame is a masked close frame with status 1000, sent before closing.
var closeFrame = clientFrame(8, false, []byte{0x03, 0xe8})
