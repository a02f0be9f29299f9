package websocket

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// echoServer starts an httptest server that echoes every message.
func echoServer(t *testing.T, opts *AcceptOptions) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			return
		}
		defer c.CloseNow()
		var buf []byte
		for {
			typ, p, err := c.ReadInto(r.Context(), buf)
			if err != nil {
				return
			}
			buf = p
			if err := c.Write(r.Context(), typ, p); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dialT(t *testing.T, url string, opts *DialOptions) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func TestEchoSizes(t *testing.T) {
	url := echoServer(t, nil)
	c := dialT(t, url, nil)
	ctx := context.Background()
	for _, n := range []int{0, 1, 125, 126, 127, 4095, 4096, 65535, 65536, 1 << 20} {
		for _, typ := range []MessageType{MessageText, MessageBinary} {
			p := bytes.Repeat([]byte("a"), n)
			if err := c.Write(ctx, typ, p); err != nil {
				t.Fatalf("write %d: %v", n, err)
			}
			gt, got, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("read %d: %v", n, err)
			}
			if gt != typ || !bytes.Equal(got, p) {
				t.Fatalf("size %d type %v: echo differs (got %v, %d bytes)", n, typ, gt, len(got))
			}
		}
	}
	if err := c.Close(StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestStreamingWriterFragments(t *testing.T) {
	url := echoServer(t, nil)
	c := dialT(t, url, &DialOptions{WriteBufferSize: 256})
	ctx := context.Background()
	w, err := c.Writer(ctx, MessageText)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("κόσμε", 500)
	for i := 0; i < len(want); i += 333 {
		if _, err := w.Write([]byte(want[i:min(i+333, len(want))])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	typ, got, err := c.Read(ctx)
	if err != nil || typ != MessageText || string(got) != want {
		t.Fatalf("got %v %d bytes err %v", typ, len(got), err)
	}
}

func TestPingRoundTrip(t *testing.T) {
	url := echoServer(t, nil)
	c := dialT(t, url, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
	for i := 0; i < 3; i++ {
		rtt, err := c.Ping(ctx)
		if err != nil {
			t.Fatalf("ping: %v", err)
		}
		if rtt <= 0 {
			t.Fatalf("rtt %v", rtt)
		}
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatalf("close: %v", err)
	}
	<-done
}

func TestCloseHandshakeServerInitiated(t *testing.T) {
	got := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, nil)
		if err != nil {
			return
		}
		got <- c.Close(StatusGoingAway, "restart")
	}))
	t.Cleanup(srv.Close)
	c := dialT(t, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	_, _, err := c.Read(context.Background())
	if CloseStatus(err) != StatusGoingAway {
		t.Fatalf("read err %v, want close 1001", err)
	}
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Reason != "restart" {
		t.Fatalf("reason: %v", err)
	}
	if err := <-got; err != nil {
		t.Fatalf("server close: %v", err)
	}
}

func TestReadCancelAtBoundaryKeepsConn(t *testing.T) {
	url := echoServer(t, nil)
	c := dialT(t, url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, _, err := c.Read(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	if err := c.Write(context.Background(), MessageText, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	_, p, err := c.Read(context.Background())
	if err != nil || string(p) != "still here" {
		t.Fatalf("after cancel: %q %v", p, err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	url := echoServer(t, nil)
	c := dialT(t, url, nil)
	ctx := context.Background()
	const writers, each = 16, 50
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			msg := bytes.Repeat([]byte{byte('a' + i)}, 100+i*500)
			for j := 0; j < each; j++ {
				if j%2 == 0 {
					if err := c.Write(ctx, MessageBinary, msg); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				w, err := c.Writer(ctx, MessageBinary)
				if err != nil {
					t.Error(err)
					return
				}
				w.Write(msg[:len(msg)/2])
				w.Write(msg[len(msg)/2:])
				if err := w.Close(); err != nil {
					t.Error(err)
					return
				}
			}
		}(i)
	}
	for n := 0; n < writers*each; n++ {
		_, p, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := int(p[0] - 'a')
		if len(p) != 100+i*500 || !bytes.Equal(p, bytes.Repeat(p[:1], len(p))) {
			t.Fatalf("message %d is interleaved or wrong (len %d)", n, len(p))
		}
	}
	wg.Wait()
}

// TestConnSize keeps a Conn within the allocator's 640-byte size class on
// 64-bit systems: it is most of what an idle connection costs, and the next
// class up is 704.
func TestConnSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the budget is for 64-bit systems")
	}
	if got := unsafe.Sizeof(Conn{}); got > 640 {
		t.Errorf("a Conn is %d bytes, over the 640-byte size class; keep rarely used fields behind pointers", got)
	}
}
