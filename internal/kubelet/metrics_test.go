package kubelet

import (
	"testing"
	"time"
)

// TestSamplerEarlyTick: a sample that comes less than the minimum window
// after the last (a ticker firing early after a late tick) does not wipe
// out the rate: the older sample stays the base.
func TestSamplerEarlyTick(t *testing.T) {
	var s sampler
	t0 := time.Unix(1000, 0)
	s.observe("node", usage{cpuNanos: 0, at: t0})
	s.observe("node", usage{cpuNanos: 1e9, at: t0.Add(1005 * time.Millisecond)})
	s.observe("node", usage{cpuNanos: 19e8, at: t0.Add(1999 * time.Millisecond)}) // 994 ms later
	rate, w, ok := s.rate("node", usage{cpuNanos: 2e9, at: t0.Add(2100 * time.Millisecond)})
	if !ok || w != 1095*time.Millisecond {
		t.Fatalf("rate %v over %s, %v", rate, w, ok)
	}
	// Asked right after a sample: the sample's own rate.
	rate, w, ok = s.rate("node", usage{cpuNanos: 1e9, at: t0.Add(1100 * time.Millisecond)})
	if !ok || w != 1005*time.Millisecond || rate < 0.99 || rate > 1 {
		t.Fatalf("rate %v over %s, %v", rate, w, ok)
	}
}
