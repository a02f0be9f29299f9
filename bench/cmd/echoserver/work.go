package main

import "time"

// workPerMessage is the -work flag: CPU time each server spends on a
// message before it echoes it.
var workPerMessage time.Duration

// workSink keeps the compiler from dropping the work loop.
var workSink uint64

// work spends workPerMessage of CPU, as an application's handler would
// (decoding, looking things up), so that the server is the bottleneck and
// what each library adds per message shows in the throughput. The clock is
// read every hundred rounds: the loop itself is most of the time spent.
func work() {
	if workPerMessage <= 0 {
		return
	}
	end := time.Now().Add(workPerMessage)
	for time.Now().Before(end) {
		for i := range 100 {
			workSink += uint64(i)
		}
	}
}
