package kubelet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/peapod/peapod/internal/events"
	podstrategy "github.com/peapod/peapod/internal/registry/pod"
	"github.com/peapod/peapod/internal/scheme"
)

// Static pods (pkg/kubelet/config/file.go): the kubelet runs every pod
// manifest in the manifest directory, whatever the API server says, and
// shows each in the API as a mirror pod.
const (
	annotationConfigHash   = "kubernetes.io/config.hash"
	annotationConfigSource = "kubernetes.io/config.source"
	annotationConfigSeen   = "kubernetes.io/config.seen"
	configSourceFile       = "file"
	// maxManifestSize is how much of a manifest is read (10 MiB).
	maxManifestSize = 10 << 20
	// defaultFileCheckFrequency is the kubelet's fileCheckFrequency.
	defaultFileCheckFrequency = 20 * time.Second
)

// readManifests reads every manifest of dir (every regular file not
// starting with a dot, as upstream; a subdirectory is not entered) and
// returns the pods they define by UID. A file that is not a valid pod is
// left out, reported in the log and as a Warning event on the node.
func (k *Kubelet) readManifests(ctx context.Context, dir string) map[types.UID]*corev1.Pod {
	pods := map[types.UID]*corev1.Pod{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			k.log.Warn("reading the static pod manifest directory", "path", dir, "err", err)
		}
		return pods
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	names := map[string]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if !e.Type().IsRegular() {
			if e.IsDir() {
				k.log.Debug("provided manifest path is a directory, not recursing into it", "path", path)
			}
			continue
		}
		pod, err := k.readManifest(path)
		if err != nil {
			k.log.Warn("could not process manifest file", "path", path, "err", err)
			k.nodeEvent(ctx, events.Warning, "FailedStaticPod", "Error reading static pod manifest %s: %v", path, err)
			continue
		}
		full := pod.Namespace + "/" + pod.Name
		if other, dup := names[full]; dup {
			msg := fmt.Sprintf("Error validating pod %s from %s due to duplicate pod name %q, ignoring", full, configSourceFile, pod.Name)
			k.log.Warn("pod failed validation due to duplicate pod name, ignoring", "path", path, "other", other)
			k.nodeEvent(ctx, events.Warning, "FailedValidation", "%s", msg)
			continue
		}
		names[full] = path
		pods[pod.UID] = pod
	}
	return pods
}

// readManifest decodes one manifest (YAML or JSON, one v1 Pod, strictly:
// an unknown field is an error rather than something silently ignored),
// applies the API's defaults and the file source's (the name suffixed
// with the node name, namespace default, bound to this node, a UID hashed
// from the content, node and path), and validates it as the API would.
func (k *Kubelet) readManifest(path string) (*corev1.Pod, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxManifestSize {
		return nil, fmt.Errorf("%s: manifest is larger than %d bytes", path, maxManifestSize)
	}
	data, err = yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: couldn't parse as pod(%v), please check config file", path, err)
	}
	s := scheme.New()
	obj, gvk, err := s.StrictJSON.Decode(data, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: couldn't parse as pod(%v), please check config file", path, err)
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("%s: couldn't parse as pod(invalid pod: kind %s), please check config file", path, gvk.Kind)
	}
	if pod.Name == "" {
		return nil, errors.New("invalid pod: name is needed for the pod")
	}
	if err := staticPodReferences(pod); err != nil {
		return nil, err
	}
	node := strings.ToLower(k.cfg.NodeName)
	pod.Name += "-" + node
	if pod.Namespace == "" {
		pod.Namespace = metav1.NamespaceDefault
	}
	pod.Spec.NodeName = k.cfg.NodeName
	pod.UID, pod.ResourceVersion, pod.Status = "", "", corev1.PodStatus{}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	// The API's defaults, but no service account: a static pod has none.
	pod.Annotations[corev1.MirrorPodAnnotationKey] = ""
	podstrategy.SetDefaults(pod)
	delete(pod.Annotations, corev1.MirrorPodAnnotationKey)
	if errs := podstrategy.ValidatePod(pod); len(errs) > 0 {
		return nil, fmt.Errorf("invalid pod: %v", errs.ToAggregate())
	}
	content, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	h := fnv.New128a()
	_, _ = h.Write(content)
	fmt.Fprintf(h, "host:%s", k.cfg.NodeName)
	abs, _ := filepath.Abs(path)
	fmt.Fprintf(h, "file:%s", abs)
	pod.UID = types.UID(hex.EncodeToString(h.Sum(nil)))
	pod.Annotations[annotationConfigHash] = string(pod.UID)
	pod.Annotations[annotationConfigSource] = configSourceFile
	// The file source's toleration of every NoExecute taint.
	tolerated := false
	for _, t := range pod.Spec.Tolerations {
		if t.Operator == corev1.TolerationOpExists && t.Key == "" && t.Effect == corev1.TaintEffectNoExecute {
			tolerated = true
		}
	}
	if !tolerated {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
	}
	pod.Status.Phase = corev1.PodPending
	return pod, nil
}

// staticPodReferences refuses a static pod that names API objects
// (PreventStaticPodAPIReferences): nothing in the API granted them.
func staticPodReferences(pod *corev1.Pod) error {
	refuse := func(what string) error { return fmt.Errorf("static pods may not reference %s", what) }
	if pod.Spec.ServiceAccountName != "" || pod.Spec.DeprecatedServiceAccount != "" {
		return refuse("serviceaccounts")
	}
	if len(pod.Spec.ImagePullSecrets) > 0 {
		return refuse("secrets")
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			return refuse("configmaps (via configmap volumes)")
		case v.Secret != nil:
			return refuse("secrets (via secret volumes)")
		case v.PersistentVolumeClaim != nil:
			return refuse("persistentvolumeclaims")
		case v.Ephemeral != nil:
			return refuse("persistentvolumeclaims (via ephemeral volumes)")
		case v.CSI != nil:
			return refuse("csidrivers (via CSI volumes)")
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				switch {
				case s.ConfigMap != nil:
					return refuse("configmaps (via projected volumes)")
				case s.Secret != nil:
					return refuse("secrets (via projected volumes)")
				case s.ServiceAccountToken != nil:
					return refuse("serviceaccounts (via projected volumes)")
				case s.ClusterTrustBundle != nil:
					return refuse("clustertrustbundles")
				case s.PodCertificate != nil:
					return refuse("podcertificates")
				}
			}
		}
	}
	if len(pod.Spec.ResourceClaims) > 0 {
		return refuse("resourceclaims")
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			for _, e := range c.EnvFrom {
				if e.ConfigMapRef != nil {
					return refuse("configmaps")
				}
				if e.SecretRef != nil {
					return refuse("secrets")
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if e.ValueFrom.ConfigMapKeyRef != nil {
					return refuse("configmaps")
				}
				if e.ValueFrom.SecretKeyRef != nil {
					return refuse("secrets")
				}
			}
		}
	}
	if len(pod.Spec.EphemeralContainers) > 0 {
		return errors.New("static pods do not support ephemeral containers")
	}
	return nil
}

// nodeEvent records an event about this node.
func (k *Kubelet) nodeEvent(ctx context.Context, eventType, reason, format string, args ...any) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName}}
	if obj, err := k.cfg.Nodes.Get(ctx, "", k.cfg.NodeName); err == nil {
		node = obj.(*corev1.Node)
	}
	k.cfg.Recorder.Eventf(node, "", eventType, reason, format, args...)
}

// watchManifests keeps the static pods in line with the manifest directory:
// on every change fsnotify reports, and every FileCheckFrequency.
func (k *Kubelet) watchManifests(ctx context.Context) {
	dir := k.cfg.ManifestDir
	ticker := time.NewTicker(k.cfg.FileCheckFrequency)
	defer ticker.Stop()
	var changes <-chan fsnotify.Event
	var errs <-chan error
	watch := func() *fsnotify.Watcher {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			k.log.Warn("watching the static pod manifests", "path", dir, "err", err)
			return nil
		}
		if err := w.Add(dir); err != nil {
			w.Close()
			if !errors.Is(err, os.ErrNotExist) {
				k.log.Warn("watching the static pod manifests", "path", dir, "err", err)
			}
			return nil
		}
		changes, errs = w.Events, w.Errors
		return w
	}
	w := watch()
	defer func() {
		if w != nil {
			w.Close()
		}
	}()
	// Changes come in bursts (an editor's write, rename, chmod): read
	// once they settle.
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			if !strings.HasPrefix(filepath.Base(ev.Name), ".") {
				settle = time.After(100 * time.Millisecond)
			}
			continue
		case err, ok := <-errs:
			if ok {
				k.log.Warn("watching the static pod manifests", "path", dir, "err", err)
			}
			continue
		case <-settle:
		case <-ticker.C:
			if w == nil {
				w = watch() // the directory may exist by now
			}
		}
		settle = nil
		k.setStaticPods(ctx, k.readManifests(ctx, dir))
	}
}

// setStaticPods makes pods the static pods: new ones start; ones whose
// manifest is gone (or changed, which changes the UID) are stopped
// gracefully, as a deleted pod is.
func (k *Kubelet) setStaticPods(ctx context.Context, pods map[types.UID]*corev1.Pod) {
	var wake []types.UID
	now := metav1.NewTime(k.cfg.Now())
	k.mu.Lock()
	for uid := range k.static {
		cur := k.pods[uid]
		if _, keep := pods[uid]; keep || cur == nil || cur.DeletionTimestamp != nil {
			continue
		}
		gone := cur.DeepCopy()
		gone.DeletionTimestamp = &now
		gone.DeletionGracePeriodSeconds = gone.Spec.TerminationGracePeriodSeconds
		k.pods[uid] = gone
		wake = append(wake, uid)
	}
	for uid, p := range pods {
		if _, known := k.static[uid]; known {
			continue
		}
		p.Annotations[annotationConfigSeen] = k.cfg.Now().UTC().Format(time.RFC3339Nano)
		k.static[uid] = true
		k.pods[uid] = p
		wake = append(wake, uid)
		k.log.Info("static pod added", "pod", podRef(p, uid))
	}
	k.mu.Unlock()
	for _, uid := range wake {
		// A removed manifest cuts short what the pod's sync waits on
		// (a postStart hook), as a deletion through the API does.
		k.interruptFor(uid, k.pod(uid))
		k.wake(ctx, uid)
	}
}

// isStatic reports whether uid is a static pod.
func (k *Kubelet) isStatic(uid types.UID) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.static[uid]
}

// staticPredecessor reports whether another static pod of the same name
// is still being stopped: the new one (its manifest was edited) waits for
// it, as upstream's pod workers do.
func (k *Kubelet) staticPredecessor(pod *corev1.Pod) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for uid := range k.static {
		if p := k.pods[uid]; uid != pod.UID && p != nil && p.Namespace == pod.Namespace && p.Name == pod.Name {
			return true
		}
	}
	return false
}

// forgetStatic drops a static pod that was stopped for good.
func (k *Kubelet) forgetStatic(uid types.UID) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.static, uid)
	delete(k.pods, uid)
}
