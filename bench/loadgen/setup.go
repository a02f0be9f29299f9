package main

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/duplexws/duplex/bench/internal/hist"
)

// runSetup measures how fast the server accepts connections: each of
// o.conns workers dials, completes the handshake, closes with a close frame
// (waiting for the server's answer), and starts over.
func runSetup(o *options) (*Result, error) {
	fs, err := newFrameSet(o.size, o.text, o.compress)
	if err != nil {
		return nil, err
	}
	var (
		phase atomic.Int32
		seq   atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		all   hist.Histogram
		count uint64
		errs  errorCounter
	)
	for range o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h hist.Histogram
			var n uint64
			var myErrs errorCounter
			for phase.Load() != phaseDrain {
				t0 := time.Now()
				c, err := o.open(int(seq.Add(1)), fs, 4096)
				if err != nil {
					myErrs.add(err)
					time.Sleep(time.Millisecond) // do not spin on a refusing server
					continue
				}
				rtt := time.Since(t0)
				if phase.Load() == phaseMeasure {
					h.Record(uint64(rtt))
					n++
				}
				// Close handshake: our close frame, then the server's
				// answer (readEcho returns it as an error) or EOF.
				_ = c.nc.SetDeadline(time.Now().Add(time.Second))
				if _, err := c.nc.Write(closeFrame); err == nil {
					_ = c.readEcho()
				}
				closeConn(c)
			}
			mu.Lock()
			all.Merge(&h)
			count += n
			errs.n += myErrs.n
			for _, s := range myErrs.samples {
				if len(errs.samples) < 3 {
					errs.samples = append(errs.samples, s)
				}
			}
			mu.Unlock()
		}()
	}
	time.Sleep(200 * time.Millisecond) // let every worker get going
	win := startWindow(o.serverPid)
	phase.Store(phaseMeasure)
	time.Sleep(o.dur)
	phase.Store(phaseDrain)
	win.stop()
	wg.Wait()

	res := &Result{Mode: "setup", Conns: o.conns, Size: o.size, Compress: o.compress, Connected: o.conns}
	win.fill(res, count)
	res.Setups = count
	if res.Seconds > 0 {
		res.SetupsPerSec = float64(count) / res.Seconds
	}
	res.Lat = latencyOf(&all)
	res.Errors, res.ErrorSample = errs.n, errs.String()
	return res, nil
}
