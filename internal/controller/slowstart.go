package controller

import (
	"errors"
	"sync"
)

// SlowStartBatch calls fn count times in batches of 1, 2, 4, ... (each
// batch at once), stopping after the first batch with an error, so that a
// controller whose creates all fail (quota, a bad template) makes one
// call, not hundreds (slowStartBatch). It returns how many succeeded.
func SlowStartBatch(count int, fn func() error) (int, error) {
	done := 0
	for size := 1; done < count; size *= 2 {
		size = min(size, count-done)
		var wg sync.WaitGroup
		errs := make([]error, size)
		for i := range size {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = fn()
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			}
		}
		done += ok
		if err := errors.Join(errs...); err != nil {
			return done, err
		}
	}
	return done, nil
}
