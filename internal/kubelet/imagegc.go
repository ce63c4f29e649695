package kubelet

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/events"
)

// ImageGCPolicy is the kubelet's image garbage collection policy
// (pkg/kubelet/images/image_gc_manager.go): once the image file system
// is HighThresholdPercent full, unused images are removed, least recently
// used first, until it is LowThresholdPercent full.
type ImageGCPolicy struct {
	HighThresholdPercent int // 85 upstream; 100 turns GC off
	LowThresholdPercent  int // 80 upstream
	// MinAge keeps images first seen less than this long ago (2m).
	MinAge time.Duration
	// Period is how often GC runs (upstream's ImageGCPeriod, 5m).
	Period time.Duration
}

// Validate is upstream's check of the thresholds.
func (p ImageGCPolicy) Validate() error {
	switch {
	case p.HighThresholdPercent < 0 || p.HighThresholdPercent > 100:
		return fmt.Errorf("invalid HighThresholdPercent %d, must be in range [0-100]", p.HighThresholdPercent)
	case p.LowThresholdPercent < 0 || p.LowThresholdPercent > 100:
		return fmt.Errorf("invalid LowThresholdPercent %d, must be in range [0-100]", p.LowThresholdPercent)
	case p.LowThresholdPercent > p.HighThresholdPercent:
		return fmt.Errorf("LowThresholdPercent %d can not be higher than HighThresholdPercent %d", p.LowThresholdPercent, p.HighThresholdPercent)
	}
	return nil
}

// reasonFreeDiskSpaceFailed is the node event of a GC pass that could not
// free enough.
const reasonFreeDiskSpaceFailed = "FreeDiskSpaceFailed"

// imageRecords remembers, per image ID, when the kubelet first saw it and
// when a container last used it.
type imageRecords struct {
	mu     sync.Mutex
	images map[string]*imageRecord
}

type imageRecord struct {
	firstDetected, lastUsed time.Time
	size                    uint64
	names                   []string
}

func (k *Kubelet) imageGCLoop(ctx context.Context) {
	p := k.cfg.ImageGC
	if p.Period <= 0 || p.HighThresholdPercent >= 100 {
		return
	}
	t := time.NewTicker(p.Period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.garbageCollectImages(ctx); err != nil {
				k.log.Warn("image garbage collection", "err", err)
			}
		}
	}
}

// detectImages updates the records from the runtime's images and
// containers, and returns the images no container uses.
func (k *Kubelet) detectImages(ctx context.Context, now time.Time) ([]string, error) {
	imgs, err := k.cfg.Runtime.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	ctrs, err := k.cfg.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	inUse := map[string]bool{}
	for _, c := range ctrs.GetContainers() {
		inUse[c.GetImageRef()] = true
		// The images its image volumes mount are in use too (the
		// kubelet passes their IDs; handleImageVolumes upstream).
		st, err := k.cfg.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.GetId()})
		if err != nil {
			continue // gone meanwhile
		}
		for _, m := range st.GetStatus().GetMounts() {
			if img := m.GetImage(); img != nil {
				inUse[img.GetImage()] = true
				if ref := img.GetImageRef(); ref != "" {
					inUse[ref] = true
				}
			}
		}
	}
	r := &k.imageRecords
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.images == nil {
		r.images = map[string]*imageRecord{}
	}
	seen := map[string]bool{}
	var unused []string
	for _, img := range imgs.GetImages() {
		id := img.GetId()
		seen[id] = true
		rec, ok := r.images[id]
		if !ok {
			rec = &imageRecord{firstDetected: now}
			r.images[id] = rec
		}
		rec.size, rec.names = img.GetSize(), append(append([]string(nil), img.GetRepoTags()...), img.GetRepoDigests()...)
		if inUse[id] {
			rec.lastUsed = now
		} else if !img.GetPinned() {
			unused = append(unused, id)
		}
	}
	for id := range r.images {
		if !seen[id] {
			delete(r.images, id)
		}
	}
	return unused, nil
}

// garbageCollectImages is one GC pass (GarbageCollect upstream).
func (k *Kubelet) garbageCollectImages(ctx context.Context) error {
	now := k.cfg.Now()
	unused, err := k.detectImages(ctx, now)
	if err != nil {
		return err
	}
	capacity, available, err := k.imageFsSpace(ctx)
	if err != nil {
		return err
	}
	if capacity == 0 {
		return fmt.Errorf("invalid capacity 0 on image filesystem")
	}
	usagePercent := 100 - int(available*100/capacity)
	p := k.cfg.ImageGC
	if usagePercent < p.HighThresholdPercent {
		return nil
	}
	amountToFree := capacity*int64(100-p.LowThresholdPercent)/100 - available
	k.log.Info("image garbage collection: disk usage is over the high threshold", "usage", usagePercent,
		"highThreshold", p.HighThresholdPercent, "amountToFree", amountToFree, "lowThreshold", p.LowThresholdPercent)
	freed := k.freeImageSpace(ctx, unused, amountToFree, now)
	if freed < amountToFree {
		err := fmt.Errorf("Failed to garbage collect required amount of images. Attempted to free %d bytes, but only found %d bytes eligible to free.", amountToFree, freed) //nolint:staticcheck // upstream's message
		k.cfg.Recorder.Eventf(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName}}, "", events.Warning, reasonFreeDiskSpaceFailed, "%s", err.Error())
		return err
	}
	return nil
}

// freeImageSpace removes unused images, least recently used (then first
// detected) first, skipping those younger than MinAge, until amount bytes
// are freed; it returns what it freed.
func (k *Kubelet) freeImageSpace(ctx context.Context, unused []string, amount int64, now time.Time) int64 {
	type candidate struct {
		id string
		imageRecord
	}
	r := &k.imageRecords
	r.mu.Lock()
	var cands []candidate
	for _, id := range unused {
		if rec, ok := r.images[id]; ok && now.Sub(rec.firstDetected) >= k.cfg.ImageGC.MinAge {
			cands = append(cands, candidate{id: id, imageRecord: *rec})
		}
	}
	r.mu.Unlock()
	sort.SliceStable(cands, func(i, j int) bool {
		if !cands[i].lastUsed.Equal(cands[j].lastUsed) {
			return cands[i].lastUsed.Before(cands[j].lastUsed)
		}
		return cands[i].firstDetected.Before(cands[j].firstDetected)
	})
	var freed int64
	for _, c := range cands {
		if freed >= amount {
			break
		}
		k.log.Info("removing unused image", "id", c.id, "names", c.names, "size", c.size, "lastUsed", c.lastUsed)
		if _, err := k.cfg.Runtime.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: c.id}}); err != nil {
			k.log.Warn("removing unused image", "id", c.id, "err", err)
			continue
		}
		r.mu.Lock()
		delete(r.images, c.id)
		r.mu.Unlock()
		freed += int64(c.size)
	}
	return freed
}

// imageFsSpace is the capacity and available bytes of the image file
// system (what cAdvisor reports for the runtime's ImageFsInfo mountpoint).
func (k *Kubelet) imageFsSpace(ctx context.Context) (capacity, available int64, err error) {
	info, err := k.cfg.Runtime.ImageFsInfo(ctx, &runtimeapi.ImageFsInfoRequest{})
	if err != nil {
		return 0, 0, fmt.Errorf("image filesystem: %w", err)
	}
	fss := info.GetImageFilesystems()
	if len(fss) == 0 {
		return 0, 0, fmt.Errorf("the runtime reports no image filesystem")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(fss[0].GetFsId().GetMountpoint(), &st); err != nil {
		return 0, 0, fmt.Errorf("image filesystem %s: %w", fss[0].GetFsId().GetMountpoint(), err)
	}
	return int64(st.Blocks) * st.Bsize, int64(st.Bavail) * st.Bsize, nil
}

// nodeImages is the node's status.images: the largest first, at most 50,
// each with at most 5 names (digests first), as the kubelet's
// setters.Images.
func (k *Kubelet) nodeImages(ctx context.Context) []corev1.ContainerImage {
	const maxImages, maxNames = 50, 5
	imgs, err := k.cfg.Runtime.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		return nil
	}
	list := imgs.GetImages()
	sort.SliceStable(list, func(i, j int) bool { return list[i].GetSize() > list[j].GetSize() })
	var out []corev1.ContainerImage
	for _, img := range list {
		if len(out) == maxImages {
			break
		}
		names := append(append([]string(nil), img.GetRepoDigests()...), img.GetRepoTags()...)
		if len(names) > maxNames {
			names = names[:maxNames]
		}
		out = append(out, corev1.ContainerImage{Names: names, SizeBytes: int64(img.GetSize())})
	}
	return out
}
