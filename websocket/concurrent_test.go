package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// concurrentMessage is message seq of writer id: a header naming both and a
// body of a letter of the writer's own, of a size that varies with both.
func concurrentMessage(id, seq int) []byte {
	size := 50 + (id*131+seq*17)%3000
	return append(fmt.Appendf(nil, "%02d:%03d:", id, seq), bytes.Repeat([]byte{byte('a' + id%26)}, size)...)
}

// checkConcurrentMessage returns the writer of an intact message.
func checkConcurrentMessage(p []byte) (int, error) {
	var id, seq int
	if _, err := fmt.Sscanf(string(p[:min(len(p), 7)]), "%02d:%03d:", &id, &seq); err != nil {
		return 0, fmt.Errorf("message starts with %q: %v", p[:min(len(p), 16)], err)
	}
	if !bytes.Equal(p, concurrentMessage(id, seq)) {
		return 0, fmt.Errorf("message %d of writer %d is interleaved or cut (%d bytes)", seq, id, len(p))
	}
	return id, nil
}

// TestConcurrentEverything has many goroutines use one compressed Conn at
// once through every way of writing (Write, Writer in pieces, WritePrepared,
// WriteUncompressed) and Ping, while another goroutine reads; the server
// pings its side while it echoes. Every echo must come back whole, every
// ping must be answered, and Close in the middle of writers still writing
// must end everything cleanly. Run it with -race.
func TestConcurrentEverything(t *testing.T) {
	opts := &CompressionOptions{Mode: CompressionContextTakeover, Threshold: -1}
	serverPings := new(atomic.Int64)
	serverDone := make(chan struct{})
	stopPings, pingsStopped := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(serverDone)
		c, err := Accept(w, r, &AcceptOptions{Compression: opts})
		if err != nil {
			t.Error(err)
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		var pingers sync.WaitGroup
		for range 2 {
			pingers.Go(func() {
				for {
					select {
					case <-stopPings:
						return
					default:
					}
					if _, err := c.Ping(ctx); err != nil {
						return // the connection ended
					}
					serverPings.Add(1)
				}
			})
		}
		go func() {
			pingers.Wait()
			close(pingsStopped)
		}()
		var buf []byte
		for {
			typ, p, err := c.ReadInto(ctx, buf)
			if err != nil {
				break
			}
			buf = p
			if err := c.Write(ctx, typ, p); err != nil {
				break
			}
		}
		c.CloseNow()
		<-pingsStopped
	}))
	t.Cleanup(srv.Close)
	c := dialT(t, "ws"+strings.TrimPrefix(srv.URL, "http"), &DialOptions{Compression: opts, WriteBufferSize: 512})
	if c.Extensions() == "" {
		t.Fatal("compression was not negotiated")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const writers, each, lateWriters = 24, 40, 4
	received := make([]atomic.Int64, writers+lateWriters)
	readDone := make(chan error, 1)
	go func() {
		for {
			typ, p, err := c.Read(ctx)
			if err != nil {
				readDone <- err
				return
			}
			if typ != MessageText {
				readDone <- fmt.Errorf("echo of type %v", typ)
				return
			}
			id, err := checkConcurrentMessage(p)
			if err != nil {
				readDone <- err
				return
			}
			received[id].Add(1)
		}
	}()

	var wg sync.WaitGroup
	for id := range writers {
		wg.Go(func() {
			for seq := range each {
				msg := concurrentMessage(id, seq)
				var err error
				switch (id + seq) % 5 {
				case 0:
					err = c.Write(ctx, MessageText, msg)
				case 1:
					var mw *MessageWriter
					if mw, err = c.Writer(ctx, MessageText); err == nil {
						third := len(msg) / 3
						for _, part := range [][]byte{msg[:third], msg[third : 2*third], msg[2*third:]} {
							if _, err = mw.Write(part); err != nil {
								break
							}
						}
						if cerr := mw.Close(); err == nil {
							err = cerr
						}
					}
				case 2:
					err = c.WritePrepared(ctx, NewPreparedMessage(MessageText, msg))
				case 3:
					err = c.WriteUncompressed(ctx, MessageText, msg)
				case 4:
					if _, err = c.Ping(ctx); err == nil {
						err = c.Write(ctx, MessageText, msg)
					}
				}
				if err != nil {
					t.Errorf("writer %d, message %d: %v", id, seq, err)
					return
				}
			}
		})
	}
	wg.Wait()

	// The server stops pinging first, so that every ping is answered
	// before our close frame goes out; a ping crossing the close frame is
	// another test's matter.
	close(stopPings)
	<-pingsStopped

	// Close while other writers are still at it: the close frame goes out
	// between whole messages, the writers get errors, nothing hangs.
	var late sync.WaitGroup
	stop := make(chan struct{})
	for id := range lateWriters {
		late.Go(func() {
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := c.Write(ctx, MessageText, concurrentMessage(writers+id, seq%1000)); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("late writer %d: %v, want an error wrapping ErrClosed", id, err)
					}
					return
				}
			}
		})
	}
	// Wait for every echo of the first phase before closing, so that the
	// counts below are exact.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		complete := true
		for id := range writers {
			complete = complete && received[id].Load() >= each
		}
		if complete {
			break
		}
	}
	closeErr := c.Close(StatusNormalClosure, "done")
	close(stop)
	late.Wait()
	if closeErr != nil {
		t.Errorf("Close: %v", closeErr)
	}
	// The reader sees the messages Close kept for it, then the close.
	if err := <-readDone; CloseStatus(err) != StatusNormalClosure {
		t.Errorf("reader ended with %v, want the server's close with 1000", err)
	}
	for id := range writers {
		if n := received[id].Load(); n != each {
			t.Errorf("writer %d: %d echoes, want %d", id, n, each)
		}
	}
	<-serverDone
	t.Logf("server pings answered meanwhile: %d", serverPings.Load())
}
