package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// reportJSON is a report of "duplex bench --json" as it prints one (echo
// mode, with --server-pid), with two error samples added.
const reportJSON = `{
  "mode": "echo", "url": "ws://127.0.0.1:39711/", "procs": 1, "conns": 10, "inflight": 1, "size": 64,
  "compress": false, "duration_s": 2, "messages_sent": 160010, "messages_received": 160000,
  "msgs_per_sec": 80000, "mb_per_sec": 5.12, "latency_kind": "round trip",
  "latency": {"count": 160000, "p50_us": 51.5, "p90_us": 90.6, "p99_us": 309.2, "p999_us": 1952.7, "max_us": 8412.6, "mean_us": 62.8},
  "errors": 2, "error_samples": ["no echo within 30s", "the server closed the connection"],
  "server": {"pid": 21733, "cpu_percent": 45, "cpu_us_per_msg": 5.5, "rss_before_mib": 8.5, "rss_mib": 12.5},
  "bench": {"cpu_percent": 44.4, "cpu_us_per_msg": 5.4}
}`

func TestDuplexReportMapping(t *testing.T) {
	var rep duplexReport
	if err := json.Unmarshal([]byte(reportJSON), &rep); err != nil {
		t.Fatal(err)
	}
	got := rep.loadResult(nil)
	want := loadResult{Connected: 10, Seconds: 2, Messages: 160000, Sent: 160010, MsgPerSec: 80000, MBPerSec: 5.12,
		Errors: 2, ErrorSample: "no echo within 30s; the server closed the connection",
		LoadgenCPU: 0.888, LoadgenCPUPct: 44.4, LoadgenCPUFrom: "report",
		ServerCPU: 0.88, ServerUsPerMsg: 5.5, ServerRSS: 12.5 * (1 << 20)}
	want.Lat.P50, want.Lat.P90, want.Lat.P99, want.Lat.P999, want.Lat.Max, want.Lat.Mean = 51.5, 90.6, 309.2, 1952.7, 8412.6, 62.8
	near := func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
	if !near(got.LoadgenCPU, want.LoadgenCPU) || !near(got.ServerCPU, want.ServerCPU) {
		t.Errorf("CPU seconds: generator %v, server %v; want %v, %v", got.LoadgenCPU, got.ServerCPU, want.LoadgenCPU, want.ServerCPU)
	}
	got.LoadgenCPU, got.ServerCPU = want.LoadgenCPU, want.ServerCPU
	if *got != want {
		t.Errorf("mapped\n%+v\nwant\n%+v", *got, want)
	}
}

func TestDuplexReportWithoutGeneratorCPU(t *testing.T) {
	var rep duplexReport
	noBench := strings.Replace(reportJSON, `"bench": {"cpu_percent": 44.4, "cpu_us_per_msg": 5.4}`, `"bench": {}`, 1)
	if err := json.Unmarshal([]byte(noBench), &rep); err != nil {
		t.Fatal(err)
	}
	if got := rep.loadResult(nil); got.LoadgenCPUPct != 0 || got.LoadgenCPUFrom != "" {
		t.Errorf("no report figure and no samples: got %v%% from %q", got.LoadgenCPUPct, got.LoadgenCPUFrom)
	}
	// Samples every 0.5 s over 4 s, using 0.25 s of CPU per second in
	// the first half and 0.75 s in the second: the report's 2 s window
	// is the second half.
	t0 := time.Unix(1000, 0)
	var samples []cpuSample
	cpu := time.Duration(0)
	for i := 0; i <= 8; i++ {
		samples = append(samples, cpuSample{t0.Add(time.Duration(i) * 500 * time.Millisecond), cpu})
		if i < 4 {
			cpu += 125 * time.Millisecond
		} else {
			cpu += 375 * time.Millisecond
		}
	}
	got := rep.loadResult(samples)
	if got.LoadgenCPUFrom != "proc" || got.LoadgenCPUPct < 74.9 || got.LoadgenCPUPct > 75.1 || got.LoadgenCPU < 1.49 || got.LoadgenCPU > 1.51 {
		t.Errorf("from /proc samples: %v s, %v%% from %q; want 1.5 s, 75%% from proc", got.LoadgenCPU, got.LoadgenCPUPct, got.LoadgenCPUFrom)
	}
}

func TestWindowCPU(t *testing.T) {
	t0 := time.Unix(1000, 0)
	if _, _, ok := windowCPU([]cpuSample{{t0, 0}}, time.Second); ok {
		t.Error("one sample gave a figure")
	}
	// A window longer than the samples uses all of them.
	s := []cpuSample{{t0, 0}, {t0.Add(time.Second), 500 * time.Millisecond}}
	if sec, pct, ok := windowCPU(s, time.Hour); !ok || sec != 0.5 || pct != 50 {
		t.Errorf("got %v s %v%% %v, want 0.5 s 50%%", sec, pct, ok)
	}
}

// fakeDuplex writes a stand-in for the duplex binary into a new bin
// directory: a script that prints out and exits with code.
func fakeDuplex(t *testing.T, out string, code string) *runner {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "out"), []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\ncat " + filepath.Join(dir, "out") + "\necho 'duplex bench: complaint' >&2\nexit " + code + "\n"
	if err := os.WriteFile(filepath.Join(dir, "duplex"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &runner{s: &settings{binDir: dir}}
}

func TestDuplexBenchExitStatus(t *testing.T) {
	for _, tc := range []struct {
		name, out, code  string
		wantRep, wantErr bool
		wantErrPart      string
	}{
		{"clean", reportJSON, "0", true, false, ""},
		{"completed with errors", reportJSON, "3", true, false, ""},
		{"failed with a report", reportJSON, "1", true, true, "complaint"},
		{"failed without a report", "", "1", false, true, "complaint"},
		{"not JSON", "duplex bench echo: 10 conns\n", "0", false, true, "decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fakeDuplex(t, tc.out, tc.code)
			rep, raw, _, err := r.duplexBench(time.Minute, "bench")
			if (rep != nil) != tc.wantRep || (err != nil) != tc.wantErr {
				t.Fatalf("report %v, error %v; want report %v, error %v", rep != nil, err, tc.wantRep, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tc.wantErrPart) {
				t.Errorf("error %q does not contain %q", err, tc.wantErrPart)
			}
			if rep != nil && (rep.Received != 160000 || !json.Valid(raw) || bytes.Contains(raw, []byte("\n"))) {
				t.Errorf("report %+v, raw %s", rep, raw)
			}
		})
	}
}

func TestRecordsWithoutGeneratorAreLoadgen(t *testing.T) {
	dir := t.TempDir()
	old := `{"cell":"echo-s0000064-c00010-zoff","kind":"echo","lib":"gws","rep":1,"size":64,"conns":10,"inflight":1,"compress":false,"pinned":true,"dur":"1s","time":"2026-11-25T10:00:00Z","load":{"connected":10,"seconds":1,"messages":155000,"msg_per_s":155000,"lat_us":{"P50":53,"P99":170},"errors":0,"loadgen_cpu_pct":86,"server_cpu_us_per_msg":5.49}}`
	if err := os.WriteFile(filepath.Join(dir, "echo-s0000064-c00010-zoff.jsonl"), []byte(old+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var rep duplexReport
	if err := json.Unmarshal([]byte(reportJSON), &rep); err != nil {
		t.Fatal(err)
	}
	nu := &record{Cell: "echo-s0000064-c00010-zoff", Kind: "echo", Lib: "gws", Rep: 1, Size: 64, Conns: 10, Inflight: 1,
		Gen: genDuplex, Load: rep.loadResult(nil), DuplexBench: json.RawMessage(`{"mode":"echo"}`)}
	if err := appendRecord(dir, nu); err != nil {
		t.Fatal(err)
	}
	recs, err := loadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].generator() != genLoadgen || recs[1].generator() != genDuplex {
		t.Fatalf("loaded %d records, generators %q %q", len(recs), recs[0].generator(), recs[1].generator())
	}
	if recs[0].key() == recs[1].key() {
		t.Error("the same cell measured by two generators has one key: a resumed run would skip one")
	}
	var b strings.Builder
	printTable(&b, recs)
	for _, want := range []string{"| 64 B | 10 | off | gws | duplex | 1 | 80k |", "| 64 B | 10 | off | gws | loadgen | 1 | 155k |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// TestCellInflight: with several messages in flight, a cell of larger
// messages keeps as many as fit in -inflight-bytes, and always one.
func TestCellInflight(t *testing.T) {
	s := &settings{inflight: 16, inflightBytes: 512 << 10}
	for size, want := range map[int]int{64: 16, 4096: 16, 65536: 8, 1 << 20: 1} {
		if got := s.cellInflight(size); got != want {
			t.Errorf("size %d: %d in flight, want %d", size, got, want)
		}
	}
	one := &settings{inflight: 1, inflightBytes: 512 << 10}
	if got := one.cellInflight(1 << 20); got != 1 {
		t.Errorf("-inflight 1: %d in flight", got)
	}
}
