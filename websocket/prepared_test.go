package websocket

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// broadcastServer sends every prepared message to the client, singly or in
// one batch, and compressed when negotiated.
func TestPreparedMessages(t *testing.T) {
	for _, compress := range []bool{false, true} {
		for _, batch := range []bool{false, true} {
			t.Run(fmt.Sprintf("compress=%v/batch=%v", compress, batch), func(t *testing.T) {
				var pms []*PreparedMessage
				for i := 0; i < 20; i++ {
					typ := MessageText
					if i%3 == 0 {
						typ = MessageBinary
					}
					pms = append(pms, NewPreparedMessage(typ, bytes.Repeat([]byte{byte('a' + i)}, 10+i*300)))
				}
				var aopts *AcceptOptions
				var dopts *DialOptions
				if compress {
					aopts = &AcceptOptions{Compression: &CompressionOptions{Threshold: -1}}
					dopts = &DialOptions{Compression: &CompressionOptions{}}
				}
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					c, err := Accept(w, r, aopts)
					if err != nil {
						return
					}
					defer c.CloseNow()
					if batch {
						if err := c.WritePreparedBatch(r.Context(), pms); err != nil {
							t.Error(err)
						}
					} else {
						for _, pm := range pms {
							if err := c.WritePrepared(r.Context(), pm); err != nil {
								t.Error(err)
							}
						}
					}
					c.Read(r.Context()) // wait for the client's close
				}))
				t.Cleanup(srv.Close)
				// Two clients share the prepared messages.
				for k := 0; k < 2; k++ {
					c := dialT(t, "ws"+strings.TrimPrefix(srv.URL, "http"), dopts)
					for i, pm := range pms {
						typ, p, err := c.Read(context.Background())
						if err != nil {
							t.Fatal(err)
						}
						if typ != pm.Type() || !bytes.Equal(p, pm.Data()) {
							t.Fatalf("message %d differs", i)
						}
					}
					c.Close(StatusNormalClosure, "")
				}
			})
		}
	}
}
