package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// EchoConfig configures the echo mode: Conns connections each keep up to
// InFlight messages of Size bytes outstanding and check every echo.
type EchoConfig struct {
	Conns    int
	InFlight int
	Size     int
	// Text sends text messages instead of binary ones.
	Text bool
	// Count is the number of messages to send over all connections; zero
	// sends until Stop.
	Count int64
	// Warmup is traffic at the start that is not measured.
	Warmup time.Duration
	// Batch sends more messages only once half of those in flight have
	// come back, in one write. The generator then makes fewer system calls
	// per message than a server that writes each echo on its own, which
	// keeps it the cheaper side; in flight varies between InFlight/2 and
	// InFlight.
	Batch bool
	// Goroutines drives each connection from a goroutine of its own, as
	// on systems without epoll, rather than from a few epoll loops (Linux,
	// plain ws:// and a closed loop): three system calls and a wake-up
	// through the scheduler a message instead of two and a share of one.
	Goroutines bool
	// NoIOUring makes the loops read and write one system call at a time
	// even where the kernel has io_uring (which then reads a round's
	// connections in one call and sends their next messages in another).
	NoIOUring bool
	// Timeout is how long a connection waits for an echo before it counts
	// as failed; zero means 10 s.
	Timeout time.Duration
	// Rate, when positive, opens the loop: messages fall due at Rate a
	// second over all connections (each connection takes every Conns-th
	// slot), whether or not the echoes keep up, and each one's latency
	// counts from when it fell due, not from when it could be sent. A
	// closed loop sends only after an echo, so a server that stalls
	// delays the messages that would have measured the stall; here the
	// stall shows in their latency. InFlight still bounds the messages
	// outstanding per connection: a message due past the bound waits,
	// and its wait is part of its latency.
	Rate float64
}

// maxInFlightBytes bounds InFlight × Size when more than one message is in
// flight. One goroutine writes and reads each connection, so everything in
// flight must fit in the socket buffers of both ends, or writer and server
// would wait for each other forever. One message at a time is allowed at
// any size, as bench/loadgen allows it: most servers read a message whole
// before they answer, and loopback socket buffers hold megabytes for those
// that echo frame by frame.
const maxInFlightBytes = 1 << 20

// Check reports a configuration the generator cannot run.
func (c *EchoConfig) Check() error {
	switch {
	case c.Conns < 1:
		return errors.New("--conns must be at least 1")
	case c.InFlight < 1:
		return errors.New("--inflight must be at least 1")
	case c.Size < 0:
		return errors.New("--size must not be negative")
	case c.InFlight > 1 && int64(c.InFlight)*int64(c.Size+14) > maxInFlightBytes:
		return fmt.Errorf("--inflight %d × --size %d exceeds %d bytes in flight per connection; use more connections instead", c.InFlight, c.Size, maxInFlightBytes)
	case c.Rate < 0:
		return errors.New("--rate must not be negative")
	case c.Rate > 0 && c.Batch:
		return errors.New("--batch sends when echoes come back; with --rate messages are sent when they fall due")
	}
	return nil
}

// RunEcho runs the echo mode against t under ctl and returns what it
// measured. It returns an error only when nothing could be measured.
func RunEcho(ctx context.Context, t *Target, cfg EchoConfig, ctl *Control) (*Result, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	t.prepare()
	keys := 16
	if cfg.Size > 64<<10 {
		keys = 4
	}
	bank, err := newFrameBank(Payload(cfg.Size), cfg.Text, t.Compress, keys, cfg.InFlight)
	if err != nil {
		return nil, err
	}
	bufSize := min(max(cfg.InFlight*(cfg.Size+14), 4<<10), readBufMax(cfg.Conns))

	var errs errorLog
	conns := dialAll(ctx, t, cfg.Conns, bufSize, &errs)
	live := int64(0)
	for i, c := range conns {
		if c != nil && t.Compress && !c.deflate {
			// The frames are compressed up front: sent on a connection
			// without the extension they would be a protocol error.
			errs.add(errors.New("the server did not accept permessage-deflate (--compress)"))
			c.nc.Close()
			conns[i] = nil
		}
		if conns[i] != nil {
			live++
		}
	}
	ecs := make([]*echoConn, 0, live)
	for _, c := range conns {
		if c == nil {
			continue
		}
		i := int64(len(ecs))
		ec := &echoConn{rawConn: c, bank: bank, cfg: &cfg, ring: make([]int64, cfg.InFlight), quota: -1,
			refillAt: cfg.InFlight - 1}
		if cfg.Batch {
			ec.refillAt = cfg.InFlight / 2
		}
		if cfg.Rate > 0 {
			// Connection i takes slots i, i+live, i+2·live, ...
			slot := 1e9 / cfg.Rate
			ec.interval = max(int64(slot*float64(live)), 1)
			ec.phase = int64(slot * float64(i))
		}
		if cfg.Count > 0 {
			// Share the count out evenly over the connections that were
			// opened; the first ones take the remainder.
			ec.quota = cfg.Count / live
			if i < cfg.Count%live {
				ec.quota++
			}
		}
		ecs = append(ecs, ec)
	}
	var open atomic.Int64
	open.Store(int64(len(ecs)))
	ctl.setProgress(func() Snapshot {
		s := Snapshot{Conns: open.Load(), Errors: errs.count()}
		for _, ec := range ecs {
			s.Messages += ec.progress.Load()
		}
		return s
	})
	ctl.setReady()
	if len(ecs) == 0 {
		res := &Result{Mode: "echo", Hist: &Histogram{}}
		errs.fill(res)
		return res, nil
	}

	select {
	case <-ctl.start:
	case <-ctx.Done():
		for _, ec := range ecs {
			ec.nc.Close()
		}
		return nil, ctx.Err()
	}
	loops := loopsUsable(t, &cfg)
	if !loops {
		// Closing the sockets is how cancellation reaches blocked reads.
		// (The loops look at ctx themselves: a socket closed under a loop
		// could see its descriptor reused.)
		stopWatch := context.AfterFunc(ctx, func() {
			for _, ec := range ecs {
				ec.nc.Close()
			}
		})
		defer stopWatch()
	}

	measureFrom := nanotime() + int64(cfg.Warmup)
	ctl.setSettled()
	cpuFrom := time.Duration(-1)
	cpuStart := SelfCPU()
	var wg sync.WaitGroup
	engine := "goroutines"
	if loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			engine = runLoops(ctx, ctl, ecs, measureFrom, &errs, &open)
		}()
	} else {
		for _, ec := range ecs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer open.Add(-1)
				run := ec.run
				if cfg.Rate > 0 {
					run = ec.runOpen
				}
				if err := run(ctl, measureFrom); err != nil && ctx.Err() == nil {
					errs.add(err)
				}
			}()
		}
	}
	if cfg.Warmup > 0 {
		select {
		case <-time.After(cfg.Warmup):
		case <-ctl.stop:
		}
		cpuFrom = SelfCPU()
	}
	wg.Wait()
	end := nanotime()
	if cpuFrom < 0 {
		cpuFrom = cpuStart
	}

	res := &Result{Mode: "echo", Conns: len(ecs), Hist: &Histogram{}, Engine: engine}
	res.CPUSeconds = (SelfCPU() - cpuFrom).Seconds()
	res.Seconds = float64(end-measureFrom) / 1e9
	if res.Seconds < 0 {
		res.Seconds = 0
	}
	for _, ec := range ecs {
		res.Sent += ec.sent
		res.Received += ec.recv
		res.Hist.Merge(&ec.hist)
	}
	res.Bytes = res.Received * int64(cfg.Size)
	errs.fill(res)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// readBufMax bounds a connection's read buffer: 256 KiB (a long echo in
// four reads rather than sixteen, each read a system call) while the
// buffers of all connections stay within 64 MiB, else 64 KiB.
func readBufMax(conns int) int {
	if conns <= 256 {
		return 256 << 10
	}
	return 64 << 10
}

// dialAll opens n connections, 32 at a time. Failed ones are nil and
// counted in errs.
func dialAll(ctx context.Context, t *Target, n, bufSize int, errs *errorLog) []*rawConn {
	conns := make([]*rawConn, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := t.dial(ctx, i, bufSize)
			if err != nil {
				errs.add(err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	return conns
}

// echoConn is one connection of the echo mode. Everything here belongs to
// the connection's own goroutine except progress.
type echoConn struct {
	*rawConn
	bank *frameBank
	cfg  *EchoConfig

	progress atomic.Int64 // echoes received, for the progress line

	ring        []int64 // send (or due) times of the messages in flight, oldest first
	head, count int
	seq         int64 // messages sent so far
	quota       int64 // messages left to send; negative means no limit
	refillAt    int   // send more once no more than this many are in flight

	sent, recv int64 // within the measured window
	hist       Histogram

	// Parsing state of the message being received.
	inMsg, inPayload, fin, compressed bool
	remaining                         int64
	pos                               int
	zbuf                              []byte
	verified                          []byte // a compressed echo already checked
	infl                              inflater

	deadlineAt int64
	closeKey   [4]byte
	// ctlOut, when set, sends a control frame (a loop's connection
	// queues it behind the frames it has not written yet).
	ctlOut func(frame []byte) error

	// The open loop (EchoConfig.Rate): the next message falls due at
	// nextDue, the ones after it every interval.
	interval, phase, nextDue int64
}

// run drives the connection until Stop or its quota is done, then drains
// the messages in flight and closes with a close handshake.
func (c *echoConn) run(ctl *Control, measureFrom int64) error {
	defer c.nc.Close()
	w := c.cfg.InFlight
	for {
		stopping := ctl.isStopped()
		if !stopping && c.count <= c.refillAt && c.quota != 0 {
			k := w - c.count
			if c.quota > 0 {
				k = int(min(int64(k), c.quota))
				c.quota -= int64(k)
			}
			now := nanotime()
			if _, err := c.nc.Write(c.bank.frames(c.seq, k)); err != nil {
				return fmt.Errorf("send: %w", err)
			}
			c.seq += int64(k)
			for range k {
				c.ring[(c.head+c.count)%w] = now
				c.count++
			}
			if now >= measureFrom {
				c.sent += int64(k)
			}
		}
		if c.count == 0 && (stopping || c.quota == 0) {
			break
		}
		if err := c.readSome(measureFrom); err != nil {
			return err
		}
	}
	c.closeHandshake()
	return nil
}

// runOpen is run for the open loop: it sends every message that has
// fallen due (in one write, as many as InFlight allows), each stamped with
// the time it fell due, and reads until the next one falls due.
func (c *echoConn) runOpen(ctl *Control, measureFrom int64) error {
	defer c.nc.Close()
	w := c.cfg.InFlight
	c.nextDue = nanotime() + c.phase
	var sleep *time.Timer
	for {
		stopping := ctl.isStopped()
		sending := !stopping && c.quota != 0
		now := nanotime()
		if sending && c.count < w && c.nextDue <= now {
			k := 0
			for c.count+k < w && c.nextDue+int64(k)*c.interval <= now && (c.quota < 0 || int64(k) < c.quota) {
				k++
			}
			if _, err := c.nc.Write(c.bank.frames(c.seq, k)); err != nil {
				return fmt.Errorf("send: %w", err)
			}
			for range k {
				c.ring[(c.head+c.count)%w] = c.nextDue
				c.count++
				if c.nextDue >= measureFrom {
					c.sent++
				}
				c.nextDue += c.interval
			}
			c.seq += int64(k)
			if c.quota > 0 {
				c.quota -= int64(k)
			}
		}
		if c.count == 0 && !sending {
			break
		}
		wake := int64(0)
		if sending && c.count < w {
			wake = c.nextDue
		}
		if c.count > 0 {
			if err := c.readUntil(wake, measureFrom); err != nil {
				return err
			}
			continue
		}
		// Nothing to read: wait for the next message to fall due, or
		// for Stop.
		d := time.Duration(wake - nanotime())
		if d <= 0 {
			continue
		}
		if sleep == nil {
			sleep = time.NewTimer(d)
			defer sleep.Stop()
		} else {
			sleep.Reset(d)
		}
		select {
		case <-sleep.C:
		case <-ctl.stop:
		}
	}
	c.closeHandshake()
	return nil
}

// readUntil is readSome for the open loop: it also returns, with no error,
// when wake (if not zero) comes first.
func (c *echoConn) readUntil(wake, measureFrom int64) error {
	if wake == 0 {
		return c.readSome(measureFrom)
	}
	now := nanotime()
	if wake <= now {
		return nil
	}
	if wake >= now+int64(c.cfg.Timeout) {
		return c.readSome(measureFrom)
	}
	// A deadline of our own: the next readSome sets the echo's again.
	c.deadlineAt = 0
	_ = c.nc.SetReadDeadline(clockBase.Add(time.Duration(wake)))
	if err := c.readOnce(measureFrom); err != nil && !errors.Is(err, errNoEcho) {
		return err
	}
	return nil
}

// errNoEcho is the read deadline passing.
var errNoEcho = errors.New("no echo")

// readSome reads once from the socket and handles every frame it completed.
func (c *echoConn) readSome(measureFrom int64) error {
	now := nanotime()
	if now > c.deadlineAt-int64(c.cfg.Timeout)/2 {
		// Moving the deadline costs a timer update: do it only once in a
		// while, keeping at least half the timeout ahead.
		c.deadlineAt = now + int64(c.cfg.Timeout)
		_ = c.nc.SetReadDeadline(clockBase.Add(time.Duration(c.deadlineAt)))
	}
	return c.readOnce(measureFrom)
}

// readOnce reads once, up to the deadline set, and handles every frame
// the read completed.
func (c *echoConn) readOnce(measureFrom int64) error {
	n, err := c.nc.Read(c.readSpace())
	c.w += n
	if n > 0 {
		if perr := c.consume(nanotime(), measureFrom); perr != nil {
			return perr
		}
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("the server closed the TCP connection without a close frame")
		}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("%w within %v", errNoEcho, c.cfg.Timeout)
		}
		return fmt.Errorf("receive: %w", err)
	}
	return nil
}

// readSpace is where the next read goes: the free end of the buffer, or
// all of it after the unread bytes, once they reach its end, move to its
// start.
func (c *echoConn) readSpace() []byte {
	if c.w == len(c.buf) {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	return c.buf[c.w:]
}

// consume parses the frames in buf[r:w], comparing echo payloads with the
// message as they arrive, so that a message of any size needs no more than
// the read buffer.
func (c *echoConn) consume(now, measureFrom int64) error {
	done := int64(0)
	for {
		if !c.inPayload {
			h, ok, err := parseServerHeader(c.buf[c.r:c.w])
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if h.op >= opClose {
				end := c.r + h.size + int(h.length)
				if end > c.w {
					break // wait for the whole control frame
				}
				p := c.buf[c.r+h.size : end]
				c.r = end
				if err := c.control(h.op, p); err != nil {
					return err
				}
				continue
			}
			switch {
			case h.op == opContinuation && !c.inMsg:
				return errors.New("the server sent a continuation frame outside a message")
			case h.op == opContinuation && h.rsv1:
				return errors.New("the server set RSV1 on a continuation frame")
			case h.op != opContinuation && c.inMsg:
				return errors.New("the server started a message inside another one")
			case h.op != opContinuation && h.op != c.bank.op:
				return fmt.Errorf("the echo has opcode %d, the message had %d", h.op, c.bank.op)
			case h.op != opContinuation:
				if h.rsv1 && !c.deflate {
					return errors.New("the server set RSV1 without permessage-deflate")
				}
				c.inMsg, c.compressed, c.pos, c.zbuf = true, h.rsv1, 0, c.zbuf[:0]
			}
			c.r += h.size
			c.remaining, c.fin, c.inPayload = h.length, h.fin, true
		}
		n := int(min(c.remaining, int64(c.w-c.r)))
		chunk := c.buf[c.r : c.r+n]
		if c.compressed {
			c.zbuf = append(c.zbuf, chunk...)
		} else if c.pos+n > len(c.bank.payload) {
			return fmt.Errorf("the echo is longer than the %d bytes sent", len(c.bank.payload))
		} else if want := c.bank.payload[c.pos : c.pos+n]; !bytes.Equal(chunk, want) {
			i := 0
			for chunk[i] == want[i] {
				i++
			}
			return fmt.Errorf("the echo differs from the message sent, at byte %d", c.pos+i)
		}
		c.pos += n
		c.r += n
		c.remaining -= int64(n)
		if c.remaining > 0 {
			break
		}
		c.inPayload = false
		if !c.fin {
			continue
		}
		c.inMsg = false
		if c.compressed {
			if err := c.checkCompressed(); err != nil {
				return err
			}
		} else if c.pos != len(c.bank.payload) {
			return fmt.Errorf("the echo has %d bytes, the message %d", c.pos, len(c.bank.payload))
		}
		if c.count == 0 {
			return errors.New("the server sent a message that echoes nothing sent")
		}
		t := c.ring[c.head]
		c.head = (c.head + 1) % len(c.ring)
		c.count--
		done++
		if t >= measureFrom {
			c.recv++
			c.hist.Record(now - t)
		}
	}
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
	if done > 0 {
		c.progress.Add(done)
	}
	return nil
}

// checkCompressed checks a compressed echo. Without context takeover a
// server compresses a given message to the same bytes every time, so once
// one echo has been inflated and checked, the others are compared with it
// and inflated only if they differ.
func (c *echoConn) checkCompressed() error {
	if c.verified != nil && bytes.Equal(c.zbuf, c.verified) {
		return nil
	}
	p, err := c.infl.inflate(c.zbuf, len(c.bank.payload))
	if err != nil {
		return err
	}
	if !bytes.Equal(p, c.bank.payload) {
		return errors.New("the compressed echo inflates to something else than the message sent")
	}
	if c.verified == nil {
		c.verified = bytes.Clone(c.zbuf)
	}
	return nil
}

// control answers a ping and reports a close from the server.
func (c *echoConn) control(op byte, p []byte) error {
	switch op {
	case opPing:
		if err := c.sendControl(appendClientFrame(nil, opPong, false, p, c.closeKey)); err != nil {
			return fmt.Errorf("send a pong: %w", err)
		}
	case opClose:
		code, reason := parseClosePayload(p)
		_ = c.sendControl(closeFrame(code, "", c.closeKey))
		return fmt.Errorf("the server closed the connection: %d %q", code, reason)
	}
	return nil
}

func (c *echoConn) sendControl(frame []byte) error {
	if c.ctlOut != nil {
		return c.ctlOut(frame)
	}
	_, err := c.nc.Write(frame)
	return err
}

// closeHandshake sends a close frame and waits a moment for the server's.
func (c *echoConn) closeHandshake() {
	_, _ = c.nc.Write(closeFrame(1000, "", c.closeKey))
	_ = c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		h, ok, err := parseServerHeader(c.buf[c.r:c.w])
		if err != nil {
			return
		}
		if ok && c.r+h.size+int(h.length) <= c.w {
			if h.op == opClose {
				return
			}
			c.r += h.size + int(h.length)
			continue
		}
		if c.r > 0 {
			c.w = copy(c.buf, c.buf[c.r:c.w])
			c.r = 0
		}
		if c.w == len(c.buf) {
			return // nothing is in flight any more: only a close can come
		}
		n, err := c.nc.Read(c.buf[c.w:])
		c.w += n
		if err != nil {
			return
		}
	}
}
