package main

import (
	"errors"
	"io"
	"net"
	"sync"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

func init() {
	register("gobwas-epoll", runGobwasEpoll)
	notes["gobwas-epoll"] = "no compression; frame-level echo"
}

// runGobwasEpoll is the "million connections" style gobwas was written for:
// no goroutine and no buffer per idle connection. An epoll instance of our
// own watches every connection (one-shot, level-triggered); when one is
// readable a worker from a fixed pool reads one frame with ws.ReadHeader
// into a pooled buffer, unmasks it, echoes it and re-arms the descriptor.
// Data frames are echoed frame by frame, which keeps fragmented messages
// intact. It does not negotiate compression.
func runGobwasEpoll(cfg config) error {
	if cfg.compress {
		return errors.New("gobwas-epoll does not implement permessage-deflate")
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	p := &epollServer{ep: ep, conns: map[int32]*epollConn{}, work: make(chan *epollConn, 1024)}
	for i := 0; i < 64; i++ {
		go p.worker()
	}
	go p.wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go p.upgrade(conn)
	}
}

type epollServer struct {
	ep    int
	mu    sync.Mutex
	conns map[int32]*epollConn
	work  chan *epollConn
}

type epollConn struct {
	conn net.Conn
	fd   int32
}

var epollBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (p *epollServer) upgrade(conn net.Conn) {
	if _, err := ws.Upgrade(conn); err != nil {
		conn.Close()
		return
	}
	sc, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		conn.Close()
		return
	}
	var fd int32
	_ = sc.Control(func(f uintptr) { fd = int32(f) })
	c := &epollConn{conn: conn, fd: fd}
	p.mu.Lock()
	p.conns[fd] = c
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: fd}
	if err := unix.EpollCtl(p.ep, unix.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		p.drop(c)
	}
}

func (p *epollServer) wait() {
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.ep, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			fatalf("epoll_wait: %v", err)
		}
		p.mu.Lock()
		for _, ev := range events[:n] {
			if c := p.conns[ev.Fd]; c != nil {
				p.work <- c
			}
		}
		p.mu.Unlock()
	}
}

func (p *epollServer) drop(c *epollConn) {
	p.mu.Lock()
	delete(p.conns, c.fd)
	p.mu.Unlock()
	_ = unix.EpollCtl(p.ep, unix.EPOLL_CTL_DEL, int(c.fd), nil)
	c.conn.Close()
}

func (p *epollServer) worker() {
	hdr := &sliceWriter{b: make([]byte, 0, ws.MaxHeaderSize)}
	for c := range p.work {
		if err := p.echoFrame(c, hdr); err != nil {
			p.drop(c)
			continue
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: c.fd}
		if err := unix.EpollCtl(p.ep, unix.EPOLL_CTL_MOD, int(c.fd), &ev); err != nil {
			p.drop(c)
		}
	}
}

// echoFrame reads one frame and answers it: data frames are echoed,
// pings answered, a close frame closes. The payload is read behind
// MaxHeaderSize bytes of headroom so that header and payload leave in one
// write; hdr is the worker's own scratch for the encoded header.
func (p *epollServer) echoFrame(c *epollConn, hdr *sliceWriter) error {
	h, err := ws.ReadHeader(c.conn)
	if err != nil {
		return err
	}
	if h.Length > readLimit {
		return errors.New("frame too large")
	}
	work()
	bp := epollBufs.Get().(*[]byte)
	defer epollBufs.Put(bp)
	need := int(h.Length) + ws.MaxHeaderSize
	if cap(*bp) < need {
		*bp = make([]byte, need)
	}
	buf := (*bp)[:need]
	payload := buf[ws.MaxHeaderSize:]
	if _, err := io.ReadFull(c.conn, payload); err != nil {
		return err
	}
	if h.Masked {
		ws.Cipher(payload, h.Mask, 0)
		h.Masked = false
	}
	switch h.OpCode {
	case ws.OpPong:
		return nil
	case ws.OpPing:
		h.OpCode = ws.OpPong
	}
	hdr.b = hdr.b[:0]
	if err := ws.WriteHeader(hdr, h); err != nil {
		return err
	}
	start := ws.MaxHeaderSize - len(hdr.b)
	copy(buf[start:], hdr.b)
	if _, err := c.conn.Write(buf[start:]); err != nil {
		return err
	}
	if h.OpCode == ws.OpClose {
		return io.EOF
	}
	return nil
}

type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
