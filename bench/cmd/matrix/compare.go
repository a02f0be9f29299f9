package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// uwsRatio is uWebSockets' server CPU per message as a fraction of gws's
// as the project's performance issue gives it (0.12–0.17 at 64 B,
// 0.23–0.29 at 4 KiB, 0.67 at 64 KiB). The comparison falls back on it
// for cells where uWebSockets itself (the "uws" server) was not measured.
var uwsRatio = map[int][2]float64{
	64:    {0.12, 0.17},
	4096:  {0.23, 0.29},
	65536: {0.67, 0.67},
}

// ours are the libraries of this repository (and their variants, such as
// duplex-event-writes); notGo are peers that are not Go libraries
// (uWebSockets) and so not candidates for "best Go peer".
var (
	ours  = map[string]bool{"duplex": true, "duplex-event": true, "duplex-event-writes": true}
	notGo = map[string]bool{"uws": true}
)

// printComparison writes, for every echo cell, Duplex's CPU per message in
// each mode against the cheapest Go peer in that cell, and the estimate of
// twice uWebSockets' figure where the ratio to gws is known.
func printComparison(w io.Writer, recs []*record) {
	type cellKey struct {
		size, conns, inflight int
		compress, batch       bool
		gen                   string
		work                  string // -work: the ratios to gws do not hold there
	}
	type libFig struct {
		us, msgs, gen float64
	}
	cells := map[cellKey]map[string]libFig{}
	var keys []cellKey
	for _, g := range groupBy(recs, "echo") {
		if len(g.recs) == 0 {
			continue
		}
		r0 := g.recs[0]
		k := cellKey{r0.Size, r0.Conns, max(r0.Inflight, 1), r0.Compress, r0.Batch, g.gen, r0.Work}
		if cells[k] == nil {
			cells[k] = map[string]libFig{}
			keys = append(keys, k)
		}
		cells[k][g.lib] = libFig{
			us:   g.figure(func(r *record) float64 { return r.Load.ServerUsPerMsg }).med,
			msgs: g.figure(func(r *record) float64 { return r.Load.MsgPerSec }).med,
			gen:  g.figure(func(r *record) float64 { return r.Load.LoadgenCPUPct }).med,
		}
	}
	if len(keys) == 0 {
		return
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		switch {
		case a.inflight != b.inflight:
			return a.inflight < b.inflight
		case a.size != b.size:
			return a.size < b.size
		case a.conns != b.conns:
			return a.conns < b.conns
		case a.compress != b.compress:
			return !a.compress
		}
		return a.gen < b.gen
	})
	fmt.Fprintln(w, "### Duplex against the cheapest Go peer (server CPU µs per message, medians)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| size | conns | in flight | deflate | duplex-event | duplex | best Go peer | event ÷ best | goroutine ÷ best | uWS | event ÷ uWS | msg/s event ÷ best peer | generator CPU % (event) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, k := range keys {
		libs := cells[k]
		best, bestName := math.Inf(1), ""
		bestMsgs := 0.0
		for name, f := range libs {
			if ours[name] || notGo[name] || math.IsNaN(f.us) {
				continue
			}
			if f.us < best {
				best, bestName = f.us, name
			}
			bestMsgs = max(bestMsgs, f.msgs)
		}
		ev, hasEv := libs["duplex-event"]
		gr, hasGr := libs["duplex"]
		cell := func(has bool, f libFig) string {
			if !has {
				return "–"
			}
			return fmt.Sprintf("%.2f", f.us)
		}
		ratio := func(has bool, f libFig) string {
			if !has || bestName == "" {
				return "–"
			}
			return fmt.Sprintf("%.2f", f.us/best)
		}
		uws, vsUWS := "", ""
		if u, ok := libs["uws"]; ok && !math.IsNaN(u.us) {
			uws = fmt.Sprintf("%.2f", u.us)
			if hasEv {
				vsUWS = fmt.Sprintf("%.2f", ev.us/u.us)
			}
		} else if r, ok := uwsRatio[k.size]; ok && !k.compress && k.work == "" {
			if gws, ok := libs["gws"]; ok {
				lo, hi := r[0]*gws.us, r[1]*gws.us
				if lo == hi {
					uws = fmt.Sprintf("%.2f (est.)", lo)
				} else {
					uws = fmt.Sprintf("%.2f–%.2f (est.)", lo, hi)
				}
				if hasEv {
					if lo == hi {
						vsUWS = fmt.Sprintf("%.2f (est.)", ev.us/lo)
					} else {
						vsUWS = fmt.Sprintf("%.2f–%.2f (est.)", ev.us/hi, ev.us/lo)
					}
				}
			}
		}
		thr, genPct := "–", "–"
		if hasEv && bestMsgs > 0 {
			thr = fmt.Sprintf("%.2f", ev.msgs/bestMsgs)
			genPct = fmt.Sprintf("%.0f", ev.gen)
		}
		inflight := fmt.Sprint(k.inflight)
		if k.batch {
			inflight += ", batch"
		}
		if k.gen != genDuplex {
			inflight += " (" + k.gen + ")"
		}
		bestCell := "–"
		if bestName != "" {
			bestCell = fmt.Sprintf("%.2f (%s)", best, bestName)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			sizeName(k.size), k.conns, inflight, map[bool]string{false: "off", true: "on"}[k.compress],
			cell(hasEv, ev), cell(hasGr, gr), bestCell, ratio(hasEv, ev), ratio(hasGr, gr),
			orDash(uws), orDash(vsUWS), thr, genPct)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, strings.TrimSpace(`
"best Go peer" is the cheapest of the other Go libraries in the cell. "uWS"
is uWebSockets (the "uws" server) in this run; where it was not measured,
an estimate from gws's figure in this run and the ratios the performance
issue gives (64 B: 0.12–0.17, 4 KiB: 0.23–0.29, 64 KiB: 0.67), marked
"(est.)". The goal is "event ÷ uWS" at most 2.
"msg/s event ÷ best peer" compares throughput with the fastest Go peer's; it
says little where the generator's CPU is near 100 %.`))
	fmt.Fprintln(w)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
