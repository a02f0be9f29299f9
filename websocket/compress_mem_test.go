package websocket

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"runtime"
	"testing"
)

// TestDeflateIdleMemory measures what an idle connection keeps for
// compression in each mode: many compressor and decompressor pairs, each
// having sent and received one message, are kept alive and the live heap
// is divided among them. Pools are warmed first so that the shared pooled
// state is not charged to the connections; a pooled writer (about 1 MiB)
// may still come or go with a collection, so the light modes use 10,000
// pairs to keep that noise near 100 bytes per connection. Run with -v for
// the table in docs/compression.md (bytes and heap objects per idle
// connection).
func TestDeflateIdleMemory(t *testing.T) {
	m := jsonishMessage(rand.New(rand.NewSource(10)), 1024)
	modes := []struct {
		name           string
		pairs          int
		sendBits       int
		sendTakeover   bool
		recvBits       int
		recvTakeover   bool
		maxBytesPerCon uint64
	}{
		{"no takeover (default mode), window 15", 10000, 15, false, 15, false, 512},
		{"receive takeover only, window 15", 10000, 15, false, 15, true, 48 << 10},
		{"receive takeover only, window 12", 10000, 15, false, 12, true, 8 << 10},
		{"receive takeover only, window 9", 10000, 15, false, 9, true, 2 << 10},
		{"takeover both ways, window 15", 64, 15, true, 15, true, 1536 << 10},
		{"takeover both ways, window 12", 64, 12, true, 12, true, 1536 << 10},
		{"takeover both ways, window 9", 64, 9, true, 9, true, 1536 << 10},
	}
	for _, mode := range modes {
		exercise := func(c *deflateCompressor, d *deflateDecompressor) {
			comp, err := c.compress(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(d.reader(bytes.NewReader(comp)))
			if err != nil || !bytes.Equal(got, m) {
				t.Fatalf("round trip: %v", err)
			}
		}
		// Empty every pool (two collections), then warm ours with a
		// throwaway pair: from here on the pooled state is shared, not
		// per connection.
		runtime.GC()
		runtime.GC()
		wc := newDeflateCompressor(1, mode.sendBits, mode.sendTakeover)
		wd := newDeflateDecompressor(mode.recvBits, mode.recvTakeover)
		exercise(wc, wd)
		wc.release()
		wd.release()

		comps := make([]*deflateCompressor, mode.pairs)
		decs := make([]*deflateDecompressor, mode.pairs)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range comps {
			comps[i] = newDeflateCompressor(1, mode.sendBits, mode.sendTakeover)
			decs[i] = newDeflateDecompressor(mode.recvBits, mode.recvTakeover)
			exercise(comps[i], decs[i])
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perConn := uint64(0)
		if after.HeapAlloc > before.HeapAlloc {
			perConn = (after.HeapAlloc - before.HeapAlloc) / uint64(mode.pairs)
		}
		t.Logf("| %-40s | %9s | %5.1f |", mode.name, formatBytes(perConn), float64(after.HeapObjects-before.HeapObjects)/float64(mode.pairs))
		if perConn > mode.maxBytesPerCon {
			t.Errorf("%s: %d bytes per idle connection, want at most %d", mode.name, perConn, mode.maxBytesPerCon)
		}
		for i := range comps {
			comps[i].release()
			decs[i].release()
		}
		runtime.KeepAlive(comps)
		runtime.KeepAlive(decs)
	}
}

func formatBytes(n uint64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
