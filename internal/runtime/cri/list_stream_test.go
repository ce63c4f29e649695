package cri

import (
	"errors"
	"slices"
	"testing"
)

func TestSendChunks(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []int
	}{
		{0, nil},
		{1, []int{1}},
		{listChunk, []int{listChunk}},
		{listChunk + 1, []int{listChunk, 1}},
		{2*listChunk + 50, []int{listChunk, listChunk, 50}},
	} {
		items := make([]int, tc.n)
		for i := range items {
			items[i] = i
		}
		var sizes, seen []int
		err := sendChunks(items, func(c []int) *[]int { return &c }, func(c *[]int) error {
			sizes = append(sizes, len(*c))
			seen = append(seen, *c...)
			return nil
		})
		if err != nil || !slices.Equal(sizes, tc.want) || !slices.Equal(seen, items) {
			t.Errorf("%d items: chunks %v (%v), want %v, all items in order", tc.n, sizes, err, tc.want)
		}
	}
	boom := errors.New("boom")
	calls := 0
	err := sendChunks(make([]int, 3*listChunk), func(c []int) *[]int { return &c }, func(*[]int) error { calls++; return boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Errorf("a failed send: %v after %d calls, want the error after 1", err, calls)
	}
}
