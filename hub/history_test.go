package hub

import (
	"slices"
	"testing"
	"time"
)

func TestRingPushKeepsNewestWithinLimit(t *testing.T) {
	tests := []struct {
		name   string
		limits []int // limit used for each push, offsets 1..len
		want   []uint64
	}{
		{"under limit", []int{5, 5, 5}, []uint64{1, 2, 3}},
		{"at limit", []int{3, 3, 3}, []uint64{1, 2, 3}},
		{"wraps", []int{3, 3, 3, 3, 3}, []uint64{3, 4, 5}},
		{"grows past 8", slices.Repeat([]int{20}, 12), seq(1, 12)},
		{"wraps after growth", slices.Repeat([]int{10}, 25), seq(16, 25)},
		{"limit shrinks", []int{5, 5, 5, 5, 2}, []uint64{4, 5}},
		{"limit one", []int{1, 1, 1}, []uint64{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r ring
			for i, limit := range tt.limits {
				r.push(&Publication{Offset: uint64(i + 1)}, limit)
			}
			var got []uint64
			for i := range r.len() {
				got = append(got, r.at(i).Offset)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ring holds %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRingTrimExpired(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var r ring
	for i := range 5 {
		r.push(&Publication{Offset: uint64(i + 1), Time: t0.Add(time.Duration(i) * time.Second)}, 10)
	}
	r.trimExpired(t0.Add(2 * time.Second)) // published at or before t0+2s expire
	if r.len() != 2 || r.at(0).Offset != 4 {
		t.Fatalf("after trim: len %d, oldest %d; want 2, 4", r.len(), r.at(0).Offset)
	}
	r.trimExpired(t0.Add(time.Hour))
	if r.len() != 0 || r.buf != nil {
		t.Fatalf("after full trim: len %d, buffer kept %v", r.len(), r.buf != nil)
	}
	r.push(&Publication{Offset: 6}, 10)
	if r.len() != 1 || r.at(0).Offset != 6 {
		t.Fatalf("push after trim: len %d", r.len())
	}
}

func TestStreamRead(t *testing.T) {
	// Stream with offsets 6..10 retained (5 trimmed away).
	s := &stream{epoch: "e"}
	for i := uint64(1); i <= 10; i++ {
		s.top = i
		s.hist.push(&Publication{Offset: i}, 5)
	}
	at := func(o uint64) *StreamPosition { return &StreamPosition{Offset: o} }
	tests := []struct {
		name string
		opts HistoryOptions
		want []uint64
	}{
		{"all", HistoryOptions{}, seq(6, 10)},
		{"position only", HistoryOptions{Limit: PositionOnly}, nil},
		{"limit", HistoryOptions{Limit: 2}, []uint64{6, 7}},
		{"limit above count", HistoryOptions{Limit: 50}, seq(6, 10)},
		{"since inside", HistoryOptions{Since: at(7)}, []uint64{8, 9, 10}},
		{"since before retained", HistoryOptions{Since: at(2)}, seq(6, 10)},
		{"since oldest-1", HistoryOptions{Since: at(5)}, seq(6, 10)},
		{"since top", HistoryOptions{Since: at(10)}, nil},
		{"since beyond top", HistoryOptions{Since: at(15)}, nil},
		{"since with limit", HistoryOptions{Since: at(6), Limit: 2}, []uint64{7, 8}},
		{"reverse", HistoryOptions{Reverse: true}, []uint64{10, 9, 8, 7, 6}},
		{"reverse limit", HistoryOptions{Reverse: true, Limit: 2}, []uint64{10, 9}},
		{"reverse since", HistoryOptions{Reverse: true, Since: at(9)}, []uint64{8, 7, 6}},
		{"reverse since beyond top", HistoryOptions{Reverse: true, Since: at(20)}, []uint64{10, 9, 8, 7, 6}},
		{"reverse since oldest", HistoryOptions{Reverse: true, Since: at(6)}, nil},
		{"reverse since limit", HistoryOptions{Reverse: true, Since: at(10), Limit: 1}, []uint64{9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pubOffsets(s.read(tt.opts)); !slices.Equal(got, tt.want) {
				t.Fatalf("read(%+v) = %v, want %v", tt.opts, got, tt.want)
			}
		})
	}
}
