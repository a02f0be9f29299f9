package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/duplexws/duplex/websocket"
)

// dialSession is one connection of "duplex dial": a goroutine reads and
// prints messages; the mode (pipe, one-shot, interactive) writes.
type dialSession struct {
	conn   *websocket.Conn
	o      *dialOptions
	stdout io.Writer
	stderr io.Writer

	outMu sync.Mutex
	// term is set in interactive mode: everything goes through it so that
	// the prompt is redrawn below what is printed.
	term   io.Writer
	prefix string

	closing  atomic.Bool // this side started the close handshake
	received atomic.Int64
	gotMsg   chan struct{} // a message arrived (one-shot mode)
	done     chan struct{} // the reader ended; end holds why
	end      error

	// pingsOut holds the send times of our pings whose pong has not come,
	// oldest first: a pong answers the oldest (RFC 6455 §5.5.3).
	pingMu   sync.Mutex
	pingsOut []time.Time
}

// newDialSession returns a session; conn is set once dialled.
func newDialSession(o *dialOptions, stdout, stderr io.Writer) *dialSession {
	return &dialSession{o: o, stdout: stdout, stderr: stderr,
		gotMsg: make(chan struct{}, 1), done: make(chan struct{})}
}

// onPing shows a ping from the server, which the websocket package answers.
func (s *dialSession) onPing(p []byte) {
	s.note(false, "ping received%s, pong sent", payloadText(p))
}

// onPong shows a pong with the round trip time of the ping it answers,
// or as one that answers none of ours. It runs on the reading goroutine,
// so that it is shown before anything that came after it.
func (s *dialSession) onPong(p []byte) {
	s.pingMu.Lock()
	var sent time.Time
	if len(s.pingsOut) > 0 {
		sent = s.pingsOut[0]
		s.pingsOut = s.pingsOut[1:]
	}
	s.pingMu.Unlock()
	if sent.IsZero() {
		s.note(false, "pong received%s (unsolicited or late)", payloadText(p))
		return
	}
	s.note(false, "pong received after %s", time.Since(sent).Round(time.Microsecond))
}

// payloadText shows a control frame's payload, if any: as text when it
// is printable, else in hex.
func payloadText(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	if utf8.Valid(p) && !bytes.ContainsFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return fmt.Sprintf(" %q", p)
	}
	return " " + hex.EncodeToString(p)
}

// show prints a received message.
func (s *dialSession) show(typ websocket.MessageType, p []byte) {
	var line string
	if typ == websocket.MessageBinary {
		enc := hex.EncodeToString(p)
		if s.o.binaryFormat == "base64" {
			enc = base64.StdEncoding.EncodeToString(p)
		}
		line = enc
		if s.term != nil {
			line = fmt.Sprintf("[binary, %d bytes] %s", len(p), enc)
		}
	} else {
		line = string(p)
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.term != nil {
		io.WriteString(s.term, s.prefix+line+"\n")
		return
	}
	io.WriteString(s.stdout, line+"\n")
}

// note prints a status line: on the terminal in interactive mode, else on
// standard error, and only when control frames are to be shown unless
// always is set.
func (s *dialSession) note(always bool, format string, a ...any) {
	if !always && !s.o.showControl && s.term == nil {
		return
	}
	line := "* " + fmt.Sprintf(format, a...) + "\n"
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.term != nil {
		io.WriteString(s.term, line)
		return
	}
	io.WriteString(s.stderr, line)
}

// startReader reads and shows messages until the connection ends.
func (s *dialSession) startReader() {
	go func() {
		defer close(s.done)
		for {
			typ, p, err := s.conn.Read(context.Background())
			if err != nil {
				s.end = err
				return
			}
			s.received.Add(1)
			s.show(typ, p)
			select {
			case s.gotMsg <- struct{}{}:
			default:
			}
		}
	}()
	if s.o.pingInterval > 0 {
		go s.pinger()
	}
}

func (s *dialSession) pinger() {
	t := time.NewTicker(s.o.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if s.closing.Load() {
				return
			}
			s.ping()
		case <-s.done:
			return
		}
	}
}

// ping sends a ping; onPong shows its pong.
func (s *dialSession) ping() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.note(false, "ping sent")
	s.pingMu.Lock()
	s.pingsOut = append(s.pingsOut, time.Now())
	s.pingMu.Unlock()
	if _, err := s.conn.Ping(ctx); err != nil {
		s.pingMu.Lock()
		if len(s.pingsOut) > 0 {
			s.pingsOut = s.pingsOut[1:]
		}
		s.pingMu.Unlock()
		if !s.closing.Load() && ctx.Err() != nil {
			s.note(true, "no pong within 10s")
		}
	}
}

// checkClose reports a close code and reason that may not be sent.
func checkClose(code int, reason string) error {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014, code >= 3000 && code <= 4999:
	default:
		return fmt.Errorf("close code %d may not be sent; use 1000–1003, 1007–1014 or 3000–4999", code)
	}
	if len(reason) > 123 {
		return fmt.Errorf("the close reason is %d bytes; at most 123 fit in a close frame", len(reason))
	}
	return nil
}

// closeWith starts the close handshake and waits for the reader to see the
// server's answer.
func (s *dialSession) closeWith(code websocket.StatusCode, reason string) {
	s.closing.Store(true)
	s.note(false, "close sent: %s", closeText(code, reason))
	if err := s.conn.Close(code, reason); err != nil && !errors.Is(err, websocket.ErrClosed) {
		// Nothing may come back: make sure the reader ends.
		s.conn.CloseNow()
	}
	<-s.done
}

// outcome turns the way the connection ended into the command's result.
func (s *dialSession) outcome() error {
	err := s.end
	code := websocket.CloseStatus(err)
	var ce *websocket.CloseError
	errors.As(err, &ce)
	switch {
	case s.closing.Load() && (code >= 0 || errors.Is(err, websocket.ErrClosed)):
		if ce != nil {
			s.note(false, "close received: %s", closeText(ce.Code, ce.Reason))
		}
		return nil
	case code == websocket.StatusNormalClosure || code == websocket.StatusGoingAway || code == websocket.StatusNoStatusRcvd:
		// A close frame without a code ends the connection cleanly too.
		s.note(false, "the server closed the connection: %s", closeText(ce.Code, ce.Reason))
		return nil
	case code >= 0:
		msg := fmt.Sprintf("the server closed the connection with %v", ce.Code)
		if ce.Reason != "" {
			msg += fmt.Sprintf(": %q", ce.Reason)
		}
		return &exitError{code: 3, err: errors.New(msg)}
	case errors.Is(err, websocket.ErrReadLimit):
		return fmt.Errorf("a message was larger than --max-message %d bytes; the connection was closed with 1009 (message too big)", s.o.maxMessage)
	case errors.Is(err, websocket.ErrInvalidUTF8), errors.Is(err, websocket.ErrProtocol):
		return fmt.Errorf("the server broke the WebSocket protocol; the connection was closed: %w", err)
	default:
		return fmt.Errorf("the connection was lost without a close frame: %w", err)
	}
}

// pipe sends standard input and exits after a clean close at its end.
func (s *dialSession) pipe(ctx context.Context, in io.Reader) error {
	s.startReader()
	type chunk struct {
		p   []byte
		err error
	}
	chunks := make(chan chunk)
	go func() {
		br := bufio.NewReaderSize(in, 64<<10)
		for {
			var p []byte
			var err error
			if s.o.binary {
				buf := make([]byte, 64<<10)
				var n int
				n, err = br.Read(buf)
				p = buf[:n]
			} else {
				p, err = br.ReadBytes('\n')
				p = trimEOL(p)
				if err != nil && len(p) == 0 {
					p = nil
				}
			}
			if len(p) > 0 || (!s.o.binary && err == nil) {
				select {
				case chunks <- chunk{p: p}:
				case <-s.done:
					return
				}
			}
			if err != nil {
				select {
				case chunks <- chunk{err: err}:
				case <-s.done:
				}
				return
			}
		}
	}()
	typ := websocket.MessageText
	if s.o.binary {
		typ = websocket.MessageBinary
	}
	for {
		select {
		case c := <-chunks:
			if c.err != nil {
				if !errors.Is(c.err, io.EOF) {
					s.note(true, "reading standard input: %v", c.err)
				}
				if s.lingered(ctx) {
					return s.outcome()
				}
				s.closeWith(websocket.StatusNormalClosure, "")
				return s.outcome()
			}
			t := typ
			if t == websocket.MessageText && !utf8.Valid(c.p) {
				// A text message must be UTF-8: send the line as it is,
				// as a binary message.
				t = websocket.MessageBinary
			}
			if err := s.conn.Write(ctx, t, c.p); err != nil {
				<-s.done
				return s.outcome()
			}
		case <-s.done:
			return s.outcome()
		case <-ctx.Done():
			s.closeWith(websocket.StatusGoingAway, "interrupted")
			return errInterrupted
		}
	}
}

// lingered waits, after the end of the input, until no message has
// arrived for --linger. It reports whether the connection ended meanwhile.
func (s *dialSession) lingered(ctx context.Context) bool {
	if s.o.linger <= 0 {
		return false
	}
	t := time.NewTimer(s.o.linger)
	defer t.Stop()
	for {
		select {
		case <-s.gotMsg:
			t.Reset(s.o.linger)
		case <-t.C:
			return false
		case <-s.done:
			return true
		case <-ctx.Done():
			return false
		}
	}
}

// closeText shows a close code and its reason, if any.
func closeText(code websocket.StatusCode, reason string) string {
	if reason == "" {
		return code.String()
	}
	return fmt.Sprintf("%v %q", code, reason)
}

func trimEOL(p []byte) []byte {
	if n := len(p); n > 0 && p[n-1] == '\n' {
		p = p[:n-1]
		if n := len(p); n > 0 && p[n-1] == '\r' {
			p = p[:n-1]
		}
	}
	return p
}

// oneShot sends --send --count times, waits for --expect messages, closes.
func (s *dialSession) oneShot(ctx context.Context) error {
	s.startReader()
	typ := websocket.MessageText
	if s.o.binary {
		typ = websocket.MessageBinary
	}
	for range s.o.count {
		if err := s.conn.Write(ctx, typ, []byte(s.o.send)); err != nil {
			<-s.done
			return s.outcome()
		}
	}
	deadline := time.NewTimer(s.o.wait)
	defer deadline.Stop()
	for s.received.Load() < int64(s.o.expect) {
		select {
		case <-s.gotMsg:
		case <-s.done:
			if err := s.outcome(); err != nil {
				return err
			}
			return fmt.Errorf("the server closed the connection after %d of %d expected messages", s.received.Load(), s.o.expect)
		case <-deadline.C:
			s.closeWith(websocket.StatusNormalClosure, "")
			return fmt.Errorf("got %d of %d expected messages within --wait %v", s.received.Load(), s.o.expect, s.o.wait)
		case <-ctx.Done():
			s.closeWith(websocket.StatusGoingAway, "interrupted")
			return errInterrupted
		}
	}
	s.closeWith(websocket.StatusNormalClosure, "")
	return s.outcome()
}
