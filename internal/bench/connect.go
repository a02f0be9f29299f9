package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ConnectConfig configures the connect mode: open Conns connections at
// Rate per second, keep them open until Stop, then close them all with a
// close handshake.
type ConnectConfig struct {
	Conns int
	// Rate is new connections per second; zero opens them as fast as
	// Parallel dialers can.
	Rate float64
	// Parallel is the number of handshakes in progress at once when Rate is
	// zero, and the most in progress at any time otherwise. Zero means 64.
	Parallel int
}

// ConnectResult is what the connect mode measured.
type ConnectResult struct {
	Attempted int64 `json:"attempted"`
	Opened    int64 `json:"opened"`
	Failed    int64 `json:"failed"`
	// Dropped counts connections that ended while held: closed by the
	// server or lost.
	Dropped int64 `json:"dropped"`
	// ClosedCleanly counts connections whose close handshake completed.
	ClosedCleanly int64 `json:"closed_cleanly"`
	// SetupSeconds is the time from the first dial to the last handshake.
	SetupSeconds float64 `json:"setup_seconds"`
}

func (c *ConnectResult) merge(o *ConnectResult) {
	c.Attempted += o.Attempted
	c.Opened += o.Opened
	c.Failed += o.Failed
	c.Dropped += o.Dropped
	c.ClosedCleanly += o.ClosedCleanly
	c.SetupSeconds = max(c.SetupSeconds, o.SetupSeconds)
}

// RunConnect runs the connect mode. The Result's histogram holds the
// handshake times (TCP connect to the 101 response).
func RunConnect(ctx context.Context, t *Target, cfg ConnectConfig, ctl *Control) (*Result, error) {
	if cfg.Conns < 1 {
		return nil, errors.New("--conns must be at least 1")
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 64
	}
	t.prepare()
	var (
		errs    errorLog
		mu      sync.Mutex
		hist    Histogram
		held    []*heldConn
		opened  atomic.Int64
		open    atomic.Int64
		dropped atomic.Int64
		holders sync.WaitGroup
	)
	ctl.setProgress(func() Snapshot {
		return Snapshot{Conns: open.Load(), Messages: opened.Load(), Errors: errs.count()}
	})
	ctl.setReady()
	select {
	case <-ctl.start:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	cpuStart := SelfCPU()
	begin := time.Now()
	sem := make(chan struct{}, cfg.Parallel)
	var dials sync.WaitGroup
	var lastDone atomic.Int64
dialing:
	for i := range cfg.Conns {
		if cfg.Rate > 0 {
			at := begin.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second)))
			if d := time.Until(at); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					break dialing
				case <-ctl.stop:
					break dialing
				}
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break dialing
		case <-ctl.stop:
			break dialing
		}
		dials.Add(1)
		go func() {
			defer dials.Done()
			defer func() { <-sem }()
			t0 := nanotime()
			c, err := t.dial(ctx, i, 512)
			t1 := nanotime()
			storeMax(&lastDone, int64(time.Since(begin)))
			if err != nil {
				errs.add(err)
				return
			}
			h := newHeldConn(c)
			mu.Lock()
			hist.Record(t1 - t0)
			held = append(held, h)
			mu.Unlock()
			opened.Add(1)
			open.Add(1)
			holders.Add(1)
			go func() {
				defer holders.Done()
				defer open.Add(-1)
				if !h.hold() && !ctl.isStopped() {
					dropped.Add(1)
				}
			}()
		}()
	}
	dials.Wait()
	setup := time.Duration(lastDone.Load())
	ctl.setSettled()
	select {
	case <-ctl.stop:
	case <-ctx.Done():
	}
	cpu := SelfCPU() - cpuStart
	mu.Lock()
	all := held
	mu.Unlock()
	var clean atomic.Int64
	var closers sync.WaitGroup
	for _, h := range all {
		closers.Add(1)
		go func() {
			defer closers.Done()
			if h.close() {
				clean.Add(1)
			}
		}()
	}
	closers.Wait()
	holders.Wait()

	attempted := opened.Load() + errs.count()
	res := &Result{
		Mode:       "connect",
		Conns:      int(opened.Load()),
		Sent:       attempted,
		Received:   opened.Load(),
		Seconds:    setup.Seconds(),
		Hist:       &hist,
		CPUSeconds: cpu.Seconds(),
		Connect: &ConnectResult{
			Attempted:     attempted,
			Opened:        opened.Load(),
			Failed:        errs.count(),
			Dropped:       dropped.Load(),
			ClosedCleanly: clean.Load(),
			SetupSeconds:  setup.Seconds(),
		},
	}
	errs.fill(res)
	res.Errors += dropped.Load()
	if d := dropped.Load(); d > 0 {
		res.ErrorSamples = addSample(res.ErrorSamples, fmt.Sprintf("%d connections ended while held", d))
	}
	return res, ctx.Err()
}

// storeMax raises a to v if v is larger.
func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// heldConn is an open connection of the connect mode. Its own goroutine
// reads it (hold) to answer pings and notice its end; close, from another
// goroutine, starts the close handshake that hold completes.
type heldConn struct {
	*rawConn
	wmu     sync.Mutex
	closing atomic.Bool
	clean   atomic.Bool   // the close handshake this side started completed
	ended   chan struct{} // closed when hold returns
	key     [4]byte
}

func newHeldConn(c *rawConn) *heldConn { return &heldConn{rawConn: c, ended: make(chan struct{})} }

// hold reads until the connection ends. It returns true when the end was
// the close handshake this side started.
func (h *heldConn) hold() bool {
	defer close(h.ended)
	defer h.nc.Close()
	for {
		for {
			hd, ok, err := parseServerHeader(h.buf[h.r:h.w])
			if err != nil {
				return false
			}
			if !ok || h.r+hd.size+int(hd.length) > h.w {
				break
			}
			p := h.buf[h.r+hd.size : h.r+hd.size+int(hd.length)]
			h.r += hd.size + int(hd.length)
			switch hd.op {
			case opPing:
				h.write(appendClientFrame(nil, opPong, false, p, h.key))
			case opClose:
				if h.closing.Load() {
					h.clean.Store(true)
					return true
				}
				code, _ := parseClosePayload(p)
				h.write(closeFrame(code, "", h.key))
				return false
			}
		}
		if h.r > 0 {
			h.w = copy(h.buf, h.buf[h.r:h.w])
			h.r = 0
		}
		if h.w == len(h.buf) {
			return false // a data message larger than the buffer: not expected here
		}
		n, err := h.nc.Read(h.buf[h.w:])
		h.w += n
		if err != nil {
			return false
		}
	}
}

func (h *heldConn) write(p []byte) error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	_, err := h.nc.Write(p)
	return err
}

// close sends a close frame and waits up to 5 s for the server's answer,
// which hold receives. It reports whether the close handshake completed.
func (h *heldConn) close() bool {
	h.closing.Store(true)
	if err := h.write(closeFrame(1000, "", h.key)); err != nil {
		h.nc.Close()
	}
	select {
	case <-h.ended:
	case <-time.After(5 * time.Second):
		h.nc.Close()
		<-h.ended
	}
	return h.clean.Load()
}
