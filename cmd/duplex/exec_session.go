package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/duplexws/duplex/websocket"
)

// execSession is one connection and its program.
type execSession struct {
	srv  *execServer
	conn *websocket.Conn
	id   int64

	closeOnce    sync.Once
	lastActivity atomic.Int64 // Unix nanoseconds of the last message either way
}

func (e *execSession) touch() { e.lastActivity.Store(time.Now().UnixNano()) }

// closeConn closes the connection once, with a close handshake.
func (e *execSession) closeConn(code websocket.StatusCode, reason string) {
	e.closeOnce.Do(func() { _ = e.conn.Close(code, reason) })
}

func (e *execSession) run(r *http.Request) {
	o := e.srv.o
	defer e.conn.CloseNow()
	cmd := exec.Command(o.argv[0], o.argv[1:]...)
	cmd.Env = cgiEnv(r, o, e.id)
	cmd.Dir = o.dir
	// Its own process group, so that ending it ends what it started too.
	ownProcessGroup(cmd)
	stdin, err1 := cmd.StdinPipe()
	stdout, err2 := cmd.StdoutPipe()
	stderr, err3 := cmd.StderrPipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		e.srv.logf("exec: connection %d: %v", e.id, err)
		e.closeConn(websocket.StatusInternalError, "cannot start the program")
		return
	}
	if err := cmd.Start(); err != nil {
		e.srv.logf("exec: connection %d: cannot start %s: %v", e.id, o.argv[0], err)
		e.closeConn(websocket.StatusInternalError, "cannot start the program")
		return
	}
	pid := cmd.Process.Pid
	e.touch()

	var pipes sync.WaitGroup
	pipes.Add(1)
	go func() {
		defer pipes.Done()
		e.copyStderr(pid, stderr)
	}()
	connDone := make(chan struct{})
	go func() {
		defer close(connDone)
		e.toProgram(stdin)
	}()
	exited := make(chan struct{})
	go e.reaper(pid, connDone, exited)
	if o.idleTimeout > 0 {
		go e.idleWatch(connDone)
	}

	if reason := e.fromProgram(stdout); reason != "" {
		// The output broke a limit: end the connection and the program.
		e.closeConn(websocket.StatusMessageTooBig, reason)
		_ = signalGroup(pid, false)
		_, _ = io.Copy(io.Discard, stdout)
	}
	pipes.Wait()
	err := cmd.Wait()
	close(exited)
	code, reason := exitCloseCode(err)
	select {
	case <-connDone:
		e.srv.logf("exec[%d]: connection %d closed by the client; %s", pid, e.id, reason)
	default:
		e.closeConn(code, reason)
	}
	<-connDone
}

// toProgram writes each message to the program's standard input until the
// connection ends, then closes that input.
func (e *execSession) toProgram(stdin io.WriteCloser) {
	defer stdin.Close()
	var buf []byte
	for {
		_, p, err := e.conn.ReadInto(context.Background(), buf)
		if err != nil {
			return
		}
		e.touch()
		if !e.srv.o.binary {
			p = append(p, '\n')
		}
		buf = p
		if _, err := stdin.Write(p); err != nil {
			// The program stopped reading (it exited or closed its
			// input): keep reading so that the close handshake works.
			continue
		}
	}
}

// fromProgram sends the program's output until it ends. It returns a close
// reason when the output broke --max-message.
func (e *execSession) fromProgram(stdout io.Reader) string {
	o := e.srv.o
	ctx := context.Background()
	failed := false
	send := func(typ websocket.MessageType, p []byte) {
		if failed {
			return
		}
		if err := e.conn.Write(ctx, typ, p); err != nil {
			failed = true // the connection is gone; drain the rest
			return
		}
		e.touch()
	}
	if o.binary {
		buf := make([]byte, min(o.maxMessage, 32<<10))
		for {
			n, err := stdout.Read(buf)
			if n > 0 {
				send(websocket.MessageBinary, buf[:n])
			}
			if err != nil {
				return ""
			}
		}
	}
	br := bufio.NewReaderSize(stdout, 32<<10)
	var line []byte
	for {
		part, err := br.ReadSlice('\n')
		line = append(line, part...)
		if int64(len(trimEOL(line))) > o.maxMessage {
			return fmt.Sprintf("program output line exceeds %d bytes", o.maxMessage)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(line) > 0 && (err == nil || len(trimEOL(line)) > 0) {
			p := trimEOL(line)
			if utf8.Valid(p) {
				send(websocket.MessageText, p)
			} else {
				send(websocket.MessageBinary, p)
			}
		}
		line = line[:0]
		if err != nil {
			return ""
		}
	}
}

// copyStderr copies the program's standard error, line by line, prefixed.
func (e *execSession) copyStderr(pid int, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		e.srv.logf("exec[%d]: %s", pid, sc.Text())
	}
	_, _ = io.Copy(io.Discard, r)
}

// reaper ends the program once the connection is gone: its input is
// already closed; after --kill-after it gets SIGTERM, and after as long
// again SIGKILL, sent to its process group.
func (e *execSession) reaper(pid int, connDone, exited <-chan struct{}) {
	select {
	case <-connDone:
	case <-exited:
		return
	}
	grace := e.srv.o.killAfter
	for _, kill := range []bool{false, true} {
		select {
		case <-exited:
			return
		case <-time.After(grace):
			_ = signalGroup(pid, kill)
		}
	}
}

// idleWatch closes the connection when no message went either way for
// --idle-timeout.
func (e *execSession) idleWatch(connDone <-chan struct{}) {
	limit := e.srv.o.idleTimeout
	tick := time.NewTicker(max(limit/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-connDone:
			return
		case <-tick.C:
			if time.Since(time.Unix(0, e.lastActivity.Load())) >= limit {
				e.closeConn(websocket.StatusGoingAway, "idle timeout")
				return
			}
		}
	}
}

// exitCloseCode maps the way the program ended to a close code and reason.
func exitCloseCode(err error) (websocket.StatusCode, string) {
	if err == nil {
		return websocket.StatusNormalClosure, "program exited"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return websocket.StatusInternalError, "program killed by signal " + ws.Signal().String()
		}
		return websocket.StatusInternalError, fmt.Sprintf("program exited with status %d", ee.ExitCode())
	}
	return websocket.StatusInternalError, "program failed: " + err.Error()
}
