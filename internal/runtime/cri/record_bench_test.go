package cri

import (
	"path/filepath"
	"testing"
)

func BenchmarkRecordWrite(b *testing.B) {
	dir := b.TempDir()
	data := make([]byte, 2000)
	for _, durable := range []bool{false, true} {
		name := "plain"
		if durable {
			name = "fsync"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := writeFileAtomic(filepath.Join(dir, recordFile), data, durable); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
