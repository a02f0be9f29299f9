//go:build !race

package websocket

import (
	"bytes"
	"context"
	"testing"
)

// TestSteadyStateAllocs holds the read and write paths to no allocation per
// message once a connection is warm, for messages up to the buffer size and
// beyond, in both roles. It is left out under the race detector, whose
// sync.Pool drops a share of what is put back on purpose.
func TestSteadyStateAllocs(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int{0, 16, 125, 126, 4096, 65536} {
		for _, typ := range []MessageType{MessageBinary, MessageText} {
			p := bytes.Repeat([]byte("a"), size)
			name := typ.String() + "/" + sizeName(size)
			t.Run("ReadInto/"+name, func(t *testing.T) {
				c := newConn(&replayConn{data: clientFrames(typ, p, 8)}, false, newConnConfig(0, 0, 0, 0, 0, 0), nil)
				buf := make([]byte, 0, size)
				allocs := testing.AllocsPerRun(200, func() {
					gt, got, err := c.ReadInto(ctx, buf)
					if err != nil || gt != typ || !bytes.Equal(got, p) {
						t.Fatalf("ReadInto: %v %v, %d bytes", gt, err, len(got))
					}
					buf = got
				})
				if allocs != 0 {
					t.Errorf("%.1f allocations per message read, want 0", allocs)
				}
			})
			t.Run("Echo/pipelined/"+name, func(t *testing.T) {
				// Eight messages per read: the echoes are corked.
				c := newConn(&replayConn{data: clientFrames(typ, p, 8)}, false, newConnConfig(0, 0, 0, 0, 1<<20, 0), nil)
				buf := make([]byte, 0, size)
				allocs := testing.AllocsPerRun(200, func() {
					gt, got, err := c.ReadInto(ctx, buf)
					if err != nil || !bytes.Equal(got, p) {
						t.Fatalf("ReadInto: %v, %d bytes", err, len(got))
					}
					buf = got
					if err := c.Write(ctx, gt, got); err != nil {
						t.Fatal(err)
					}
				})
				if allocs != 0 {
					t.Errorf("%.1f allocations per message echoed, want 0", allocs)
				}
			})
			for _, client := range []bool{false, true} {
				role := "server"
				if client {
					role = "client"
				}
				t.Run("Write/"+role+"/"+name, func(t *testing.T) {
					c := newConn(&replayConn{data: []byte{0}}, client, newConnConfig(0, 0, 0, 0, 0, 0), nil)
					allocs := testing.AllocsPerRun(200, func() {
						if err := c.Write(ctx, typ, p); err != nil {
							t.Fatal(err)
						}
					})
					if allocs != 0 {
						t.Errorf("%.1f allocations per message written, want 0", allocs)
					}
				})
			}
		}
	}
}
