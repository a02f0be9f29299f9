package bench

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	for i := 0; i < numBuckets; i++ {
		lo, w := bucketRange(i)
		if got := bucketOf(lo); got != i {
			t.Fatalf("bucketOf(lower bound %d of bucket %d) = %d", lo, i, got)
		}
		if got := bucketOf(lo + w - 1); got != i {
			t.Fatalf("bucketOf(upper bound of bucket %d) = %d", i, got)
		}
		if i >= subCount && float64(w)/float64(lo) > 1.0/subCount+1e-12 {
			t.Fatalf("bucket %d is %d wide at %d: more than 1/64", i, w, lo)
		}
	}
}

func TestQuantilesMatchSortedSamples(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]int64, 100000)
	for i := range vals {
		// Log-normal-ish latencies from 1 µs to about a second.
		vals[i] = int64(1000 * (1 + r.ExpFloat64()*r.ExpFloat64()*300))
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q).Nanoseconds()
		if d := float64(got-exact) / float64(exact); d > 0.02 || d < -0.02 {
			t.Errorf("q%.3f: histogram says %d, the samples %d (%.1f%% off)", q, got, exact, 100*d)
		}
	}
	if h.Quantile(1) != time.Duration(vals[len(vals)-1]) || h.Count() != uint64(len(vals)) {
		t.Fatalf("max %v count %d", h.Quantile(1), h.Count())
	}
	s := h.Summary()
	if !(s.P50 <= s.P90 && s.P90 <= s.P99 && s.P99 <= s.P999 && s.P999 <= s.Max) {
		t.Fatalf("summary not ordered: %+v", s)
	}
}

func TestHistogramJSONAndMerge(t *testing.T) {
	var a, b Histogram
	for i := int64(1); i <= 1000; i++ {
		a.Record(i * 1000)
		b.Record(i * 7)
	}
	b.Record(-5) // counts as zero
	raw, err := json.Marshal(&a)
	if err != nil {
		t.Fatal(err)
	}
	var back Histogram
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back != a {
		t.Fatal("a histogram changed through JSON")
	}
	back.Merge(&b)
	if back.Count() != 2001 || back.Quantile(0) != 0 || back.Max() != a.Max() {
		t.Fatalf("merged: count %d min %v max %v", back.Count(), back.Quantile(0), back.Max())
	}
	if err := json.Unmarshal([]byte(`{"total":5,"buckets":[[3,4]]}`), &back); err == nil {
		t.Fatal("a histogram whose buckets do not add up was accepted")
	}
}
