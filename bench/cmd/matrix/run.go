package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/duplexws/duplex/bench/internal/proc"
)

// cell is one point of the matrix; every library is measured on it.
type cell struct {
	kind     string
	size     int
	conns    int
	compress bool
}

func (c cell) name() string {
	onoff := map[bool]string{false: "off", true: "on"}[c.compress]
	switch c.kind {
	case "echo":
		return fmt.Sprintf("echo-s%07d-c%05d-z%s", c.size, c.conns, onoff)
	case "mem":
		if c.compress {
			return fmt.Sprintf("mem-n%05d-zon", c.conns)
		}
		return fmt.Sprintf("mem-n%05d", c.conns)
	default:
		return fmt.Sprintf("setup-p%03d", c.conns)
	}
}

// runner executes the matrix.
type runner struct {
	s    *settings
	dir  string
	done map[string]bool
}

// maxConns is the most idle connections one server process can hold: its
// descriptor hard limit, less a margin for the listener, epoll, stdio and
// the runtime's own descriptors.
func maxConns() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1000
	}
	return int(lim.Max) - 64
}

func (r *runner) cells() []cell {
	var cs []cell
	if r.s.parts["echo"] {
		for _, z := range r.s.compress {
			for _, size := range r.s.sizes {
				for _, n := range r.s.conns {
					cs = append(cs, cell{kind: "echo", size: size, conns: n, compress: z})
				}
			}
		}
	}
	if r.s.parts["mem"] {
		for _, z := range r.s.compress {
			for _, n := range r.s.memConns {
				if n == 0 {
					n = maxConns()
				}
				size := 64
				if z {
					// Large enough that every library compresses it.
					size = 1024
				}
				cs = append(cs, cell{kind: "mem", size: size, conns: n, compress: z})
			}
		}
	}
	if r.s.parts["setup"] {
		cs = append(cs, cell{kind: "setup", size: 64, conns: r.s.setupWorkers})
	}
	return cs
}

// run measures every (repetition, cell, library) not already saved. The
// libraries take turns inside each repetition of each cell, starting from a
// different one each time, so that slow drifts of the machine spread over
// all of them instead of favouring whichever runs first.
func (r *runner) run() error {
	old, err := loadResults(r.dir)
	if err != nil {
		return err
	}
	r.done = map[string]bool{}
	for _, rec := range old {
		r.done[rec.key()] = true
	}
	cells := r.cells()
	total, left := 0, 0
	for rep := 1; rep <= r.s.reps; rep++ {
		for _, c := range cells {
			for _, lib := range r.s.libs {
				total++
				if !r.done[(&record{Cell: c.name(), Lib: lib, Rep: rep, Gen: r.genFor(c.kind)}).key()] {
					left++
				}
			}
		}
	}
	log.Printf("%d measurements, %d already saved in %s", total, total-left, r.dir)
	for rep := 1; rep <= r.s.reps; rep++ {
		for ci, c := range cells {
			n := len(r.s.libs)
			for j := range n {
				lib := r.s.libs[(j+rep+ci)%n]
				rec := &record{Cell: c.name(), Kind: c.kind, Lib: lib, Rep: rep, Size: c.size, Conns: c.conns,
					Compress: c.compress, Pinned: r.s.pin, Gen: r.genFor(c.kind), Time: time.Now().UTC().Format(time.RFC3339)}
				if r.done[rec.key()] {
					continue
				}
				if c.compress && noCompression[lib] {
					continue
				}
				var err error
				switch c.kind {
				case "echo":
					rec.Inflight, rec.Dur = r.s.cellInflight(c.size), r.s.dur.String()
					if r.s.work > 0 {
						rec.Work = r.s.work.String()
					}
					if rec.Gen == genDuplex {
						rec.Batch = r.s.batch
						err = r.echoDuplex(c, lib, rec)
					} else {
						err = r.echoLoadgen(c, lib, rec)
					}
				case "mem":
					err = r.memory(c, lib, rec)
				case "setup":
					rec.Dur = r.s.dur.String()
					err = r.setup(c, lib, rec)
				}
				if err != nil {
					rec.Error = err.Error()
				}
				log.Printf("rep %d %-28s %-13s %s", rep, c.name(), lib, brief(rec))
				if err := appendRecord(r.dir, rec); err != nil {
					return err
				}
				time.Sleep(r.s.cooldown)
			}
		}
	}
	return nil
}

// genFor is the load generator of a kind of cell: -gen for the echo
// cells, loadgen for the others. The connect mode of duplex bench opens
// connections and holds them without a message on any, where the memory
// cell echoes one message on each, and it opens each connection once,
// where the setup cell keeps P dialers opening and closing connections in
// a loop for the whole window.
func (r *runner) genFor(kind string) string {
	if kind == "echo" {
		return r.s.gen
	}
	return genLoadgen
}

func brief(r *record) string {
	switch {
	case r.Error != "":
		return "ERROR " + r.Error
	case r.Load == nil && r.Kind != "mem":
		return "no result"
	case r.Kind == "mem":
		return fmt.Sprintf("%d conns, %.1f KiB/conn", r.Connected, r.BytesPerConn/1024)
	case r.Kind == "setup":
		return fmt.Sprintf("%.0f handshakes/s, p99 %.0f µs, errors %d", r.Load.SetupsPerSec, r.Load.Lat.P99, r.Load.Errors)
	default:
		return fmt.Sprintf("%.0f msg/s, %.2f µs CPU/msg, p99 %.0f µs, errors %d", r.Load.MsgPerSec, r.Load.ServerUsPerMsg, r.Load.Lat.P99, r.Load.Errors)
	}
}

// command builds a command, pinned to cpu when pinning is on.
func (r *runner) command(cpu string, bin string, args ...string) *exec.Cmd {
	path := filepath.Join(r.s.binDir, bin)
	if r.s.pin {
		return exec.Command("taskset", append([]string{"-c", cpu, path}, args...)...)
	}
	return exec.Command(path, args...)
}

// noCompression are the servers left out of the compressed cells:
// gobwas-epoll does not implement permessage-deflate, and uWebSockets
// cannot be set to the others' level and threshold.
var noCompression = map[string]bool{"gobwas-epoll": true, "uws": true}

// serverCommand is the command of lib's echo server: cmd/echoserver for
// the Go libraries, uws/echo.js under Node.js for uWebSockets (installed
// with "npm ci --prefix uws").
func (r *runner) serverCommand(lib string, args []string) *exec.Cmd {
	if lib != "uws" {
		return r.command("0", "echoserver", append([]string{"-lib", lib}, args...)...)
	}
	node := append([]string{"node", filepath.Join("uws", "echo.js")}, args...)
	if r.s.pin {
		return exec.Command("taskset", append([]string{"-c", "0"}, node...)...)
	}
	return exec.Command(node[0], node[1:]...)
}

// server is a running echo server.
type server struct {
	cmd  *exec.Cmd
	addr string
	log  *bytes.Buffer
}

func (r *runner) startServer(lib string, compress bool) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"-addr", addr}
	if compress {
		args = append(args, "-compress")
	}
	if r.s.work > 0 {
		args = append(args, "-work", r.s.work.String())
	}
	s := &server{cmd: r.serverCommand(lib, args), addr: addr, log: &bytes.Buffer{}}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the %s server: %w", lib, err)
	}
	exited := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("the %s server exited: %s", lib, bytes.TrimSpace(s.log.Bytes()))
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("the %s server did not listen on %s within 10s", lib, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop ends the server: SIGTERM, then SIGKILL if it lingers.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(s.pid(), 0); err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = s.cmd.Process.Kill()
}

// freeAddr picks a free loopback port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// loadgen runs the load generator to completion and decodes its last line.
func (r *runner) loadgen(timeout time.Duration, args ...string) (*loadResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := r.command("1", "loadgen", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return nil, fmt.Errorf("load generator still running after %v", timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("load generator: %v: %s", err, bytes.TrimSpace(errb.Bytes()))
	}
	return lastResult(out.Bytes())
}

func lastResult(b []byte) (*loadResult, error) {
	lines := bytes.Split(bytes.TrimSpace(b), []byte{'\n'})
	var res loadResult
	if err := json.Unmarshal(lines[len(lines)-1], &res); err != nil {
		return nil, fmt.Errorf("decode the load generator's result %q: %w", lines[len(lines)-1], err)
	}
	return &res, nil
}

// echoLoadgen measures one echo cell with bench/loadgen.
func (r *runner) echoLoadgen(c cell, lib string, rec *record) error {
	srv, err := r.startServer(lib, c.compress)
	if err != nil {
		return err
	}
	defer srv.stop()
	args := []string{"-mode", "echo", "-addr", srv.addr, "-conns", strconv.Itoa(c.conns),
		"-size", strconv.Itoa(c.size), "-inflight", strconv.Itoa(r.s.cellInflight(c.size)),
		"-dur", r.s.dur.String(), "-warmup", r.s.warmup.String(), "-server-pid", strconv.Itoa(srv.pid())}
	if c.compress {
		args = append(args, "-compress")
	}
	res, err := r.loadgen(r.s.dur+r.s.warmup+2*time.Minute, args...)
	if err != nil {
		return err
	}
	rec.Load = res
	if res.Messages == 0 {
		return fmt.Errorf("no echo in the window (%d errors: %s)", res.Errors, res.ErrorSample)
	}
	return nil
}

func (r *runner) setup(c cell, lib string, rec *record) error {
	srv, err := r.startServer(lib, false)
	if err != nil {
		return err
	}
	defer srv.stop()
	res, err := r.loadgen(r.s.dur+2*time.Minute, "-mode", "setup", "-addr", srv.addr,
		"-conns", strconv.Itoa(c.conns), "-dur", r.s.dur.String(), "-server-pid", strconv.Itoa(srv.pid()))
	if err != nil {
		return err
	}
	rec.Load = res
	return nil
}

// perLoadgen is how many connections one load generator process holds, well
// under its own descriptor limit.
const perLoadgen = 10000

// memory measures the server's resident memory per idle connection.
func (r *runner) memory(c cell, lib string, rec *record) error {
	srv, err := r.startServer(lib, c.compress)
	if err != nil {
		return err
	}
	defer srv.stop()
	var zargs []string
	if c.compress {
		zargs = []string{"-compress", "-size", strconv.Itoa(c.size)}
	}
	// One connection comes and goes first, so that what every server
	// allocates once (pools, the HTTP machinery) is in the baseline.
	if _, err := r.loadgen(time.Minute, append([]string{"-mode", "idle", "-addr", srv.addr, "-conns", "1", "-hold", "1ms"}, zargs...)...); err != nil {
		return fmt.Errorf("warm-up connection: %w", err)
	}
	time.Sleep(500 * time.Millisecond)
	before, err := proc.ReadMemory(srv.pid())
	if err != nil {
		return err
	}
	type gen struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		res   chan *loadResult
		err   chan error
	}
	var gens []*gen
	defer func() {
		for _, g := range gens {
			_ = g.stdin.Close()
			waitOrKill(g.cmd, 30*time.Second)
		}
	}()
	for i, left := 0, c.conns; left > 0; i++ {
		n := min(left, perLoadgen)
		left -= n
		// Each process gets its own block of source addresses.
		args := append([]string{"-mode", "idle", "-addr", srv.addr, "-conns", strconv.Itoa(n),
			"-srcs", "2", "-src-first", strconv.Itoa(2 + 4*i)}, zargs...)
		cmd := r.command("1", "loadgen", args...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			return err
		}
		g := &gen{cmd: cmd, stdin: stdin, res: make(chan *loadResult, 1), err: make(chan error, 1)}
		gens = append(gens, g)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var res loadResult
				if json.Unmarshal(sc.Bytes(), &res) == nil && res.Ready {
					g.res <- &res
					_, _ = io.Copy(io.Discard, stdout)
					return
				}
			}
			g.err <- fmt.Errorf("idle load generator ended before it was ready: %s", bytes.TrimSpace(errb.Bytes()))
		}()
	}
	connected, errs := 0, 0
	sample := ""
	for _, g := range gens {
		select {
		case res := <-g.res:
			connected += res.Connected
			errs += res.Errors
			if sample == "" {
				sample = res.ErrorSample
			}
		case err := <-g.err:
			return err
		case <-time.After(3 * time.Minute):
			return errors.New("idle load generators not ready after 3 minutes")
		}
	}
	time.Sleep(time.Second) // let the server finish what the last echoes started
	after, err := proc.ReadMemory(srv.pid())
	if err != nil {
		return err
	}
	rec.RSSBefore, rec.RSSAfter, rec.Connected = before.RSS, after.RSS, connected
	if connected == 0 {
		return fmt.Errorf("no idle connection was established (%d errors: %s)", errs, sample)
	}
	rec.BytesPerConn = float64(after.RSS-before.RSS) / float64(connected)
	if connected < c.conns {
		rec.Error = fmt.Sprintf("only %d of %d connections (%d errors: %s)", connected, c.conns, errs, sample)
	}
	return nil
}

func waitOrKill(cmd *exec.Cmd, d time.Duration) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
	}
}

// cellInflight is the number of messages a cell of size-byte messages
// keeps in flight per connection: -inflight, or fewer when that many
// would put more than -inflight-bytes of payload in flight, but at least
// one.
func (s *settings) cellInflight(size int) int {
	n := s.inflight
	if n > 1 && s.inflightBytes > 0 {
		n = min(n, max(1, s.inflightBytes/max(size, 1)))
	}
	return n
}
