package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// loadResult is what the tables use of one load generator run: the part of
// loadgen's JSON line the matrix reads, or the same figures taken from
// "duplex bench --json" (see duplexReport.loadResult).
type loadResult struct {
	Connected    int     `json:"connected"`
	Seconds      float64 `json:"seconds"`
	Messages     uint64  `json:"messages"`
	MsgPerSec    float64 `json:"msg_per_s"`
	MBPerSec     float64 `json:"mb_per_s"`
	SetupsPerSec float64 `json:"setups_per_s"`
	Lat          struct {
		P50, P90, P99, P999, Max, Mean float64
	} `json:"lat_us"`
	Errors         int     `json:"errors"`
	ErrorSample    string  `json:"error_sample"`
	LoadgenCPU     float64 `json:"loadgen_cpu_s"`
	LoadgenCPUPct  float64 `json:"loadgen_cpu_pct"`
	ServerCPU      float64 `json:"server_cpu_s"`
	ServerUsPerMsg float64 `json:"server_cpu_us_per_msg"`
	ServerRSS      int64   `json:"server_rss_bytes"`
	Ready          bool    `json:"ready"`

	// Only from duplex bench: the echo requests sent in the window, and
	// how the generator's CPU figure was obtained ("report": its own
	// report; "proc": /proc/PID/stat of the child, sampled by the matrix).
	Sent           uint64 `json:"sent,omitempty"`
	LoadgenCPUFrom string `json:"loadgen_cpu_from,omitempty"`
	// Note is the server note of duplex bench (why a server figure is
	// missing).
	Note string `json:"note,omitempty"`
}

// record is one line of a cell's .jsonl file: one library, one repetition.
type record struct {
	Cell     string `json:"cell"`
	Kind     string `json:"kind"` // echo, mem or setup
	Lib      string `json:"lib"`
	Rep      int    `json:"rep"`
	Size     int    `json:"size"`
	Conns    int    `json:"conns"`
	Inflight int    `json:"inflight,omitempty"`
	Batch    bool   `json:"batch,omitempty"`
	// Work is the CPU each server spent per message before echoing
	// (echoserver -work), if any.
	Work     string `json:"work,omitempty"`
	Compress bool   `json:"compress"`
	Pinned   bool   `json:"pinned"`
	// Gen is the load generator that took the measurement: "duplex" (duplex
	// bench) or "loadgen". Records saved before the field existed have
	// none and were all taken by loadgen.
	Gen  string `json:"gen,omitempty"`
	Dur  string `json:"dur,omitempty"`
	Time string `json:"time"`

	Error string `json:"error,omitempty"` // the run failed; figures are absent

	Load *loadResult `json:"load,omitempty"` // echo and setup cells
	// DuplexBench is duplex bench's whole JSON report, as printed
	// (compacted), for the figures the tables do not show.
	DuplexBench json.RawMessage `json:"duplex_bench,omitempty"`

	// Memory cells: server RSS with no client (after one warm-up
	// connection came and went) and with Connected idle connections.
	RSSBefore    int64   `json:"rss_before,omitempty"`
	RSSAfter     int64   `json:"rss_after,omitempty"`
	Connected    int     `json:"connected,omitempty"`
	BytesPerConn float64 `json:"bytes_per_conn,omitempty"`
}

// generator is the load generator that took r.
func (r *record) generator() string {
	if r.Gen == "" {
		return genLoadgen
	}
	return r.Gen
}

// key identifies a measurement for resuming. The generator is part of it,
// so that the same -name can hold one cell measured by both.
func (r *record) key() string {
	return fmt.Sprintf("%s|%s|%d|%s", r.Cell, r.Lib, r.Rep, r.generator())
}

// appendRecord adds r to dir/CELL.jsonl and syncs it, so that a run cut
// off a moment later keeps it.
func appendRecord(dir string, r *record) error {
	f, err := os.OpenFile(filepath.Join(dir, r.Cell+".jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("save a result: %w", err)
	}
	defer f.Close()
	b, _ := json.Marshal(r)
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("save a result to %s: %w", f.Name(), err)
	}
	return f.Sync()
}

// loadResults reads every record saved in dir, in cell order.
func loadResults(dir string) ([]*record, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var recs []*record
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("read results: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var r record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				continue // a line cut by an interrupted write
			}
			recs = append(recs, &r)
		}
		f.Close()
	}
	return recs, nil
}
