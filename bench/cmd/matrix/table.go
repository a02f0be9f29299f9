package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
)

// spread summarises the repetitions of one figure.
type spread struct{ med, min, max float64 }

func summarize(xs []float64) spread {
	if len(xs) == 0 {
		return spread{math.NaN(), math.NaN(), math.NaN()}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{med, s[0], s[len(s)-1]}
}

// relSpread is (max-min)/median in percent: how steady the figure was.
func (s spread) relSpread() string {
	if math.IsNaN(s.med) || s.med == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*(s.max-s.min)/s.med)
}

func (s spread) format(f func(float64) string) string {
	if math.IsNaN(s.med) {
		return "–"
	}
	if s.min == s.max {
		return f(s.med)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.med), f(s.min), f(s.max))
}

func count(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func fixed(prec int) func(float64) string {
	return func(v float64) string { return fmt.Sprintf("%.*f", prec, v) }
}

// latency prints microseconds, switching to milliseconds when large.
func latency(v float64) string {
	if v >= 10000 {
		return fmt.Sprintf("%.0fms", v/1000)
	}
	if v >= 1000 {
		return fmt.Sprintf("%.1fms", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// group collects the records of one (cell, library, load generator).
type group struct {
	cell, lib, gen string
	recs           []*record
	failed         []string
}

func groupBy(recs []*record, kind string) []*group {
	idx := map[string]*group{}
	var out []*group
	for _, r := range recs {
		if r.Kind != kind {
			continue
		}
		k := r.Cell + "|" + r.Lib + "|" + r.generator()
		g := idx[k]
		if g == nil {
			g = &group{cell: r.Cell, lib: r.Lib, gen: r.generator()}
			idx[k] = g
			out = append(out, g)
		}
		usable := r.Error == "" || (kind == "mem" && r.BytesPerConn > 0)
		if kind != "mem" && r.Load == nil {
			usable = false
		}
		if usable {
			g.recs = append(g.recs, r)
		}
		if r.Error != "" {
			g.failed = append(g.failed, r.Error)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].cell != out[j].cell {
			return out[i].cell < out[j].cell
		}
		if out[i].lib != out[j].lib {
			return out[i].lib < out[j].lib
		}
		return out[i].gen < out[j].gen
	})
	return out
}

func (g *group) figure(f func(*record) float64) spread {
	var xs []float64
	for _, r := range g.recs {
		xs = append(xs, f(r))
	}
	return summarize(xs)
}

func (g *group) note() string {
	if len(g.failed) == 0 {
		return ""
	}
	msg := g.failed[0]
	if len(msg) > 80 {
		msg = msg[:80] + "…"
	}
	return fmt.Sprintf("%d failed: %s", len(g.failed), strings.ReplaceAll(msg, "|", "/"))
}

// printTable writes the markdown tables of every kind of cell found.
func printTable(w io.Writer, recs []*record) {
	if gs := groupBy(recs, "echo"); len(gs) > 0 {
		fmt.Fprintln(w, "### Echo: median (min–max) over repetitions")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| size | conns | deflate | library | generator | reps | msg/s | msg/s spread | server CPU µs/msg | p50 µs | p99 µs | generator CPU % | errors | notes |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
		for _, g := range gs {
			if len(g.recs) == 0 {
				fmt.Fprintf(w, "| | | | %s | %s | 0 | | | | | | | | %s |\n", g.lib, g.gen, g.note())
				continue
			}
			r0 := g.recs[0]
			z := map[bool]string{false: "off", true: "on"}[r0.Compress]
			msgs := g.figure(func(r *record) float64 { return r.Load.MsgPerSec })
			errs := g.figure(func(r *record) float64 { return float64(r.Load.Errors) })
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				sizeName(r0.Size), r0.Conns, z, g.lib, g.gen, len(g.recs),
				msgs.format(count), msgs.relSpread(),
				g.figure(func(r *record) float64 { return r.Load.ServerUsPerMsg }).format(fixed(2)),
				g.figure(func(r *record) float64 { return r.Load.Lat.P50 }).format(latency),
				g.figure(func(r *record) float64 { return r.Load.Lat.P99 }).format(latency),
				g.figure(func(r *record) float64 { return r.Load.LoadgenCPUPct }).format(fixed(0)),
				errs.format(fixed(0)), g.note())
		}
		fmt.Fprintln(w)
		printComparison(w, recs)
	}
	if gs := groupBy(recs, "mem"); len(gs) > 0 {
		fmt.Fprintln(w, "### Memory per idle connection (server RSS growth / connections, after one message each)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| idle conns | deflate | library | reps | KiB/conn | server RSS MiB | notes |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
		for _, g := range gs {
			if len(g.recs) == 0 {
				fmt.Fprintf(w, "| | | %s | 0 | | | %s |\n", g.lib, g.note())
				continue
			}
			fmt.Fprintf(w, "| %d | %s | %s | %d | %s | %s | %s |\n", g.recs[0].Connected, map[bool]string{false: "off", true: "on"}[g.recs[0].Compress], g.lib, len(g.recs),
				g.figure(func(r *record) float64 { return r.BytesPerConn / 1024 }).format(fixed(1)),
				g.figure(func(r *record) float64 { return float64(r.RSSAfter) / (1 << 20) }).format(fixed(0)),
				g.note())
		}
		fmt.Fprintln(w)
	}
	if gs := groupBy(recs, "setup"); len(gs) > 0 {
		fmt.Fprintln(w, "### Connection setup (dial + handshake + close handshake, parallel dialers)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| dialers | library | reps | handshakes/s | p50 µs | p99 µs | server CPU µs/conn | loadgen CPU % | errors | notes |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
		for _, g := range gs {
			if len(g.recs) == 0 {
				fmt.Fprintf(w, "| | %s | 0 | | | | | | | %s |\n", g.lib, g.note())
				continue
			}
			fmt.Fprintf(w, "| %d | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", g.recs[0].Conns, g.lib, len(g.recs),
				g.figure(func(r *record) float64 { return r.Load.SetupsPerSec }).format(count),
				g.figure(func(r *record) float64 { return r.Load.Lat.P50 }).format(latency),
				g.figure(func(r *record) float64 { return r.Load.Lat.P99 }).format(latency),
				g.figure(func(r *record) float64 { return r.Load.ServerUsPerMsg }).format(fixed(1)),
				g.figure(func(r *record) float64 { return r.Load.LoadgenCPUPct }).format(fixed(0)),
				g.figure(func(r *record) float64 { return float64(r.Load.Errors) }).format(fixed(0)),
				g.note())
		}
		fmt.Fprintln(w)
	}
}
