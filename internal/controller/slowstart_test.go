package controller

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestSlowStartBatch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		count     int
		failAfter int32 // calls before every call fails (-1: never)
		wantOK    int
		wantCalls int32
	}{
		{"all succeed", 10, -1, 10, 10},
		{"first fails: one call", 10, 0, 0, 1},
		{"fails in the third batch", 10, 3, 3, 7}, // batches 1, 2, then 4 (3 fail)
		{"none", 0, -1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			ok, err := SlowStartBatch(tc.count, func() error {
				n := calls.Add(1)
				if tc.failAfter >= 0 && n > tc.failAfter {
					return errors.New("refused")
				}
				return nil
			})
			if ok != tc.wantOK || calls.Load() != tc.wantCalls || (err != nil) != (tc.failAfter >= 0 && tc.count > 0) {
				t.Errorf("ok %d calls %d err %v; want ok %d calls %d", ok, calls.Load(), err, tc.wantOK, tc.wantCalls)
			}
		})
	}
}
