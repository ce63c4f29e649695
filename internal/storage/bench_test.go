package storage

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/peapod/peapod/internal/scheme"
)

// BenchmarkCreate measures one durable write; parallel writers show how
// well commits are shared.
func BenchmarkCreate(b *testing.B) {
	for _, tc := range []struct {
		name    string
		noSync  bool
		writers int
	}{{"fsync", false, 1}, {"fsync-8-writers", false, 8}, {"nosync", true, 1}} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "db"), scheme.New(), Options{NoSync: tc.noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N/tc.writers + 1
			for w := 0; w < tc.writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < per; i++ {
						if _, err := s.Create(fmt.Sprintf("/pods/default/p-%d-%d", w, i), pod("p", nil)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}
