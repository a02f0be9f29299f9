// Package hist is a small log-bucketed latency histogram in the spirit of
// HdrHistogram: every power of two is split into 32 linear sub-buckets, so a
// recorded value is known to within about 3 % while the whole range from 1 ns
// to about 18 minutes fits in a fixed array. Recording is a few instructions
// and never allocates, which keeps it cheap enough for a load generator's hot
// loop; one histogram per connection avoids atomics, and they are merged at
// the end.
package hist

import "math/bits"

const (
	subBits   = 5
	subCount  = 1 << subBits // sub-buckets per power of two
	linearTop = 2 * subCount // values below this get an exact bucket each
	maxShift  = 40           // covers values up to 2^46 ns
	// NumBuckets is the fixed number of counters in a Histogram.
	NumBuckets = linearTop + maxShift*subCount
)

// Histogram counts values (nanoseconds, by convention) in log-linear buckets.
// The zero value is ready to use. It is not safe for concurrent use.
type Histogram struct {
	Counts [NumBuckets]uint64
	Total  uint64
	Max    uint64
	Min    uint64
	Sum    uint64
}

// index returns the bucket of v.
func index(v uint64) int {
	if v < linearTop {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1 // >= 1 here
	if shift > maxShift {
		return NumBuckets - 1
	}
	mant := v >> uint(shift) // in [subCount, 2*subCount)
	return linearTop + (shift-1)*subCount + int(mant-subCount)
}

// lowerBound returns the smallest value that falls in bucket i.
func lowerBound(i int) uint64 {
	if i < linearTop {
		return uint64(i)
	}
	j := i - linearTop
	shift := j/subCount + 1
	mant := uint64(j%subCount + subCount)
	return mant << uint(shift)
}

// width returns how many distinct values bucket i covers.
func width(i int) uint64 {
	if i < linearTop {
		return 1
	}
	return 1 << uint((i-linearTop)/subCount+1)
}

// Record adds one observation of v.
func (h *Histogram) Record(v uint64) {
	h.Counts[index(v)]++
	if h.Total == 0 || v < h.Min {
		h.Min = v
	}
	h.Total++
	h.Sum += v
	if v > h.Max {
		h.Max = v
	}
}

// Merge adds every observation of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.Total == 0 {
		return
	}
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	if h.Total == 0 || o.Min < h.Min {
		h.Min = o.Min
	}
	h.Total += o.Total
	h.Sum += o.Sum
	if o.Max > h.Max {
		h.Max = o.Max
	}
}

// Quantile returns an estimate of the q-quantile (0 <= q <= 1): the middle of
// the bucket holding that rank, clamped to the observed min and max so that
// the answer is never outside what was seen.
func (h *Histogram) Quantile(q float64) uint64 {
	if h.Total == 0 {
		return 0
	}
	if q <= 0 {
		return h.Min
	}
	if q >= 1 {
		return h.Max
	}
	rank := uint64(q*float64(h.Total-1)) + 1 // 1-based rank of the wanted value
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			v := lowerBound(i) + width(i)/2
			if v < h.Min {
				v = h.Min
			}
			if v > h.Max {
				v = h.Max
			}
			return v
		}
	}
	return h.Max
}

// Mean returns the arithmetic mean of the recorded values.
func (h *Histogram) Mean() float64 {
	if h.Total == 0 {
		return 0
	}
	return float64(h.Sum) / float64(h.Total)
}
