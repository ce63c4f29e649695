package main

import "testing"

func TestPercentile(t *testing.T) {
	d := []int64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tc := range []struct {
		p    int
		want int64
	}{{50, 5}, {99, 10}, {10, 1}, {90, 9}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("p%d = %d, want %d", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 50) != -1 {
		t.Error("empty")
	}
}
