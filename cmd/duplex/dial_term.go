package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/duplexws/duplex/websocket"
	"golang.org/x/term"
)

// interactive runs the terminal client: a prompt with line editing and
// history, messages shown above it as they arrive, and slash commands.
func (s *dialSession) interactive(ctx context.Context) error {
	fd := int(os.Stdin.Fd())
	if term.IsTerminal(fd) {
		old, err := term.MakeRaw(fd)
		if err != nil {
			return fmt.Errorf("putting the terminal in raw mode: %w", err)
		}
		defer term.Restore(fd, old)
	}
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{os.Stdin, s.stdout}, "> ")
	if w, h, err := term.GetSize(int(os.Stdout.Fd())); err == nil {
		_ = t.SetSize(w, h)
	}
	s.outMu.Lock()
	s.term, s.prefix = t, "< "
	s.outMu.Unlock()

	info := "connected to " + s.o.url
	if p := s.conn.Subprotocol(); p != "" {
		info += ", subprotocol " + p
	}
	if e := s.conn.Extensions(); e != "" {
		info += ", " + e
	}
	s.note(true, "%s (/help for commands, Ctrl-D to quit)", info)
	s.startReader()

	lines := make(chan string)
	inputEnded := make(chan error, 1)
	go func() {
		for {
			line, err := t.ReadLine()
			if err != nil {
				inputEnded <- err
				return
			}
			select {
			case lines <- line:
			case <-s.done:
				return
			}
		}
	}()
	for {
		select {
		case line := <-lines:
			if quit := s.command(ctx, line); quit {
				return s.finish()
			}
		case err := <-inputEnded:
			if !errors.Is(err, io.EOF) {
				s.note(true, "reading the terminal: %v", err)
			}
			s.closeWith(websocket.StatusNormalClosure, "")
			return s.finish()
		case <-s.done:
			return s.finish()
		case <-ctx.Done():
			s.closeWith(websocket.StatusGoingAway, "interrupted")
			return s.finish()
		}
	}
}

// finish shows how the connection ended and leaves the prompt behind.
func (s *dialSession) finish() error {
	err := s.outcome()
	if err != nil {
		s.note(true, "%v", err)
	} else {
		s.note(true, "connection closed")
	}
	s.outMu.Lock()
	if t, ok := s.term.(*term.Terminal); ok {
		t.SetPrompt("")
	}
	// Erase the prompt left on the last line.
	io.WriteString(s.stdout, "\r\033[K")
	s.outMu.Unlock()
	return err
}

// command sends a line or runs a slash command. It reports whether the
// session is over.
func (s *dialSession) command(ctx context.Context, line string) (quit bool) {
	if !strings.HasPrefix(line, "/") || strings.HasPrefix(line, "//") {
		line = strings.TrimPrefix(line, "/")
		typ := websocket.MessageText
		if !utf8.ValidString(line) {
			typ = websocket.MessageBinary // a text message must be UTF-8
		}
		if err := s.conn.Write(ctx, typ, []byte(line)); err != nil {
			s.note(true, "send failed: %v", err)
			<-s.done
			return true
		}
		return false
	}
	name, rest, _ := strings.Cut(line[1:], " ")
	rest = strings.TrimSpace(rest)
	switch name {
	case "ping":
		go s.ping()
	case "close", "quit":
		code := websocket.StatusNormalClosure
		reason := ""
		if name == "close" && rest != "" {
			c, r, _ := strings.Cut(rest, " ")
			n, err := strconv.Atoi(c)
			if err != nil {
				s.note(true, "usage: /close [CODE [REASON]], such as /close 4000 done")
				return false
			}
			r = strings.TrimSpace(r)
			if err := checkClose(n, r); err != nil {
				s.note(true, "%v", err)
				return false
			}
			code, reason = websocket.StatusCode(n), r
		}
		s.closeWith(code, reason)
		return true
	case "binary":
		p, err := hex.DecodeString(strings.ReplaceAll(rest, " ", ""))
		if err != nil {
			s.note(true, "usage: /binary HEX, such as /binary 00ff10")
			return false
		}
		if err := s.conn.Write(ctx, websocket.MessageBinary, p); err != nil {
			s.note(true, "send failed: %v", err)
			<-s.done
			return true
		}
	case "help":
		s.note(true, "/ping · /close [CODE [REASON]] · /binary HEX · /quit · //text sends /text")
	default:
		s.note(true, "unknown command /%s; /help lists them", name)
	}
	return false
}
