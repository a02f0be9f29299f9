// Command echoserver is the echo server of the comparative benchmark: the
// same tiny program (echo every message back with the same type) written
// with one WebSocket library at a time, each the way that library's own
// documentation recommends for speed.
//
//	echoserver -lib gorilla -addr 127.0.0.1:9100 [-compress]
//
// With -compress every library negotiates permessage-deflate with the same
// settings: level 1, 15-bit window, no context takeover in either direction
// (the only mode every library here supports), and every message compressed
// whatever its size. The load generator offers exactly that.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/duplexws/duplex/bench/internal/proc"
)

// Settings shared by every library, so that the figures compare like with like.
const (
	// compressLevel is the flate level for every library (1 = best speed,
	// which is also the default of gws, coder and nbio).
	compressLevel = 1
	// compressThreshold: messages shorter than this go out uncompressed.
	// One means every non-empty message is compressed, which is what
	// gorilla and nbio always do and the others are told to do.
	compressThreshold = 1
	// readLimit bounds a message; the matrix's largest message is 1 MiB.
	readLimit = 4 << 20
)

// config is what a server needs to start.
type config struct {
	addr     string
	compress bool
}

// servers maps a library name to its server; each blocks while serving.
var servers = map[string]func(config) error{}

// notes says, per library, what its server cannot do (shown by -list).
var notes = map[string]string{}

func register(name string, run func(config) error) { servers[name] = run }

func names() []string {
	var ns []string
	for n := range servers {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

func main() {
	lib := flag.String("lib", "", "library to serve with: "+strings.Join(names(), ", "))
	addr := flag.String("addr", "127.0.0.1:9100", "listen address (host:port)")
	compress := flag.Bool("compress", false, "negotiate permessage-deflate (level 1, window 15, no context takeover)")
	list := flag.Bool("list", false, "list the libraries built into this binary and exit")
	flag.DurationVar(&workPerMessage, "work", 0, "spend this much CPU on each message before echoing it (a server with work to do: then it, not the load generator, is the bottleneck)")
	flag.Parse()

	if *list {
		for _, n := range names() {
			fmt.Printf("%s\t%s\n", n, notes[n])
		}
		return
	}
	run, ok := servers[*lib]
	if !ok {
		hint := ""
		if *lib == "duplex" {
			hint = " (build with -tags duplex once the websocket package compiles)"
		}
		log.Fatalf("unknown -lib %q%s; built in: %s", *lib, hint, strings.Join(names(), ", "))
	}
	if _, err := proc.RaiseFileLimit(); err != nil {
		log.Printf("warning: %v", err)
	}
	if err := run(config{addr: *addr, compress: *compress}); err != nil {
		log.Fatalf("%s server on %s: %v", *lib, *addr, err)
	}
}

// serveHTTP runs a net/http server whose error log is silenced: at ten
// thousand connections a log line per dropped client would cost more than
// the echo itself.
func serveHTTP(addr string, h http.HandlerFunc) error {
	srv := &http.Server{
		Addr:     addr,
		Handler:  h,
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return srv.ListenAndServe()
}

// fatalf reports a setup error that makes the server meaningless.
func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
