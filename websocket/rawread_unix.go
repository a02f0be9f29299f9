//go:build unix

package websocket

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// An idle connection should hold no read buffer: thousands of idle
// connections would otherwise pin thousands of buffers. Go's net.Conn.Read
// needs its buffer while it waits, so for connections that expose their
// file descriptor the wait is done through syscall.RawConn instead: the
// callback borrows a pooled buffer only for the read attempt itself and
// gives it back when the socket has nothing, before the goroutine parks.
// The system calls are the same as net.Conn.Read makes (a read that finds
// nothing, the wait, a read that succeeds).

// rawReader reads from a connection's descriptor with a borrowed buffer.
type rawReader struct {
	rc   syscall.RawConn
	fn   func(fd uintptr) bool
	size int32   // of the next buffer borrowed: base to rawGrowMax × base
	base int32   // the configured read buffer size
	bp   *[]byte // the buffer borrowed by the last successful read
	n    int
	err  error
}

// rawGrowMax bounds how far the read buffer grows (Conn.sizeReadBuffer).
// A read that fills it and leaves bytes behind a whole message means more
// messages are waiting (a client with several in flight), and a larger
// buffer then brings several messages per system call, whose answers leave
// together (cork.go). Measured with 16 messages of 4 KiB in flight on 100
// connections: 4.5 µs a message with 4 KiB reads, 2.1 with 16 KiB
// (docs/performance.md). A read filled by one long frame is no such sign:
// the rest of that frame is read straight into the caller's buffer, and
// growing for it made every 64 KiB message a copy through a pooled 64 KiB
// buffer (64 KiB × 1 000 connections, one in flight: 34 → 46 µs a
// message). A read that brings a quarter of the buffer or less halves it
// again.
const rawGrowMax = 16

// newRawReader sets up r, part of the Conn so that it costs no allocation
// of its own, and returns it, or nil when nc does not expose
// its descriptor (TLS, pipes, wrappers).
func newRawReader(r *rawReader, nc net.Conn, size int) *rawReader {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	base := int32(min(size, 1<<30))
	*r = rawReader{rc: rc, size: base, base: base}
	r.fn = r.attempt
	return r
}

// attempt is the RawConn callback: one non-blocking read. It returns false
// (wait, then call again) when the socket has no data.
func (r *rawReader) attempt(fd uintptr) bool {
	bp := getBuf(int(r.size))
	for {
		n, err := syscall.Read(int(fd), *bp)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			putBuf(bp)
			return false
		case err != nil:
			putBuf(bp)
			r.n, r.err = 0, err
			return true
		case n == 0:
			putBuf(bp)
			r.n, r.err = 0, io.EOF
			return true
		}
		r.bp, r.n, r.err = bp, n, nil
		if n <= len(*bp)/4 && r.size > r.base {
			r.size /= 2
		}
		return true
	}
}

// grow doubles the next buffer, up to rawGrowMax times the configured
// size; the reader calls it when a full buffer held more than a message.
func (r *rawReader) grow() {
	if int64(r.size) < rawGrowMax*int64(r.base) && r.size < 1<<30 {
		r.size *= 2
	}
}

// read waits for data and returns a pooled buffer holding n bytes of it.
func (r *rawReader) read() (bp *[]byte, n int, err error) {
	r.bp, r.n, r.err = nil, 0, nil
	if err := r.rc.Read(r.fn); err != nil {
		return nil, 0, err
	}
	if r.err != nil {
		return nil, 0, wrapSyscallErr(r.err)
	}
	return r.bp, r.n, nil
}

// wrapSyscallErr makes a raw errno look like what net.Conn.Read returns.
func wrapSyscallErr(err error) error {
	if err == io.EOF {
		return err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return &net.OpError{Op: "read", Net: "tcp", Err: errno}
	}
	return err
}
