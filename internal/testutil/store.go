package testutil

import (
	"path/filepath"
	"testing"

	"github.com/peapod/peapod/internal/scheme"
	"github.com/peapod/peapod/internal/storage"
)

// OpenStore opens a throwaway object database (no fsync) with peapod's
// scheme in the test's temporary directory, closed when the test ends.
func OpenStore(t testing.TB) *storage.Store {
	t.Helper()
	st, err := storage.Open(filepath.Join(t.TempDir(), "db"), scheme.New(), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
