package hist

import (
	"math"
	"testing"
)

func TestIndexBoundsRoundTrip(t *testing.T) {
	for i := 0; i < NumBuckets; i++ {
		lo := lowerBound(i)
		if got := index(lo); got != i {
			t.Fatalf("index(lowerBound(%d)=%d) = %d", i, lo, got)
		}
		hi := lo + width(i) - 1
		if got := index(hi); got != i {
			t.Fatalf("index(upper of %d = %d) = %d", i, hi, got)
		}
	}
}

func TestQuantileRelativeError(t *testing.T) {
	var h Histogram
	// 1..100000 µs expressed in ns, uniform.
	const n = 100000
	for v := uint64(1); v <= n; v++ {
		h.Record(v * 1000)
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := q * n * 1000
		got := float64(h.Quantile(q))
		if rel := math.Abs(got-want) / want; rel > 1.0/subCount {
			t.Errorf("q%.3f = %.0f, want about %.0f (rel err %.4f)", q, got, want, rel)
		}
	}
	if h.Max != n*1000 || h.Min != 1000 || h.Total != n {
		t.Errorf("min/max/total = %d/%d/%d", h.Min, h.Max, h.Total)
	}
}

func TestMerge(t *testing.T) {
	var a, b Histogram
	a.Record(10)
	b.Record(5)
	b.Record(1 << 30)
	a.Merge(&b)
	if a.Total != 3 || a.Min != 5 || a.Max != 1<<30 || a.Sum != 15+1<<30 {
		t.Fatalf("merged = total %d min %d max %d sum %d", a.Total, a.Min, a.Max, a.Sum)
	}
	if got := a.Quantile(0.5); got != 10 {
		t.Fatalf("median = %d, want 10", got)
	}
}

func BenchmarkRecord(b *testing.B) {
	var h Histogram
	for i := 0; i < b.N; i++ {
		h.Record(uint64(i) * 977)
	}
}
