package main

import (
	"bufio"
	"compress/flate"
	"io"
	"net"
	"sync"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"
)

func init() {
	register("gobwas", func(cfg config) error { return runGobwas(cfg, 4<<10) })
	register("gobwas-64k", func(cfg config) error { return runGobwas(cfg, 64<<10) })
	notes["gobwas"] = "wsutil writer frames outgoing messages at 4 KiB (library default)"
	notes["gobwas-64k"] = "gobwas with a 64 KiB read buffer and 64 KiB outgoing frames: fewer system calls for long messages, 120 KiB more per connection"
}

// Flate state is pooled across connections: gobwas leaves its lifetime to
// the caller, and a flate writer per connection would cost about 1 MB each.
var (
	gobwasFlateReaders = sync.Pool{New: func() any {
		return wsflate.NewReader(nil, func(r io.Reader) wsflate.Decompressor { return flate.NewReader(r) })
	}}
	gobwasFlateWriters = sync.Pool{New: func() any {
		return wsflate.NewWriter(nil, func(w io.Writer) wsflate.Compressor {
			f, _ := flate.NewWriter(w, compressLevel)
			return f
		})
	}}
)

// runGobwas is the documented wsutil way: zero-copy upgrade on the raw
// net.Conn (no net/http), then a wsutil.Reader and wsutil.Writer streaming
// each message through io.Copy, with wsflate's MessageState when compressed.
// A bufio.Reader of bufSize sits under the frame reader so that a small
// frame costs one read system call, as with every other library here; the
// writer frames at bufSize too (4 KiB is its default).
func runGobwas(cfg config, bufSize int) error {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go gobwasConn(conn, cfg.compress, bufSize)
	}
}

func gobwasConn(conn net.Conn, compress bool, bufSize int) {
	defer conn.Close()
	var ext *wsflate.Extension
	u := ws.Upgrader{}
	if compress {
		ext = &wsflate.Extension{Parameters: wsflate.Parameters{
			ServerNoContextTakeover: true,
			ClientNoContextTakeover: true,
		}}
		u.Negotiate = ext.Negotiate
	}
	if _, err := u.Upgrade(conn); err != nil {
		return
	}
	state := ws.StateServerSide
	var msg wsflate.MessageState
	if ext != nil {
		if _, ok := ext.Accepted(); ok {
			state |= ws.StateExtended
		} else {
			compress = false
		}
	}
	rd := &wsutil.Reader{
		Source:         bufio.NewReaderSize(conn, bufSize),
		State:          state,
		MaxMessageSize: readLimit,
		OnIntermediate: wsutil.ControlFrameHandler(conn, state),
	}
	wr := wsutil.NewWriter(conn, state, 0) // the library's default, 4 KiB
	if bufSize != wsutil.DefaultWriteBuffer {
		wr = wsutil.NewWriterSize(conn, state, 0, bufSize)
	}
	if compress {
		rd.Extensions = []wsutil.RecvExtension{&msg}
		wr.SetExtensions(&msg)
	}
	for {
		h, err := rd.NextFrame()
		if err != nil {
			return
		}
		if h.OpCode.IsControl() {
			if err := wsutil.ControlFrameHandler(conn, state)(h, rd); err != nil {
				return
			}
			continue
		}
		work()
		wr.ResetOp(h.OpCode) // keeps the extensions; Reset would drop them
		if compress && msg.IsCompressed() {
			fr := gobwasFlateReaders.Get().(*wsflate.Reader)
			fw := gobwasFlateWriters.Get().(*wsflate.Writer)
			fr.Reset(rd)
			fw.Reset(wr)
			_, err = io.Copy(fw, fr)
			if err == nil {
				err = fw.Close()
			}
			gobwasFlateReaders.Put(fr)
			gobwasFlateWriters.Put(fw)
		} else {
			_, err = io.Copy(wr, rd)
		}
		if err != nil {
			return
		}
		if err := wr.Flush(); err != nil {
			return
		}
	}
}
