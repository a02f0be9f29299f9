package websocket

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestNetConnLineProtocol(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		nc := NetConn(r.Context(), c, MessageText)
		defer nc.Close()
		// A line-oriented protocol over the byte stream: upper-case each line.
		br := bufio.NewReader(nc)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := io.WriteString(nc, strings.ToUpper(line)); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	c := dialT(t, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	nc := NetConn(context.Background(), c, MessageText)
	// Lines split across messages arbitrarily.
	for _, part := range []string{"hel", "lo\nwor", "ld\n"} {
		if _, err := io.WriteString(nc, part); err != nil {
			t.Fatal(err)
		}
	}
	br := bufio.NewReader(nc)
	for _, want := range []string{"HELLO\n", "WORLD\n"} {
		got, err := br.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("got %q %v, want %q", got, err, want)
		}
	}
	// A read deadline in the past times out, and the conn stays usable.
	nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := nc.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("want timeout, got %v", err)
	}
	nc.SetReadDeadline(time.Time{})
	io.WriteString(nc, "again\n")
	if got, err := br.ReadString('\n'); err != nil || got != "AGAIN\n" {
		t.Fatalf("after timeout: %q %v", got, err)
	}
	if err := nc.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}
