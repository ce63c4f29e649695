package job

import (
	"slices"
	"testing"
)

func TestIndexes(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{0}, "0"},
		{[]int{2, 0, 1, 4}, "0-2,4"},
		{[]int{5, 5, 6, 9, 7}, "5-7,9"},
	} {
		got := formatIndexes(append([]int(nil), tc.in...))
		if got != tc.want {
			t.Errorf("formatIndexes(%v) = %q, want %q", tc.in, got, tc.want)
		}
		back := parseIndexes(got)
		want := slices.Compact(slices.Sorted(slices.Values(tc.in)))
		if !slices.Equal(back, want) && !(len(back) == 0 && len(want) == 0) {
			t.Errorf("parseIndexes(%q) = %v, want %v", got, back, want)
		}
	}
}
