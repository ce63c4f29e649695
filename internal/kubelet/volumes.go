package kubelet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	resourcehelper "k8s.io/component-helpers/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/expansion"
	"github.com/peapod/peapod/internal/mount"
)

// Volumes live under the pod's directory as the kubelet lays them out,
// <pod dir>/volumes/<plugin>/<name>, and are bind-mounted into the
// containers that mount them. emptyDir is a directory (tmpfs for medium
// Memory); secret, downwardAPI and projected volumes are tmpfs, configMap
// volumes plain directories, all written by atomicWrite so a change to
// the object appears at once, within a sync, through the ..data symlink;
// hostPath is the host's path after its type check. configMap, secret,
// downwardAPI and projected mounts are read-only, as upstream.
const (
	pluginEmptyDir    = "kubernetes.io~empty-dir"
	pluginConfigMap   = "kubernetes.io~configmap"
	pluginSecret      = "kubernetes.io~secret"
	pluginDownwardAPI = "kubernetes.io~downward-api"
	pluginProjected   = "kubernetes.io~projected"
)

// defaultVolumeMode is the mode of the files of configMap, secret,
// downwardAPI and projected volumes unless the pod says otherwise.
const defaultVolumeMode = 0o644

func (k *Kubelet) volumeDir(pod *corev1.Pod, plugin, name string) string {
	return filepath.Join(k.podDir(pod.UID), "volumes", plugin, name)
}

// volumePath is where the volume name of pod is on the host and whether
// mounts of it are read-only whatever they ask.
func (k *Kubelet) volumePath(pod *corev1.Pod, name string) (string, bool, error) {
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.Name != name {
			continue
		}
		switch {
		case v.EmptyDir != nil:
			return k.volumeDir(pod, pluginEmptyDir, name), false, nil
		case v.HostPath != nil:
			return v.HostPath.Path, false, nil
		case v.ConfigMap != nil:
			return k.volumeDir(pod, pluginConfigMap, name), true, nil
		case v.Secret != nil:
			return k.volumeDir(pod, pluginSecret, name), true, nil
		case v.DownwardAPI != nil:
			return k.volumeDir(pod, pluginDownwardAPI, name), true, nil
		case v.Projected != nil:
			return k.volumeDir(pod, pluginProjected, name), true, nil
		case v.PersistentVolumeClaim != nil:
			path, err := k.claimPath(context.Background(), pod.Namespace, v.PersistentVolumeClaim.ClaimName)
			return path, v.PersistentVolumeClaim.ReadOnly, err
		}
		return "", false, fmt.Errorf("volume %q has a type peapod does not support", name)
	}
	return "", false, fmt.Errorf("cannot find volume %q to mount into container", name)
}

// setUpVolumes makes every volume of the pod ready (SetUp of each volume
// plugin), refreshing the files of configMap, secret, downwardAPI and
// projected volumes. A volume that cannot be set up is a FailedMount
// warning, and the pod waits for it.
func (k *Kubelet) setUpVolumes(ctx context.Context, pod *corev1.Pod) error {
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if err := k.setUpVolume(ctx, pod, v); err != nil {
			k.cfg.Recorder.Eventf(pod, "", events.Warning, "FailedMount", "MountVolume.SetUp failed for volume %q : %v", v.Name, err)
			errs = append(errs, fmt.Errorf("volume %q: %w", v.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (k *Kubelet) setUpVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) error {
	switch {
	case v.Image != nil:
		return nil // pulled before the containers that mount it start
	case v.PersistentVolumeClaim != nil:
		_, err := k.claimPath(ctx, pod.Namespace, v.PersistentVolumeClaim.ClaimName)
		return err
	case v.EmptyDir != nil:
		dir := k.volumeDir(pod, pluginEmptyDir, v.Name)
		if _, err := os.Lstat(dir); err == nil && (v.EmptyDir.Medium != corev1.StorageMediumMemory || mount.IsMountPoint(dir)) {
			return nil // set up at an earlier sync; its content is the pod's
		}
		if v.EmptyDir.Medium == corev1.StorageMediumMemory {
			if err := k.ensureTmpfs(dir, k.emptyDirMemorySize(pod, v.EmptyDir), 0o777); err != nil {
				return err
			}
		} else {
			// A sizeLimit is enforced by eviction (localstorage.go).
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return err
			}
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			return err
		}
		return setOwnership(dir, fsGroup(pod), false)
	case v.HostPath != nil:
		return checkHostPath(v.HostPath)
	case v.ConfigMap != nil:
		files, err := k.configMapFiles(ctx, pod, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, mode(v.ConfigMap.DefaultMode))
		if err != nil {
			return err
		}
		dir := k.volumeDir(pod, pluginConfigMap, v.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return atomicWrite(dir, files, fsGroup(pod))
	case v.Secret != nil:
		files, err := k.secretFiles(ctx, pod, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, mode(v.Secret.DefaultMode))
		if err != nil {
			return err
		}
		dir := k.volumeDir(pod, pluginSecret, v.Name)
		if err := k.ensureTmpfs(dir, 0, 0o755); err != nil {
			return err
		}
		return atomicWrite(dir, files, fsGroup(pod))
	case v.DownwardAPI != nil:
		files, err := k.downwardAPIFiles(pod, v.DownwardAPI.Items, mode(v.DownwardAPI.DefaultMode))
		if err != nil {
			return err
		}
		dir := k.volumeDir(pod, pluginDownwardAPI, v.Name)
		if err := k.ensureTmpfs(dir, 0, 0o755); err != nil {
			return err
		}
		return atomicWrite(dir, files, fsGroup(pod))
	case v.Projected != nil:
		files := map[string]volumeFile{}
		def := mode(v.Projected.DefaultMode)
		for _, src := range v.Projected.Sources {
			var part map[string]volumeFile
			var err error
			switch {
			case src.ConfigMap != nil:
				part, err = k.configMapFiles(ctx, pod, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, def)
			case src.Secret != nil:
				part, err = k.secretFiles(ctx, pod, src.Secret.Name, src.Secret.Items, src.Secret.Optional, def)
			case src.DownwardAPI != nil:
				part, err = k.downwardAPIFiles(pod, src.DownwardAPI.Items, def)
			case src.ServiceAccountToken != nil:
				part, err = k.tokenFiles(ctx, pod, src.ServiceAccountToken, def)
			}
			if err != nil {
				return err
			}
			maps.Copy(files, part)
		}
		dir := k.volumeDir(pod, pluginProjected, v.Name)
		if err := k.ensureTmpfs(dir, 0, 0o755); err != nil {
			return err
		}
		return atomicWrite(dir, files, fsGroup(pod))
	}
	return fmt.Errorf("unsupported volume type")
}

func mode(m *int32) os.FileMode {
	if m == nil {
		return defaultVolumeMode
	}
	return os.FileMode(*m)
}

// emptyDirMemorySize is the size of a memory-backed emptyDir
// (calculateEmptyDirMemorySize upstream): its sizeLimit, capped by the
// pod's memory limit, else the pod's limit, else the node's memory.
func (k *Kubelet) emptyDirMemorySize(pod *corev1.Pod, ed *corev1.EmptyDirVolumeSource) int64 {
	size := k.memoryCapacity()
	limits := resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{})
	if l, ok := limits[corev1.ResourceMemory]; ok && l.Value() > 0 && allHaveMemoryLimit(pod) {
		size = l.Value()
	}
	if ed.SizeLimit != nil && ed.SizeLimit.Value() > 0 && ed.SizeLimit.Value() < size {
		size = ed.SizeLimit.Value()
	}
	return size
}

func allHaveMemoryLimit(pod *corev1.Pod) bool {
	for _, c := range pod.Spec.Containers {
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			return false
		}
	}
	return true
}

// ensureTmpfs mounts a tmpfs of size bytes (0: the kernel's default) at
// dir unless one is there.
func (k *Kubelet) ensureTmpfs(dir string, size int64, perm os.FileMode) error {
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	if mount.IsMountPoint(dir) {
		return nil
	}
	opts := fmt.Sprintf("mode=%o", perm)
	if size > 0 {
		opts += ",size=" + strconv.FormatInt(size, 10)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mounting tmpfs at %s: %w", dir, err)
	}
	return nil
}

// checkHostPath checks a hostPath volume's type, creating what
// DirectoryOrCreate and FileOrCreate ask for (hostpath.go upstream).
func checkHostPath(hp *corev1.HostPathVolumeSource) error {
	t := corev1.HostPathUnset
	if hp.Type != nil {
		t = *hp.Type
	}
	p := hp.Path
	fi, err := os.Stat(p)
	switch t {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if errors.Is(err, fs.ErrNotExist) {
			return os.MkdirAll(p, 0o755)
		}
		if err == nil && !fi.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", p)
		}
		return err
	case corev1.HostPathFileOrCreate:
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		if err == nil && fi.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", p)
		}
		return err
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("hostPath type check failed: %s does not exist", p)
		}
		return err
	}
	m := fi.Mode()
	var ok bool
	var what string
	switch t {
	case corev1.HostPathDirectory:
		ok, what = m.IsDir(), "a directory"
	case corev1.HostPathFile:
		ok, what = m.IsRegular(), "a file"
	case corev1.HostPathSocket:
		ok, what = m&fs.ModeSocket != 0, "a socket file"
	case corev1.HostPathCharDev:
		ok, what = m&fs.ModeCharDevice != 0, "a character device"
	case corev1.HostPathBlockDev:
		ok, what = m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0, "a block device"
	}
	if !ok {
		return fmt.Errorf("hostPath type check failed: %s is not %s", p, what)
	}
	return nil
}

// volumeFile is one file of a configMap, secret, downwardAPI or projected
// volume.
type volumeFile struct {
	data []byte
	mode os.FileMode
}

// keyFiles turns an object's data into files: every key, or the items.
func keyFiles(data map[string][]byte, items []corev1.KeyToPath, def os.FileMode, missing func(key string) error) (map[string]volumeFile, error) {
	out := map[string]volumeFile{}
	if len(items) == 0 {
		for key, v := range data {
			out[key] = volumeFile{v, def}
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if err := missing(it.Key); err != nil {
				return nil, err
			}
			continue
		}
		m := def
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		out[it.Path] = volumeFile{v, m}
	}
	return out, nil
}

func (k *Kubelet) configMapFiles(ctx context.Context, pod *corev1.Pod, name string, items []corev1.KeyToPath, opt *bool, def os.FileMode) (map[string]volumeFile, error) {
	cm, err := k.configMap(ctx, pod.Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) && optional(opt) {
			return map[string]volumeFile{}, nil
		}
		return nil, err
	}
	data := map[string][]byte{}
	for key, v := range cm.Data {
		data[key] = []byte(v)
	}
	maps.Copy(data, cm.BinaryData)
	return keyFiles(data, items, def, func(key string) error {
		if optional(opt) {
			return nil
		}
		return fmt.Errorf("configmap references non-existent config key: %s", key)
	})
}

func (k *Kubelet) secretFiles(ctx context.Context, pod *corev1.Pod, name string, items []corev1.KeyToPath, opt *bool, def os.FileMode) (map[string]volumeFile, error) {
	sec, err := k.secret(ctx, pod.Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) && optional(opt) {
			return map[string]volumeFile{}, nil
		}
		return nil, err
	}
	return keyFiles(sec.Data, items, def, func(key string) error {
		if optional(opt) {
			return nil
		}
		return fmt.Errorf("references non-existent secret key: %s", key)
	})
}

// downwardAPIFiles renders the pod's fields and its containers'
// resources; labels and annotations as key="value" lines, sorted.
func (k *Kubelet) downwardAPIFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def os.FileMode) (map[string]volumeFile, error) {
	out := map[string]volumeFile{}
	for _, it := range items {
		var v string
		switch {
		case it.FieldRef != nil:
			switch it.FieldRef.FieldPath {
			case "metadata.labels":
				v = formatMap(pod.Labels)
			case "metadata.annotations":
				v = formatMap(pod.Annotations)
			default:
				var err error
				if v, err = k.fieldRef(pod, it.FieldRef.FieldPath, podIPsOf(pod)); err != nil {
					return nil, err
				}
			}
		case it.ResourceFieldRef != nil:
			c := containerNamed(pod, it.ResourceFieldRef.ContainerName)
			if c == nil {
				return nil, fmt.Errorf("container %q not found in the pod", it.ResourceFieldRef.ContainerName)
			}
			var err error
			if v, err = k.resourceFieldRef(pod, c, it.ResourceFieldRef); err != nil {
				return nil, err
			}
		}
		m := def
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		out[it.Path] = volumeFile{[]byte(v), m}
	}
	return out, nil
}

func podIPsOf(pod *corev1.Pod) []string {
	var out []string
	for _, ip := range pod.Status.PodIPs {
		out = append(out, ip.IP)
	}
	return out
}

func containerNamed(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// formatMap renders labels or annotations as fieldpath.FormatMap does.
func formatMap(m map[string]string) string {
	var b strings.Builder
	for i, key := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", key, m[key])
	}
	return b.String()
}

// dataLink is the symlink through which a volume's files are read, to
// the current directory of files, named tsPrefix plus a random suffix.
const (
	dataLink = "..data"
	tsPrefix = "..ts_"
)

// atomicWrite makes dir hold exactly files, so that a reader sees the old
// set or the new one and never a mix (AtomicWriter upstream): the files
// go into a new hidden timestamped directory, ..data is swapped to it by
// a rename, and each top-level name is a symlink through ..data. Nothing
// is written when the files did not change.
func atomicWrite(dir string, files map[string]volumeFile, gid *int64) error {
	if gid != nil {
		// What SetVolumeOwnership would make of the files: group
		// readable by the fsGroup.
		owned := make(map[string]volumeFile, len(files))
		for name, f := range files {
			owned[name] = volumeFile{f.data, f.mode | 0o440}
		}
		files = owned
	}
	old, _ := os.Readlink(filepath.Join(dir, dataLink))
	if old != "" && sameFiles(filepath.Join(dir, old), files) {
		return nil
	}
	// A name starting ".." never collides with a file (item paths may
	// not start with "..", and ".." is no valid key).
	final, err := os.MkdirTemp(dir, tsPrefix)
	if err != nil {
		return err
	}
	ts := filepath.Base(final)
	if err := os.Chmod(final, 0o755); err != nil {
		return err
	}
	for name, f := range files {
		p := filepath.Join(final, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	if err := setOwnership(final, gid, true); err != nil {
		return err
	}
	tmpLink := filepath.Join(dir, dataLink+"_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(ts, tmpLink); err != nil {
		return err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataLink)); err != nil {
		return err
	}
	top := map[string]bool{}
	for name := range files {
		top[strings.SplitN(name, "/", 2)[0]] = true
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); errors.Is(err, fs.ErrNotExist) {
			if err := os.Symlink(filepath.Join(dataLink, name), link); err != nil {
				return err
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, ".."):
			if name != ts && strings.HasPrefix(name, tsPrefix) {
				_ = os.RemoveAll(filepath.Join(dir, name))
			}
		case !top[name]:
			_ = os.Remove(filepath.Join(dir, name)) // a key that went away
		}
	}
	return nil
}

// sameFiles reports whether dir holds exactly files, with their modes.
func sameFiles(dir string, files map[string]volumeFile) bool {
	n := 0
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		f, ok := files[rel]
		if !ok {
			return fs.ErrNotExist
		}
		info, err := e.Info()
		if err != nil || info.Mode().Perm() != f.mode.Perm() {
			return fs.ErrInvalid
		}
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(data, f.data) {
			return fs.ErrInvalid
		}
		n++
		return nil
	})
	return err == nil && n == len(files)
}

// fsGroup is the pod's fsGroup, or nil.
func fsGroup(pod *corev1.Pod) *int64 {
	if sc := pod.Spec.SecurityContext; sc != nil {
		return sc.FSGroup
	}
	return nil
}

// setOwnership gives what is at and below p to the group gid (nil:
// nothing to do), directories setgid so new files inherit it, and
// group access (SetVolumeOwnership upstream): read-only content group
// readable, the rest group writable. It runs once per volume, when the
// volume is made (fsGroupChangePolicy Always and OnRootMismatch alike).
func setOwnership(p string, gid *int64, readOnly bool) error {
	if gid == nil {
		return nil
	}
	return filepath.WalkDir(p, func(q string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if err := os.Lchown(q, -1, int(*gid)); err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		m := info.Mode()
		mask := os.FileMode(0o660)
		if readOnly {
			mask = 0o440
		}
		if m.IsDir() {
			mask |= 0o110 | os.ModeSetgid
		}
		return os.Chmod(q, m.Perm()|mask|(m&os.ModeSetgid))
	})
}

// volumeMounts are the CRI mounts of a container's volumeMounts; subPath
// and subPathExpr (expanded with the container's variables) must stay
// inside the volume once symlinks are resolved, and are made as
// directories when missing.
func (k *Kubelet) volumeMounts(pod *corev1.Pod, c *corev1.Container, images map[string]string, vars map[string]string) ([]*runtimeapi.Mount, error) {
	var out []*runtimeapi.Mount
	for _, m := range c.VolumeMounts {
		sub := m.SubPath
		if m.SubPathExpr != "" {
			sub = expansion.Expand(m.SubPathExpr, vars)
		}
		if v := podVolume(pod, m.Name); v != nil && v.Image != nil {
			// The runtime mounts the image (pulled by
			// ensureImageVolumes) read-only, whatever the mount says,
			// and resolves the sub path inside it.
			if filepath.IsAbs(sub) || slices.Contains(strings.Split(sub, "/"), "..") {
				return nil, fmt.Errorf("subPath %q must be a relative path inside the volume", sub)
			}
			out = append(out, &runtimeapi.Mount{ContainerPath: m.MountPath, Readonly: true, ImageSubPath: sub,
				Image: &runtimeapi.ImageSpec{Image: images[m.Name], UserSpecifiedImage: v.Image.Reference}})
			continue
		}
		host, forceRO, err := k.volumePath(pod, m.Name)
		if err != nil {
			return nil, err
		}
		if sub != "" {
			if host, err = subPath(host, sub); err != nil {
				return nil, err
			}
		}
		mnt := &runtimeapi.Mount{ContainerPath: m.MountPath, HostPath: host, Readonly: m.ReadOnly || forceRO}
		if rro := m.RecursiveReadOnly; rro != nil && *rro != corev1.RecursiveReadOnlyDisabled {
			// IfPossible asks only where the runtime can; Enabled
			// asks always, and the runtime refuses where it cannot.
			mnt.RecursiveReadOnly = *rro == corev1.RecursiveReadOnlyEnabled || k.runtimeSupportsRRO(context.Background())
		}
		if p := m.MountPropagation; p != nil {
			switch *p {
			case corev1.MountPropagationHostToContainer:
				mnt.Propagation = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
			case corev1.MountPropagationBidirectional:
				mnt.Propagation = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
			}
		}
		out = append(out, mnt)
	}
	return out, nil
}

// subPath resolves sub inside the volume at base, refusing one that
// escapes it through a symlink (safe subpaths upstream).
func subPath(base, sub string) (string, error) {
	if filepath.IsAbs(sub) || slices.Contains(strings.Split(sub, "/"), "..") {
		return "", fmt.Errorf("subPath %q must be a relative path inside the volume", sub)
	}
	realBase, err := filepath.EvalSymlinks(base)
	if err != nil {
		return "", err
	}
	within := func(p string) error {
		if p != realBase && !strings.HasPrefix(p, realBase+"/") {
			return fmt.Errorf("subpath %q not within volume path %q", p, realBase)
		}
		return nil
	}
	// The part that exists is resolved and checked before anything is
	// made below it: a symlink must not lead the creation out.
	p := filepath.Join(base, sub)
	existing := p
	for {
		if _, err := os.Lstat(existing); err == nil || existing == base {
			break
		}
		existing = filepath.Dir(existing)
	}
	realExisting, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return "", err
	}
	if err := within(realExisting); err != nil {
		return "", err
	}
	if existing != p {
		rest, _ := filepath.Rel(existing, p)
		if err := os.MkdirAll(filepath.Join(realExisting, rest), 0o755); err != nil {
			return "", err
		}
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	return real, within(real)
}

// runtimeSupportsRRO reports whether the runtime's default handler makes
// mounts recursively read-only, as the kubelet learns it from Status.
func (k *Kubelet) runtimeSupportsRRO(ctx context.Context) bool {
	k.runtimeFeatures(ctx)
	return k.rro
}

// runtimeSupportsStrictGroups reports whether the runtime honours
// supplementalGroupsPolicy Strict (Status's features).
func (k *Kubelet) runtimeSupportsStrictGroups(ctx context.Context) bool {
	k.runtimeFeatures(ctx)
	return k.strictGroups
}

// runtimeFeatures asks the runtime's Status, once, what it supports.
func (k *Kubelet) runtimeFeatures(ctx context.Context) {
	k.rroOnce.Do(func() {
		st, err := k.cfg.Runtime.Status(ctx, &runtimeapi.StatusRequest{})
		if err != nil {
			k.log.Warn("runtime status: recursive read-only mounts and supplementalGroupsPolicy taken as unsupported", "err", err)
			return
		}
		for _, h := range st.GetRuntimeHandlers() {
			if h.GetName() == "" {
				k.rro = h.GetFeatures().GetRecursiveReadOnlyMounts()
			}
			rro, userns := h.GetFeatures().GetRecursiveReadOnlyMounts(), h.GetFeatures().GetUserNamespaces()
			k.handlers = append(k.handlers, corev1.NodeRuntimeHandler{Name: h.GetName(),
				Features: &corev1.NodeRuntimeHandlerFeatures{RecursiveReadOnlyMounts: &rro, UserNamespaces: &userns}})
		}
		k.strictGroups = st.GetFeatures().GetSupplementalGroupsPolicy()
	})
}

// claimPath is where the volume bound to a claim is on the node (its
// hostPath, made when it may be, or its local path), as the kubelet's
// volume manager resolves a persistentVolumeClaim volume.
func (k *Kubelet) claimPath(ctx context.Context, ns, claim string) (string, error) {
	pvc, err := getObject[*corev1.PersistentVolumeClaim](ctx, k.cfg.PersistentVolumeClaims, "persistentvolumeclaims", ns, claim)
	if err != nil {
		return "", fmt.Errorf("error processing PVC %s/%s: failed to fetch PVC from API server: %w", ns, claim, err)
	}
	switch {
	case pvc.DeletionTimestamp != nil:
		return "", fmt.Errorf("error processing PVC %s/%s: PVC is being deleted", ns, claim)
	case pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "":
		return "", fmt.Errorf("error processing PVC %s/%s: PVC is not bound", ns, claim)
	}
	pv, err := getObject[*corev1.PersistentVolume](ctx, k.cfg.PersistentVolumes, "persistentvolumes", "", pvc.Spec.VolumeName)
	if err != nil {
		return "", fmt.Errorf("error processing PVC %s/%s: %w", ns, claim, err)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.UID != pvc.UID {
		return "", fmt.Errorf("error processing PVC %s/%s: volume %s is not bound to it", ns, claim, pv.Name)
	}
	switch {
	case pv.Spec.HostPath != nil:
		path := pv.Spec.HostPath.Path
		if t := pv.Spec.HostPath.Type; t == nil || *t == corev1.HostPathDirectoryOrCreate {
			if err := os.MkdirAll(path, 0o755); err != nil {
				return "", err
			}
		}
		return path, nil
	case pv.Spec.Local != nil:
		if _, err := os.Stat(pv.Spec.Local.Path); err != nil {
			return "", fmt.Errorf("volume %s: %w", pv.Name, err)
		}
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("volume %s has a source peapod does not mount", pv.Name)
}
