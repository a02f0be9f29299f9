package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duplexws/duplex/bench/internal/hist"
)

// Phases of an echo run, read by every connection after each echo.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDrain
)

// connectAll opens n connections with o.dialPar dialling at once.
func connectAll(o *options, n int, fs *frameSet, bufSize int) ([]*conn, *errorCounter) {
	conns := make([]*conn, n)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs errorCounter
	)
	for range min(o.dialPar, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := o.open(i, fs, bufSize)
				if err != nil {
					mu.Lock()
					errs.add(err)
					mu.Unlock()
					continue
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	up := conns[:0]
	for _, c := range conns {
		if c != nil {
			up = append(up, c)
		}
	}
	return up, &errs
}

// connStats is what one connection's goroutine reports; each goroutine has
// its own, so nothing is shared while measuring.
type connStats struct {
	h    hist.Histogram
	msgs uint64
	err  error
}

// runEcho drives the echo workload.
func runEcho(o *options) (*Result, error) {
	fs, err := newFrameSet(o.size, o.text, o.compress)
	if err != nil {
		return nil, err
	}
	conns, errs := connectAll(o, o.conns, fs, readBufSize(o.size, o.inflight))
	if len(conns) == 0 {
		return nil, fmt.Errorf("no connection could be opened: %s", errs)
	}
	var phase atomic.Int32
	base := time.Now()
	stats := make([]connStats, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stats[i].err = c.echoLoop(o.inflight, &phase, base, &stats[i])
		}()
	}
	time.Sleep(o.warmup)
	win := startWindow(o.serverPid)
	phase.Store(phaseMeasure)
	time.Sleep(o.dur)
	phase.Store(phaseDrain)
	win.stop()

	// Let in-flight echoes come home, then unblock any connection that
	// is still waiting (a server that stalled or dropped a message).
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		for _, c := range conns {
			_ = c.nc.SetDeadline(time.Now())
		}
		<-done
	}
	for _, c := range conns {
		closeConn(c)
	}

	res := &Result{Mode: "echo", Conns: o.conns, Inflight: o.inflight, Size: o.size, Compress: o.compress, Connected: len(conns)}
	var all hist.Histogram
	for i := range stats {
		all.Merge(&stats[i].h)
		res.Messages += stats[i].msgs
		res.Inflates += conns[i].inflates
		if stats[i].err != nil {
			errs.add(stats[i].err)
		}
	}
	win.fill(res, res.Messages)
	res.Errors, res.ErrorSample = errs.n, errs.String()
	if res.Seconds > 0 {
		res.MsgPerSec = float64(res.Messages) / res.Seconds
		res.MBPerSec = res.MsgPerSec * float64(o.size) / 1e6
	}
	res.Lat = latencyOf(&all)
	return res, nil
}

// echoLoop keeps w messages in flight until the drain phase, recording the
// round trip of each echo that arrives while measuring. Echoes come back in
// order, so the send times form a ring.
func (c *conn) echoLoop(w int, phase *atomic.Int32, base time.Time, st *connStats) error {
	sent := make([]int64, w)
	head, tail, out := 0, 0, 0
	for range w {
		sent[tail] = int64(time.Since(base))
		tail = (tail + 1) % w
		out++
		if err := c.send(); err != nil {
			return err
		}
	}
	for out > 0 {
		if err := c.readEcho(); err != nil {
			return err
		}
		now := int64(time.Since(base))
		rtt := now - sent[head]
		head = (head + 1) % w
		out--
		switch phase.Load() {
		case phaseMeasure:
			st.h.Record(uint64(rtt))
			st.msgs++
			fallthrough
		case phaseWarmup:
			sent[tail] = now
			tail = (tail + 1) % w
			out++
			if err := c.send(); err != nil {
				return err
			}
		}
	}
	return nil
}
