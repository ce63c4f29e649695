package cgroup

import "testing"

func BenchmarkDestroyMissing(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if err := Destroy("/peapod-bench-missing/pod1/ctr"); err != nil {
			b.Fatal(err)
		}
	}
}
