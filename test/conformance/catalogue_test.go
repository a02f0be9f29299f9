package conformance_test

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestCatalogue checks the suite's own data against independent facts, so
// that a typo in a table cannot turn a case into a wrong expectation.
func TestCatalogue(t *testing.T) {
	t.Run("utf8_verdicts_match_the_standard_library", func(t *testing.T) {
		for gi, table := range utf8Tables() {
			for i, s := range table {
				if got := utf8.ValidString(s.b); got != s.valid {
					t.Errorf("6.%d.%d % x: table says valid=%v, unicode/utf8 says %v", gi+5, i+1, s.b, s.valid, got)
				}
			}
		}
	})
	t.Run("utf8_subgroup_sizes", func(t *testing.T) {
		want := []int{5, 11, 4, 2, 4, 3, 5, 8, 5, 10, 1, 3, 5, 5, 5, 7, 8, 34, 7}
		tables := utf8Tables()
		if len(tables) != len(want) {
			t.Fatalf("%d subgroups, want %d (6.5 to 6.23)", len(tables), len(want))
		}
		for i, tb := range tables {
			if len(tb) != want[i] {
				t.Errorf("6.%d has %d cases, want %d", i+5, len(tb), want[i])
			}
		}
	})
	t.Run("first_bad_byte", func(t *testing.T) {
		for _, tc := range []struct {
			in   string
			want int
		}{
			{"", 0}, {"abc", 3}, {"\x80", 0}, {"a\xc0", 1}, {"\xe0\x80", 1}, {"\xe0\xa0", 2},
			{"\xed\xa0\x80", 1}, {"\xf4\x90", 1}, {"\xf4\x8f\xbf", 3}, {"\xf5", 0}, {kosme + "\xf4\x90\x80\x80", 12},
			{"\xdf", 1}, {"\xef\xbf", 2},
		} {
			if got := firstBadByte([]byte(tc.in)); got != tc.want {
				t.Errorf("firstBadByte(% x) = %d, want %d", tc.in, got, tc.want)
			}
		}
	})
	t.Run("case_ids_unique_and_complete", func(t *testing.T) {
		seen := map[string]bool{}
		perGroup := map[string]int{}
		for _, c := range allCases() {
			if seen[c.id] {
				t.Errorf("case %s twice", c.id)
			}
			seen[c.id] = true
			if !strings.HasPrefix(c.id, "RFC") {
				perGroup[strings.SplitN(c.id, ".", 2)[0]]++
			}
		}
		// Case counts of the Autobahn TestSuite catalogue, groups 1–7, 9, 10.
		want := map[string]int{"1": 16, "2": 11, "3": 7, "4": 10, "5": 20, "6": 145, "7": 37, "9": 54, "10": 1}
		for g, n := range want {
			if perGroup[g] != n {
				t.Errorf("group %s has %d cases, want %d", g, perGroup[g], n)
			}
		}
	})
}
