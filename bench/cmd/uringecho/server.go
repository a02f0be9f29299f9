//go:build linux && amd64

package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// server accepts connections with the net package (off the measured path:
// accept and handshake happen once per connection), does the HTTP upgrade
// on each with ordinary blocking reads and writes, then hands a duplicate
// of the socket descriptor to the ring loop and lets go of its own.
type server struct {
	ln   net.Listener
	l    *loop
	done chan struct{} // closed when the ring loop has ended
	err  error         // the ring loop's, valid after done

	quit      chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	shaking   map[net.Conn]struct{} // handshakes in progress
	wg        sync.WaitGroup
}

func start(addr string, entries uint32, batchWait time.Duration) (*server, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		unix.Close(efd)
		return nil, err
	}
	s := &server{
		ln:      ln,
		l:       &loop{efd: efd, incom: make(chan newConn, 1024), entries: entries, batchWait: batchWait},
		done:    make(chan struct{}),
		quit:    make(chan struct{}),
		shaking: map[net.Conn]struct{}{},
	}
	ready := make(chan error, 1)
	go func() {
		s.err = s.l.run(ready)
		close(s.done)
	}()
	if err := <-ready; err != nil {
		<-s.done
		ln.Close()
		unix.Close(efd)
		return nil, err
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Close stops accepting, stops the ring loop, closes every connection and
// returns the ring loop's error.
func (s *server) Close() error {
	s.closeOnce.Do(func() {
		close(s.quit)
		s.ln.Close()
		s.mu.Lock()
		for c := range s.shaking {
			c.Close()
		}
		s.mu.Unlock()
		s.l.stop.Store(true)
		s.l.wake()
		<-s.done
		s.wg.Wait()
		for len(s.l.incom) > 0 {
			unix.Close((<-s.l.incom).fd)
		}
		unix.Close(s.l.efd)
	})
	return s.err
}

func (s *server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.quit:
				return
			default:
			}
			time.Sleep(10 * time.Millisecond) // e.g. out of descriptors
			continue
		}
		s.mu.Lock()
		select {
		case <-s.quit:
			s.mu.Unlock()
			c.Close()
			return
		default:
		}
		s.shaking[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.upgrade(c)
	}
}

// upgrade does the handshake and passes the connection to the ring loop.
func (s *server) upgrade(c net.Conn) {
	defer s.wg.Done()
	rest, err := handshake(c)
	fd := -1
	if err == nil {
		fd, err = takeFD(c)
	}
	s.mu.Lock()
	delete(s.shaking, c)
	s.mu.Unlock()
	c.Close()
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return
	}
	unix.SetNonblock(fd, false) // ours alone now; io_uring polls as needed
	select {
	case s.l.incom <- newConn{fd: fd, rest: rest}:
		s.l.wake()
	case <-s.quit:
		unix.Close(fd)
	}
}

// takeFD duplicates the connection's descriptor (close-on-exec).
func takeFD(c net.Conn) (int, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return -1, errors.New("not TCP")
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	return fd, derr
}

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// handshake reads the upgrade request up to its blank line, answers 101
// (RFC 6455 §4.2.2) and returns any bytes that came after the request.
func handshake(c net.Conn) (rest []byte, err error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	buf := make([]byte, 0, 2048)
	var head []byte
	for head == nil {
		if len(buf) == cap(buf) {
			if cap(buf) >= 64<<10 {
				return nil, errors.New("request header too large")
			}
			buf = append(buf, make([]byte, cap(buf))...)[:len(buf)]
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			head, rest = buf[:i], buf[i+4:]
		} else if err != nil {
			return nil, err
		}
	}
	lines := strings.Split(string(head), "\r\n")
	key := ""
	upgrade := false
	for _, ln := range lines[1:] {
		name, val, ok := strings.Cut(ln, ":")
		if !ok {
			continue
		}
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		switch {
		case strings.EqualFold(name, "Sec-WebSocket-Key"):
			key = val
		case strings.EqualFold(name, "Upgrade"):
			upgrade = strings.EqualFold(val, "websocket")
		}
	}
	if !strings.HasPrefix(lines[0], "GET ") || key == "" || !upgrade {
		c.Write([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
		return nil, errors.New("not a WebSocket upgrade")
	}
	sum := sha1.Sum([]byte(key + acceptGUID))
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
	if _, err := c.Write([]byte(resp)); err != nil {
		return nil, err
	}
	return rest, nil
}
