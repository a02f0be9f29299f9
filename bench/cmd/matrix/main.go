// Command matrix runs the comparative benchmark: every echo server of
// bench/cmd/echoserver (and uWebSockets through uws/echo.js, with -libs
// ...,uws) over a matrix of message sizes, connection counts and
// compression, plus memory per idle connection and connection setup
// rate. The echo cells are driven by "duplex bench" (built from
// ../cmd/duplex), or by bench/loadgen with -gen loadgen; the memory and
// setup cells always by bench/loadgen. Every measurement is appended to
// results/NAME/CELL.jsonl as soon as it is taken, so an interrupted run
// picks up where it stopped; at the end it prints one markdown table of
// medians with their min–max spread.
//
//	go run ./cmd/matrix -reps 2 -dur 3s -sizes 64,4096 -conns 100 -compress off
//	go run ./cmd/matrix -table           # only print the table of saved results
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// settings are the command-line options.
type settings struct {
	name, outDir, binDir, tags string
	build, tableOnly           bool
	libs                       []string
	parts                      map[string]bool
	sizes, conns               []int
	compress                   []bool
	inflight, reps             int
	inflightBytes              int
	dur, warmup, cooldown      time.Duration
	memConns                   []int // 0 stands for "the most the machine allows"
	setupWorkers               int
	pin                        bool
	gen                        string        // load generator of the echo cells: genDuplex or genLoadgen
	batch                      bool          // duplex bench --batch
	goroutines                 bool          // duplex bench --goroutines
	work                       time.Duration // echoserver -work: CPU each server spends per message
}

// The load generators of the echo cells.
const (
	genDuplex  = "duplex"  // duplex bench, built from ../cmd/duplex
	genLoadgen = "loadgen" // bench/loadgen
)

func main() {
	var (
		s                                             settings
		libs, parts, sizes, conns, compress, memConns string
	)
	flag.StringVar(&s.name, "name", "matrix", "results go to -out/NAME/*.jsonl; reuse a name to resume")
	flag.StringVar(&s.outDir, "out", "results", "results directory")
	flag.StringVar(&s.binDir, "bin", "bin", "where the echoserver, loadgen and duplex binaries are built")
	flag.StringVar(&s.tags, "tags", "", "build tags for the echo server (duplex: include our own library)")
	flag.BoolVar(&s.build, "build", true, "build the binaries before running")
	flag.BoolVar(&s.tableOnly, "table", false, "print the table of the saved results and exit")
	flag.StringVar(&libs, "libs", "", "comma-separated libraries (default: every one built into echoserver)")
	flag.StringVar(&parts, "parts", "echo,mem,setup", "which parts to run: echo, mem, setup")
	flag.StringVar(&sizes, "sizes", "64,4096,65536,1048576", "message sizes in bytes")
	flag.StringVar(&conns, "conns", "1,100,1000", "connection counts for the echo cells")
	flag.StringVar(&compress, "compress", "off,on", "compression settings: off, on or both")
	flag.IntVar(&s.inflight, "inflight", 1, "messages in flight per connection")
	flag.IntVar(&s.inflightBytes, "inflight-bytes", 512<<10, "with -inflight above 1, at most this many bytes in flight per connection: a cell of larger messages keeps fewer in flight (at least one)")
	flag.StringVar(&s.gen, "gen", genDuplex, "load generator of the echo cells: duplex (duplex bench) or loadgen (bench/loadgen); mem and setup cells always use loadgen")
	flag.BoolVar(&s.batch, "batch", false, "echo cells: pass --batch to duplex bench (refill in one write once half of -inflight came back)")
	flag.BoolVar(&s.goroutines, "goroutines", false, "echo cells: pass --goroutines to duplex bench (a goroutine per connection, as before 2026-12-04, instead of its epoll loops; the report's \"engine\" says which)")
	flag.DurationVar(&s.work, "work", 0, "echo cells: each server spends this much CPU per message before echoing (echoserver -work), so that the server is the bottleneck; use a new -name for it")
	flag.IntVar(&s.reps, "reps", 5, "repetitions of every cell (libraries interleaved within each)")
	flag.DurationVar(&s.dur, "dur", 5*time.Second, "measured window of an echo or setup run")
	flag.DurationVar(&s.warmup, "warmup", time.Second, "traffic before the measured window")
	flag.DurationVar(&s.cooldown, "cooldown", 300*time.Millisecond, "pause between runs")
	flag.StringVar(&memConns, "mem", "10000,max", "idle connection counts for memory per connection (max = descriptor limit)")
	flag.IntVar(&s.setupWorkers, "setup-workers", 16, "parallel dialers of the setup-rate cell")
	flag.BoolVar(&s.pin, "pin", true, "pin the server to CPU 0 and the load generator to CPU 1 with taskset (steadier on a 2-CPU machine; -pin=false to let them share)")
	flag.Parse()

	var err error
	if s.sizes, err = ints(sizes); err == nil {
		if s.conns, err = ints(conns); err == nil {
			s.memConns, err = ints(strings.ReplaceAll(memConns, "max", "0"))
		}
	}
	if err != nil {
		log.Fatalf("matrix: %v", err)
	}
	for _, c := range split(compress) {
		switch c {
		case "off":
			s.compress = append(s.compress, false)
		case "on":
			s.compress = append(s.compress, true)
		case "both":
			s.compress = append(s.compress, false, true)
		default:
			log.Fatalf("matrix: -compress %q: want off, on or both", c)
		}
	}
	s.parts = map[string]bool{}
	for _, p := range split(parts) {
		s.parts[p] = true
	}
	switch s.gen {
	case genDuplex, genLoadgen:
	default:
		log.Fatalf("matrix: -gen %q: want duplex or loadgen", s.gen)
	}
	if s.batch && s.gen != genDuplex {
		log.Fatalf("matrix: -batch is a duplex bench option; loadgen has none")
	}
	dir := filepath.Join(s.outDir, s.name)

	if s.tableOnly {
		recs, err := loadResults(dir)
		if err != nil {
			log.Fatalf("matrix: %v", err)
		}
		printTable(os.Stdout, recs)
		return
	}
	if s.build {
		if err := buildBinaries(s.binDir, s.tags, s.gen == genDuplex && s.parts["echo"]); err != nil {
			log.Fatalf("matrix: %v", err)
		}
	}
	if libs == "" {
		s.libs, err = builtInLibs(s.binDir)
		if err != nil {
			log.Fatalf("matrix: %v", err)
		}
	} else {
		s.libs = split(libs)
	}
	for _, lib := range s.libs {
		if lib != "uws" {
			continue
		}
		if _, err := exec.LookPath("node"); err != nil {
			log.Fatalf("matrix: the uws server runs under Node.js: %v", err)
		}
		if _, err := os.Stat(filepath.Join("uws", "node_modules", "uws-js")); err != nil {
			log.Fatalf("matrix: uWebSockets is not installed: run \"npm ci --prefix uws\" first (%v)", err)
		}
	}
	if s.pin {
		if _, err := exec.LookPath("taskset"); err != nil {
			log.Fatalf("matrix: -pin needs taskset (util-linux): %v", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatalf("matrix: %v", err)
	}
	r := &runner{s: &s, dir: dir}
	if err := r.run(); err != nil {
		log.Fatalf("matrix: %v", err)
	}
	recs, err := loadResults(dir)
	if err != nil {
		log.Fatalf("matrix: %v", err)
	}
	printTable(os.Stdout, recs)
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range split(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number: %w", f, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// buildBinaries builds echoserver and loadgen into dir and, with duplex,
// the duplex command of the enclosing repository (../cmd/duplex, built in
// its own module, without the echo server's tags).
func buildBinaries(dir, tags string, duplex bool) error {
	args := []string{"build", "-o", dir + "/"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, "./cmd/echoserver", "./loadgen")
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build the binaries (run from the bench directory): %w", err)
	}
	if !duplex {
		return nil
	}
	abs, err := filepath.Abs(filepath.Join(dir, "duplex"))
	if err != nil {
		return err
	}
	cmd = exec.Command("go", "build", "-o", abs, "./cmd/duplex")
	cmd.Dir = ".."
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build duplex from ../cmd/duplex (run from the bench directory, or use -gen loadgen): %w", err)
	}
	return nil
}

// builtInLibs asks the echo server which libraries it was built with.
func builtInLibs(dir string) ([]string, error) {
	out, err := exec.Command(filepath.Join(dir, "echoserver"), "-list").Output()
	if err != nil {
		return nil, fmt.Errorf("list the echo server's libraries: %w", err)
	}
	var libs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, _, _ := strings.Cut(l, "\t"); name != "" {
			libs = append(libs, name)
		}
	}
	return libs, nil
}
