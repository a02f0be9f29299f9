package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duplexws/duplex/bench/internal/proc"
)

// runIdle opens the connections, echoes one message on each (so every
// server has done its per-connection work once), reports readiness and
// holds the connections with no goroutine on this side.
func runIdle(o *options) (*Result, error) {
	fs, err := newFrameSet(o.size, o.text, o.compress)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	conns, errs := connectAll(o, o.conns, fs, 4096)
	// One echo per connection, dialPar at a time.
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		ok   = make([]bool, len(conns))
	)
	for range min(o.dialPar, max(len(conns), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				c := conns[i]
				err := c.send()
				if err == nil {
					err = c.readEcho()
				}
				if err != nil {
					mu.Lock()
					errs.add(err)
					mu.Unlock()
					continue
				}
				ok[i] = true
				// The read buffer is no longer needed: the memory we
				// measure is the server's, but keep ours small too.
				c.buf = nil
			}
		}()
	}
	wg.Wait()
	up := 0
	for _, b := range ok {
		if b {
			up++
		}
	}
	res := &Result{Mode: "idle", Conns: o.conns, Size: o.size, Compress: o.compress, Connected: up, Ready: true}
	res.Seconds = time.Since(start).Seconds()
	res.Errors, res.ErrorSample = errs.n, errs.String()
	if o.serverPid > 0 {
		if m, err := proc.ReadMemory(o.serverPid); err == nil {
			res.ServerRSS = m.RSS
		}
	}
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
	if o.hold > 0 {
		time.Sleep(o.hold)
	} else {
		_, _ = io.Copy(io.Discard, os.Stdin) // until the runner closes our stdin
	}
	for _, c := range conns {
		closeConn(c)
	}
	res.Ready = false
	return res, nil
}
