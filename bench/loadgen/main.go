// Command loadgen is the benchmark's load generator. It speaks WebSocket
// itself on raw TCP (handshake, masking, framing, permessage-deflate
// without context takeover) so that its own cost stays small and the same
// whatever server it drives.
//
// Modes:
//
//	echo  -conns N -inflight W -size S -dur D: N connections, each keeping W
//	      messages of S bytes in flight; reports msg/s, MB/s, round-trip
//	      latency percentiles, errors, its own CPU time and, with
//	      -server-pid, the server's CPU time in the measured window.
//	idle  -conns N: open N connections, echo one message on each, print a
//	      line with "ready":true, then hold them until standard input closes
//	      (or -hold passes). The matrix runner reads the server's memory then.
//	setup -conns P -dur D: P workers open a connection, complete the
//	      handshake, close it with a close frame, and start again; reports
//	      handshakes per second and handshake latency.
//
// The result is one JSON line on standard output; -v adds a human summary
// on standard error.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/duplexws/duplex/bench/internal/proc"
)

// options are the command-line settings.
type options struct {
	addr, path, mode string
	conns, inflight  int
	size             int
	dur, warmup      time.Duration
	hold             time.Duration
	compress, text   bool
	srcs, srcFirst   int
	dialPar          int
	serverPid        int
	verbose          bool
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:9100", "server address host:port")
	flag.StringVar(&o.path, "path", "/", "request path of the upgrade")
	flag.StringVar(&o.mode, "mode", "echo", "echo, idle or setup")
	flag.IntVar(&o.conns, "conns", 100, "connections (echo, idle) or parallel workers (setup)")
	flag.IntVar(&o.inflight, "inflight", 1, "messages kept in flight per connection (echo)")
	flag.IntVar(&o.size, "size", 64, "message size in bytes")
	flag.DurationVar(&o.dur, "dur", 5*time.Second, "measured duration (echo, setup)")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "traffic before the measured window (echo)")
	flag.DurationVar(&o.hold, "hold", 0, "idle: hold connections this long instead of until stdin closes")
	flag.BoolVar(&o.compress, "compress", false, "offer permessage-deflate (no context takeover) and send compressed frames")
	flag.BoolVar(&o.text, "text", false, "send text messages instead of binary ones")
	flag.IntVar(&o.srcs, "srcs", -1, "number of 127.0.0.x source addresses to spread connections over (0 = let the kernel pick, -1 = automatic)")
	flag.IntVar(&o.srcFirst, "src-first", 2, "last byte of the first source address 127.0.0.x")
	flag.IntVar(&o.dialPar, "dial-par", 64, "connections dialled in parallel while connecting")
	flag.IntVar(&o.serverPid, "server-pid", 0, "pid of the server, to read its CPU time and memory")
	flag.BoolVar(&o.verbose, "v", false, "print a human summary on stderr")
	flag.Parse()

	if err := o.check(); err != nil {
		log.Fatalf("loadgen: %v", err)
	}
	if _, err := proc.RaiseFileLimit(); err != nil {
		log.Printf("loadgen: warning: %v", err)
	}
	// The hot loop allocates next to nothing; a lazier GC keeps the
	// collector out of the measurement for what little there is.
	debug.SetGCPercent(400)

	var (
		res *Result
		err error
	)
	switch o.mode {
	case "echo":
		res, err = runEcho(&o)
	case "idle":
		res, err = runIdle(&o)
	case "setup":
		res, err = runSetup(&o)
	}
	if err != nil {
		log.Fatalf("loadgen: %v", err)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if o.verbose {
		res.summary(os.Stderr)
	}
}

func (o *options) check() error {
	switch o.mode {
	case "echo", "idle", "setup":
	default:
		return fmt.Errorf("-mode %q: want echo, idle or setup", o.mode)
	}
	if o.conns < 1 || o.inflight < 1 || o.size < 0 {
		return errors.New("-conns and -inflight must be at least 1, -size at least 0")
	}
	// One goroutine both writes and reads a connection: if the bytes in
	// flight outgrow the socket buffers, both sides can block on write.
	if o.inflight > 1 && o.inflight*(o.size+14) > 1<<20 {
		return fmt.Errorf("-inflight %d × -size %d exceeds 1 MiB in flight per connection, which can deadlock a single-goroutine client; lower -inflight", o.inflight, o.size)
	}
	if o.srcs < 0 {
		switch {
		case o.mode == "setup":
			o.srcs = 16
		case o.conns > 5000:
			o.srcs = (o.conns + 4999) / 5000
		default:
			o.srcs = 0
		}
	}
	if o.srcFirst+o.srcs > 255 {
		return fmt.Errorf("-src-first %d + -srcs %d goes past 127.0.0.254", o.srcFirst, o.srcs)
	}
	return nil
}

// dialer returns the dialer for the i-th connection: its source address
// cycles over 127.0.0.srcFirst … so that many connections do not exhaust
// one address's ephemeral ports.
func (o *options) dialer(i int) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if o.srcs > 0 {
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(o.srcFirst+i%o.srcs))}
	}
	return d
}

// open dials and upgrades the i-th connection.
func (o *options) open(i int, fs *frameSet, bufSize int) (*conn, error) {
	nc, err := o.dialer(i).Dial("tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", o.addr, err)
	}
	c := newConn(nc, fs, o.compress, bufSize)
	n, err := handshake(nc, o.addr, o.path, o.compress, c.buf)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.w = n
	return c, nil
}

// readBufSize sizes a connection's read buffer: enough for W small echoes
// in one read, at most 64 KiB (big payloads stream through it).
func readBufSize(size, inflight int) int {
	n := (size + 14) * inflight
	return max(4096, min(n, 64<<10))
}

// closeConn sends a close frame and drops the connection without lingering,
// so that thousands of client ports do not sit in TIME_WAIT between runs.
func closeConn(c *conn) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = c.nc.Write(closeFrame)
	if tc, ok := c.nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.nc.Close()
}

// errorCounter keeps a count and the first few distinct messages.
type errorCounter struct {
	n       int
	samples []string
}

func (e *errorCounter) add(err error) {
	e.n++
	s := err.Error()
	for _, x := range e.samples {
		if x == s {
			return
		}
	}
	if len(e.samples) < 3 {
		e.samples = append(e.samples, s)
	}
}

func (e *errorCounter) String() string { return strings.Join(e.samples, "; ") }
