//go:build linux && amd64

// Command uringecho is a measurement probe: a minimal WebSocket echo server
// written directly on io_uring with raw system calls, to see how much
// server CPU per echoed message batching system calls saves.
//
//	uringecho -addr 127.0.0.1:9100 [-entries 4096] [-batchwait 50us]
//
// Connections are accepted and upgraded (HTTP/1.1, RFC 6455 §4.2) by the
// net package; each socket is then handed to one goroutine, locked to its
// OS thread, that owns the ring. Per connection it keeps one multishot recv
// armed (buffers picked by the kernel from a provided-buffer ring) and at
// most one send in flight. Each turn of its loop queues one send per
// connection with output, then makes a single io_uring_enter that submits
// everything queued and waits for at least one completion, and reaps all
// completions from the mapped queue without a system call.
//
// It echoes every data frame as it comes (same FIN bit and opcode,
// unmasked), answers ping with pong and close with close, then closes. No
// compression, no subprotocols, no UTF-8 validation of text.
//
// It prints "listening" on standard output when ready and exits on SIGINT
// or SIGTERM. Linux/amd64 only; it does not use SQPOLL.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9100", "listen address (host:port)")
	entries := flag.Uint("entries", 4096, "submission queue size (a power of two; the completion queue is twice as big)")
	batchWait := flag.Duration("batchwait", 0, "after submitting sends, wait for their completions plus one more, for at most this long once any\ncompletion is in (io_uring min_wait_usec, Linux 6.12+); 0: wait for one completion")
	flag.Parse()

	// The ring goroutine spends its idle time inside io_uring_enter, a
	// blocking system call. With a single P (GOMAXPROCS 1, as under
	// taskset -c 0) sysmon takes that P away whenever a call outlasts one
	// of its ticks, and then keeps waking every 20 µs: thousands of
	// wake-ups a second on the server's CPU. A second P that nothing uses
	// makes it leave the P alone (see also the Gosched in loop.serve).
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)

	s, err := start(*addr, uint32(*entries), *batchWait)
	if err != nil {
		fmt.Fprintln(os.Stderr, "uringecho:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "uringecho: io_uring setup flags: %s; features %#x\n", setupNames(s.l.r.setup), s.l.r.features)
	fmt.Println("listening")

	select {
	case <-sig:
	case <-s.done:
	}
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "uringecho:", err)
		os.Exit(1)
	}
}

func setupNames(f uint32) string {
	var n []string
	for _, x := range []struct {
		bit  uint32
		name string
	}{{setupSingleIssuer, "SINGLE_ISSUER"}, {setupDeferTaskrun, "DEFER_TASKRUN"}, {setupCoopTaskrun, "COOP_TASKRUN"}} {
		if f&x.bit != 0 {
			n = append(n, x.name)
		}
	}
	if n == nil {
		return "none"
	}
	return strings.Join(n, "|")
}
