package kubelet

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// emptyDirMessageFmt is the eviction manager's message for an emptyDir
// over its sizeLimit (pkg/kubelet/eviction/helpers.go), trailing space
// included.
const emptyDirMessageFmt = "Usage of EmptyDir volume %q exceeds the limit %q. "

// localStorageEviction is the eviction manager's emptyDirLimitEviction: a
// running pod whose disk-backed emptyDir holds more than its sizeLimit is
// evicted. (A memory-backed one is a tmpfs of that size: writes beyond it
// fail instead.) It reports whether it evicted a pod.
func (k *Kubelet) localStorageEviction(ctx context.Context) bool {
	evicted := false
	for _, p := range k.runningPods() {
		for _, v := range p.Spec.Volumes {
			ed := v.EmptyDir
			if ed == nil || ed.SizeLimit == nil || ed.SizeLimit.IsZero() || ed.Medium == corev1.StorageMediumMemory {
				continue
			}
			used, err := diskUsage(k.volumeDir(p, pluginEmptyDir, v.Name))
			if err != nil {
				k.log.Debug("measuring an emptyDir", "pod", podRef(p, p.UID), "volume", v.Name, "err", err)
				continue
			}
			if resource.NewQuantity(used, resource.BinarySI).Cmp(*ed.SizeLimit) <= 0 {
				continue
			}
			if err := k.evict(ctx, p, fmt.Sprintf(emptyDirMessageFmt, v.Name, ed.SizeLimit.String())); err != nil {
				k.log.Warn("evicting pod", "pod", podRef(p, p.UID), "err", err)
				continue
			}
			evicted = true
			break
		}
	}
	return evicted
}

// diskUsage is what du counts below dir: allocated blocks, each inode
// once, not crossing into other file systems (a mount inside is not the
// volume's).
func diskUsage(dir string) (int64, error) {
	var root syscall.Stat_t
	if err := syscall.Lstat(dir, &root); err != nil {
		return 0, err
	}
	seen := map[uint64]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished while walking
		}
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) != nil {
			return nil
		}
		if st.Dev != root.Dev {
			return filepath.SkipDir
		}
		if seen[st.Ino] {
			return nil
		}
		seen[st.Ino] = true
		total += st.Blocks * 512
		return nil
	})
	return total, err
}
