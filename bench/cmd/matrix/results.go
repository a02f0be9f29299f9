package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// loadResult is the part of the load generator's JSON line the matrix uses.
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
	Compress bool   `json:"compress"`
	Pinned   bool   `json:"pinned"`
	Dur      string `json:"dur,omitempty"`
	Time     string `json:"time"`

	Error string `json:"error,omitempty"` // the run failed; figures are absent

	Load *loadResult `json:"load,omitempty"` // echo and setup cells

	// Memory cells: server RSS with no client (after one warm-up
	// connection came and went) and with Connected idle connections.
	RSSBefore    int64   `json:"rss_before,omitempty"`
	RSSAfter     int64   `json:"rss_after,omitempty"`
	Connected    int     `json:"connected,omitempty"`
	BytesPerConn float64 `json:"bytes_per_conn,omitempty"`
}

// key identifies a measurement for resuming.
func (r *record) key() string { return fmt.Sprintf("%s|%s|%d", r.Cell, r.Lib, r.Rep) }

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
