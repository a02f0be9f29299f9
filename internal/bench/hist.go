// Package bench is the load generator behind "duplex bench": raw WebSocket
// client connections with precomputed frames for the echo and connect modes,
// library connections for the subscribe mode, a latency histogram, and the
// results that several generator processes merge.
package bench

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"time"
)

// The histogram is log-linear: values below 2^subBits get a bucket each, and
// every power of two above is cut into 2^subBits equal buckets, so a bucket's
// width is at most 1/64 of its lower bound (under 1.6 % error) while the
// whole range up to 2^maxExp ns (about 18 minutes) fits in a fixed array.
const (
	subBits    = 6
	subCount   = 1 << subBits
	maxExp     = 40
	numBuckets = subCount + (maxExp-subBits+1)*subCount
)

// Histogram counts durations in nanoseconds. The zero value is empty and
// ready. It is not safe for concurrent use: give each connection its own and
// Merge them at the end, so that recording needs no atomics.
type Histogram struct {
	counts [numBuckets]uint64
	total  uint64
	min    uint64
	max    uint64
	sum    uint64
}

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v is in [2^e, 2^(e+1))
	if e > maxExp {
		return numBuckets - 1
	}
	shift := e - subBits
	return subCount + shift*subCount + int(v>>uint(shift)) - subCount
}

// bucketRange returns the smallest value of bucket i and how many values it
// holds.
func bucketRange(i int) (lo, width uint64) {
	if i < subCount {
		return uint64(i), 1
	}
	shift := (i - subCount) / subCount
	sub := uint64((i-subCount)%subCount) + subCount
	return sub << uint(shift), 1 << uint(shift)
}

// Record adds one duration of ns nanoseconds (negative counts as zero).
func (h *Histogram) Record(ns int64) {
	v := uint64(0)
	if ns > 0 {
		v = uint64(ns)
	}
	h.counts[bucketOf(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += v
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total }

// Max returns the largest recorded value.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Merge adds all of o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.total += o.total
	h.sum += o.sum
}

// Quantile returns the value below which a fraction q of the recorded values
// lie: the middle of the bucket holding that rank, kept within the observed
// minimum and maximum. Quantile(1) is the exact maximum.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	if q <= 0 {
		return time.Duration(h.min)
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(q*float64(h.total) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen < rank {
			continue
		}
		lo, w := bucketRange(i)
		v := lo + w/2
		v = max(v, h.min)
		v = min(v, h.max)
		return time.Duration(v)
	}
	return time.Duration(h.max)
}

// Mean returns the arithmetic mean.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / h.total)
}

// Latency is the summary of a histogram printed in reports, in microseconds.
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
	Mean  float64 `json:"mean_us"`
}

// Summary returns the percentiles reports show.
func (h *Histogram) Summary() Latency {
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	return Latency{
		Count: h.total,
		P50:   us(h.Quantile(0.50)),
		P90:   us(h.Quantile(0.90)),
		P99:   us(h.Quantile(0.99)),
		P999:  us(h.Quantile(0.999)),
		Max:   us(h.Quantile(1)),
		Mean:  us(h.Mean()),
	}
}

// wireHistogram is the sparse form a worker process sends to its parent.
type wireHistogram struct {
	Total   uint64      `json:"total"`
	Min     uint64      `json:"min"`
	Max     uint64      `json:"max"`
	Sum     uint64      `json:"sum"`
	Buckets [][2]uint64 `json:"buckets"` // [index, count] for non-empty buckets
}

// MarshalJSON encodes the non-empty buckets only.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	w := wireHistogram{Total: h.total, Min: h.min, Max: h.max, Sum: h.sum, Buckets: [][2]uint64{}}
	for i, c := range h.counts {
		if c != 0 {
			w.Buckets = append(w.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes what MarshalJSON produced.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var w wireHistogram
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*h = Histogram{total: w.Total, min: w.Min, max: w.Max, sum: w.Sum}
	var n uint64
	for _, bc := range w.Buckets {
		if bc[0] >= numBuckets {
			return fmt.Errorf("histogram bucket %d out of range", bc[0])
		}
		h.counts[bc[0]] += bc[1]
		n += bc[1]
	}
	if n != w.Total {
		return fmt.Errorf("histogram buckets hold %d values, total says %d", n, w.Total)
	}
	return nil
}
