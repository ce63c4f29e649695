package kubelet

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/storage"
)

// Mirror pods (pkg/kubelet/pod/mirror_client.go): each static pod shows in
// the API as a pod of the same name carrying the kubernetes.io/config.mirror
// annotation (the static pod's hash) and owned by the node. The kubelet
// writes the static pod's status to it, replaces it when a user deletes it
// or it is outdated, and deletes it when the static pod goes. The kubelet
// never runs a mirror pod itself.

func isMirrorPod(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[corev1.MirrorPodAnnotationKey]
	return ok
}

// isMirrorOf: same name and namespace, and the static pod's hash.
func isMirrorOf(mirror, static *corev1.Pod) bool {
	return mirror != nil && static != nil && mirror.Namespace == static.Namespace && mirror.Name == static.Name &&
		mirror.Annotations[corev1.MirrorPodAnnotationKey] == static.Annotations[annotationConfigHash]
}

// mirror returns the API's mirror pod of that name, as last seen.
func (k *Kubelet) mirror(ns, name string) *corev1.Pod {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.mirrors[ns+"/"+name]
}

// staticByName returns the static pod of that name that is not being
// stopped, or else any of that name.
func (k *Kubelet) staticByName(ns, name string) *corev1.Pod {
	k.mu.Lock()
	defer k.mu.Unlock()
	var found *corev1.Pod
	for uid := range k.static {
		if p := k.pods[uid]; p != nil && p.Namespace == ns && p.Name == name {
			if p.DeletionTimestamp == nil {
				return p
			}
			found = p
		}
	}
	return found
}

// handleMirrorEvent keeps the mirror cache and wakes the static pod the
// mirror belongs to.
func (k *Kubelet) handleMirrorEvent(ctx context.Context, deleted bool, pod *corev1.Pod) {
	key := pod.Namespace + "/" + pod.Name
	k.mu.Lock()
	if deleted {
		if cur := k.mirrors[key]; cur != nil && cur.UID == pod.UID {
			delete(k.mirrors, key)
		}
	} else {
		k.mirrors[key] = pod
	}
	k.mu.Unlock()
	if static := k.staticByName(pod.Namespace, pod.Name); static != nil {
		k.wake(ctx, static.UID)
	}
}

// syncMirror gives a running static pod its mirror pod: one a user
// deleted or that belongs to an older version of the manifest is deleted
// at once, and a missing one is created. One a user deleted comes back
// after mirrorRecreateDelay, not in the same instant: `kubectl delete`
// waits for the name to be gone from a list, and would wait forever if the
// new mirror were already there.
func (k *Kubelet) syncMirror(ctx context.Context, w *podWorker, pod *corev1.Pod) error {
	m := k.mirror(pod.Namespace, pod.Name)
	if m != nil && (m.DeletionTimestamp != nil || !isMirrorOf(m, pod)) {
		k.log.Info("deleting an outdated mirror pod", "pod", podRef(pod, pod.UID), "mirror", m.UID)
		if err := k.deleteMirror(ctx, m); err != nil {
			return err
		}
		if m.DeletionTimestamp != nil {
			w.mirrorNotBefore = time.Now().Add(mirrorRecreateDelay)
		}
		m = nil
	}
	if m != nil {
		return nil
	}
	if wait := time.Until(w.mirrorNotBefore); wait > 0 {
		w.retryAfter(wait)
		return nil
	}
	return k.createMirror(ctx, pod)
}

// mirrorRecreateDelay is how long a mirror pod a user deleted stays gone.
const mirrorRecreateDelay = time.Second

func (k *Kubelet) createMirror(ctx context.Context, pod *corev1.Pod) error {
	obj, err := k.cfg.Nodes.Get(ctx, "", k.cfg.NodeName)
	if err != nil {
		return fmt.Errorf("no mirror pod without the node: %w", err)
	}
	node := obj.(*corev1.Node)
	if node.DeletionTimestamp != nil {
		return nil
	}
	mirror := pod.DeepCopy()
	mirror.UID, mirror.ResourceVersion, mirror.DeletionTimestamp, mirror.DeletionGracePeriodSeconds = "", "", nil, nil
	// The Priority admission plugin computes these from the class, as
	// for any pod: the static pod's defaults must not contradict it.
	mirror.Spec.Priority, mirror.Spec.PreemptionPolicy = nil, nil
	mirror.Annotations[corev1.MirrorPodAnnotationKey] = pod.Annotations[annotationConfigHash]
	controller := true
	mirror.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID, Controller: &controller}}
	if st, ok := k.podStatus(pod.UID); ok {
		mirror.Status = *st.DeepCopy()
	}
	created, err := k.cfg.Pods.Create(ctx, pod.Namespace, mirror, false)
	switch {
	case apierrors.IsAlreadyExists(err):
		return nil // a watch event will bring it
	case err != nil:
		return fmt.Errorf("creating the mirror pod: %w", err)
	}
	k.mu.Lock()
	k.mirrors[pod.Namespace+"/"+pod.Name] = created.(*corev1.Pod)
	k.mu.Unlock()
	return nil
}

// deleteMirror deletes a mirror pod at once (grace 0, this very one).
func (k *Kubelet) deleteMirror(ctx context.Context, m *corev1.Pod) error {
	zero := int64(0)
	uid := m.UID
	_, _, err := k.cfg.Pods.Delete(ctx, m.Namespace, m.Name, &metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
	}, false)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting mirror pod: %w", err)
	}
	k.mu.Lock()
	if cur := k.mirrors[m.Namespace+"/"+m.Name]; cur != nil && cur.UID == uid {
		delete(k.mirrors, m.Namespace+"/"+m.Name)
	}
	k.mu.Unlock()
	return nil
}

// updateStaticStatus keeps a static pod's status in memory (there is no
// API object of its own) and writes it to its mirror pod.
func (k *Kubelet) updateStaticStatus(ctx context.Context, w *podWorker, pod *corev1.Pod, rp *runtimePod, terminal bool) error {
	st := k.generateStatus(w, pod, rp, terminal)
	k.setStatus(pod.UID, &st)
	k.mu.Lock()
	if cur := k.pods[pod.UID]; cur != nil {
		next := cur.DeepCopy()
		next.Status = *st.DeepCopy()
		k.pods[pod.UID] = next
	}
	k.mu.Unlock()
	m := k.mirror(pod.Namespace, pod.Name)
	if !isMirrorOf(m, pod) || apiequality.Semantic.DeepEqual(m.Status, st) {
		return nil
	}
	_, err := k.cfg.Pods.Update(ctx, m.Namespace, m.Name, func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*corev1.Pod)
		if !isMirrorOf(p, pod) {
			return nil, apierrors.NewConflict(corev1.Resource("pods"), pod.Name, fmt.Errorf("mirror pod was replaced"))
		}
		if apiequality.Semantic.DeepEqual(p.Status, st) {
			return nil, storage.ErrNoChange
		}
		p = p.DeepCopy()
		p.ResourceVersion = ""
		p.Status = st
		return p, nil
	}, registry.UpdateOptions{Status: true})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// removeStatic finishes a static pod that was stopped for good: its
// mirror goes, and the kubelet forgets it.
func (k *Kubelet) removeStatic(ctx context.Context, pod *corev1.Pod) error {
	if m := k.mirror(pod.Namespace, pod.Name); isMirrorOf(m, pod) {
		if err := k.deleteMirror(ctx, m); err != nil {
			return err
		}
	}
	k.forgetStatic(pod.UID)
	return nil
}

// runtimeUID is the UID the runtime knows a pod by: a mirror pod's
// containers are its static pod's.
func (k *Kubelet) runtimeUID(pod *corev1.Pod) types.UID {
	if !isMirrorPod(pod) {
		return pod.UID
	}
	if static := k.staticByName(pod.Namespace, pod.Name); isMirrorOf(pod, static) {
		return static.UID
	}
	return pod.UID
}
