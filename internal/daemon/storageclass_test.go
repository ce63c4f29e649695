package daemon

import (
	"context"
	"testing"
	"time"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	volumecontroller "github.com/peapod/peapod/internal/controller/volume"
	"github.com/peapod/peapod/internal/registry"
	storageapi "github.com/peapod/peapod/internal/registry/storage"
	"github.com/peapod/peapod/internal/testutil"
)

// TestEnsureStorageClass: a fresh node gets local-path, which lets claims
// grow; a local-path an older peapod made gets allowVolumeExpansion too;
// one whose allowVolumeExpansion an admin set, or another class, stays.
func TestEnsureStorageClass(t *testing.T) {
	ctx := context.Background()
	no := false
	tests := []struct {
		name     string
		existing []storagev1.StorageClass
		want     map[string]*bool // class → allowVolumeExpansion after
	}{
		{"fresh node", nil, map[string]*bool{"local-path": ptr(true)}},
		{"older peapod's local-path", []storagev1.StorageClass{{ObjectMeta: metav1.ObjectMeta{Name: "local-path"}, Provisioner: volumecontroller.Provisioner}},
			map[string]*bool{"local-path": ptr(true)}},
		{"admin said no", []storagev1.StorageClass{{ObjectMeta: metav1.ObjectMeta{Name: "local-path"}, Provisioner: volumecontroller.Provisioner, AllowVolumeExpansion: &no}},
			map[string]*bool{"local-path": ptr(false)}},
		{"another class", []storagev1.StorageClass{{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, Provisioner: "example.com/fast"}},
			map[string]*bool{"fast": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := testutil.OpenStore(t)
			d := &Daemon{storageClasses: registry.NewStore(storageapi.ClassResource(), st, time.Now)}
			for i := range tt.existing {
				if _, err := d.storageClasses.Create(ctx, "", &tt.existing[i], false); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.ensureStorageClass(ctx); err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.want {
				obj, err := d.storageClasses.Get(ctx, "", name)
				if err != nil {
					t.Fatal(err)
				}
				got := obj.(*storagev1.StorageClass).AllowVolumeExpansion
				if (got == nil) != (want == nil) || (got != nil && *got != *want) {
					t.Errorf("%s: allowVolumeExpansion = %v, want %v", name, deref(got), deref(want))
				}
			}
		})
	}
}

func ptr(b bool) *bool { return &b }

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}
