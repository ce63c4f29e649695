// Package volume is the persistent volume controller of
// kube-controller-manager (pkg/controller/volume/persistentvolume) with a
// node-local provisioner in the manner of rancher's local-path: it binds
// PersistentVolumeClaims to matching PersistentVolumes, provisions a
// directory under the data dir and a hostPath PV for a claim of its
// StorageClass once a scheduled pod uses it (WaitForFirstConsumer),
// reclaims released volumes (Delete removes the directory), and removes
// the pvc-protection and pv-protection finalizers once nothing uses them.
package volume

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/registry"
	storageapi "github.com/peapod/peapod/internal/registry/storage"
)

// Provisioner is the name of peapod's node-local provisioner.
const Provisioner = "peapod.io/local-path"

// Annotations of binding and provisioning.
const (
	annBindCompleted     = "pv.kubernetes.io/bind-completed"
	annBoundByController = "pv.kubernetes.io/bound-by-controller"
	annProvisionedBy     = storageapi.ProvisionedByAnnotation
)

// Controller binds, provisions and reclaims volumes.
type Controller struct {
	Claims, Volumes, Classes, Pods controller.Store
	Recorder                       *events.Recorder
	Log                            *slog.Logger
	// NodeName is the node provisioned volumes are on.
	NodeName string
	// Dir holds the provisioned volumes' directories.
	Dir string

	loop *controller.Loop
}

// Queue keys: claims and volumes.
const (
	claimKey  = "claim:"
	volumeKey = "volume:"
)

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.loop = &controller.Loop{Name: "persistentvolume", Log: c.Log, Sync: c.sync}
	return c.loop.Run(ctx,
		controller.Source{Store: c.Claims, Handle: func(e controller.Event) {
			pvc := e.Object.(*corev1.PersistentVolumeClaim)
			c.loop.Add(claimKey + controller.ObjectKey(pvc))
			if pvc.Spec.VolumeName != "" {
				c.loop.Add(volumeKey + pvc.Spec.VolumeName) // released when it goes
			}
		}},
		controller.Source{Store: c.Volumes, Handle: func(e controller.Event) {
			pv := e.Object.(*corev1.PersistentVolume)
			c.loop.Add(volumeKey + pv.Name)
			if ref := pv.Spec.ClaimRef; ref != nil {
				c.loop.Add(claimKey + controller.Key(ref.Namespace, ref.Name))
			}
		}},
		controller.Source{Store: c.Pods, Handle: func(e controller.Event) {
			p := e.Object.(*corev1.Pod)
			for _, v := range p.Spec.Volumes {
				if v.PersistentVolumeClaim != nil {
					c.loop.Add(claimKey + controller.Key(p.Namespace, v.PersistentVolumeClaim.ClaimName))
				}
			}
		}})
}

// sync handles a claim or a volume key.
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	if k, ok := strings.CutPrefix(key, claimKey); ok {
		return 0, c.syncClaim(ctx, k)
	}
	if k, ok := strings.CutPrefix(key, volumeKey); ok {
		return 0, c.syncVolume(ctx, k)
	}
	return 0, nil
}

// users are the pods of ns that use the claim and have not finished.
func (c *Controller) users(ctx context.Context, ns, claim string) ([]*corev1.Pod, error) {
	pods, err := controller.ListPods(ctx, c.Pods, ns)
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
				out = append(out, p)
				break
			}
		}
	}
	return out, nil
}

func (c *Controller) syncClaim(ctx context.Context, key string) error {
	ns, name := controller.SplitKey(key)
	obj, err := c.Claims.Get(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	pvc := obj.(*corev1.PersistentVolumeClaim)
	if pvc.DeletionTimestamp != nil {
		// pvc-protection: the claim goes once no pod uses it.
		users, err := c.users(ctx, ns, name)
		if err != nil || len(users) > 0 {
			return err
		}
		return removeFinalizer(ctx, c.Claims, ns, name, pvc.UID, storageapi.PVCProtectionFinalizer)
	}
	if pvc.Status.Phase == corev1.ClaimBound {
		return c.expand(ctx, pvc)
	}
	className := ""
	if pvc.Spec.StorageClassName != nil {
		className = *pvc.Spec.StorageClassName
	}
	var class *storagev1.StorageClass
	if className != "" {
		cobj, err := c.Classes.Get(ctx, "", className)
		switch {
		case err == nil:
			class = cobj.(*storagev1.StorageClass)
		case !apierrors.IsNotFound(err):
			return err
		}
	}
	// A WaitForFirstConsumer claim binds (to a volume made beforehand
	// as to a provisioned one) only once a pod using it is scheduled,
	// unless claim or volume names the other (pre-bound).
	delay := false
	if class != nil && class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
		scheduled, err := c.scheduledUser(ctx, ns, name)
		if err != nil {
			return err
		}
		delay = !scheduled
	}
	if pv, err := c.findVolume(ctx, pvc, delay); err != nil || pv != nil {
		if err != nil {
			return err
		}
		return c.bind(ctx, pvc, pv)
	}
	if className == "" {
		return nil // waits for a matching volume
	}
	if class == nil {
		c.Recorder.Eventf(pvc, "", events.Warning, "ProvisioningFailed", "storageclass.storage.k8s.io %q not found", className)
		return nil
	}
	if delay {
		c.Recorder.Eventf(pvc, "", events.Normal, "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
		return nil
	}
	if class.Provisioner != Provisioner {
		c.Recorder.Eventf(pvc, "", events.Normal, "ExternalProvisioning",
			"Waiting for a volume to be created either by the external provisioner '%s' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.", class.Provisioner)
		return nil
	}
	pv, err := c.provision(ctx, pvc, class)
	if err != nil {
		c.Recorder.Eventf(pvc, "", events.Warning, "ProvisioningFailed", "failed to provision volume with StorageClass %q: %v", className, err)
		return err
	}
	c.Recorder.Eventf(pvc, "", events.Normal, "ProvisioningSucceeded", "Successfully provisioned volume %s", pv.Name)
	return c.bind(ctx, pvc, pv)
}

// scheduledUser says whether a pod using the claim is on a node.
func (c *Controller) scheduledUser(ctx context.Context, ns, claim string) (bool, error) {
	users, err := c.users(ctx, ns, claim)
	if err != nil {
		return false, err
	}
	for _, p := range users {
		if p.Spec.NodeName != "" {
			return true, nil
		}
	}
	return false, nil
}

// findVolume is a volume the claim may bind: the one bound or pre-bound
// to it, the one it names, or (unless delay, a claim waiting for its first
// consumer) an Available one of its class with room and the access modes
// it asks.
func (c *Controller) findVolume(ctx context.Context, pvc *corev1.PersistentVolumeClaim, delay bool) (*corev1.PersistentVolume, error) {
	list, err := c.Volumes.List(ctx, "", registry.ListOptions{})
	if err != nil {
		return nil, err
	}
	want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	class := ""
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	for i := range list.(*corev1.PersistentVolumeList).Items {
		pv := &list.(*corev1.PersistentVolumeList).Items[i]
		if pv.DeletionTimestamp != nil {
			continue
		}
		if ref := pv.Spec.ClaimRef; ref != nil {
			if ref.Namespace == pvc.Namespace && ref.Name == pvc.Name && (ref.UID == "" || ref.UID == pvc.UID) {
				return pv, nil // bound to it, or pre-bound
			}
			continue
		}
		if pvc.Spec.VolumeName != "" && pv.Name != pvc.Spec.VolumeName {
			continue
		}
		if pvc.Spec.VolumeName == "" && delay {
			continue
		}
		capacity := pv.Spec.Capacity[corev1.ResourceStorage]
		if pv.Spec.StorageClassName != class || capacity.Cmp(want) < 0 || !hasModes(pv.Spec.AccessModes, pvc.Spec.AccessModes) {
			continue
		}
		return pv, nil
	}
	return nil, nil
}

func hasModes(have, want []corev1.PersistentVolumeAccessMode) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// provision makes the directory and the hostPath volume of a claim.
func (c *Controller) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim, class *storagev1.StorageClass) (*corev1.PersistentVolume, error) {
	name := "pvc-" + string(pvc.UID)
	dir := filepath.Join(c.Dir, name+"_"+pvc.Namespace+"_"+pvc.Name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return nil, err
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annProvisionedBy: Provisioner}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes: pvc.Spec.AccessModes, PersistentVolumeReclaimPolicy: reclaim, StorageClassName: class.Name,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &dirOrCreate}},
			ClaimRef:               &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{c.NodeName}}}}}}},
		},
	}
	out, err := c.Volumes.Create(ctx, "", pv, false)
	if apierrors.IsAlreadyExists(err) {
		got, gerr := c.Volumes.Get(ctx, "", name)
		if gerr != nil {
			return nil, gerr
		}
		return got.(*corev1.PersistentVolume), nil
	}
	if err != nil {
		return nil, err
	}
	return out.(*corev1.PersistentVolume), nil
}

// bind ties claim and volume together: the volume's claimRef and Bound
// phase, the claim's volumeName, annotations and Bound status.
func (c *Controller) bind(ctx context.Context, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) error {
	ref := &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion}
	if _, err := c.Volumes.Update(ctx, "", pv.Name, func(cur runtime.Object) (runtime.Object, error) {
		o := cur.(*corev1.PersistentVolume).DeepCopy()
		if o.Spec.ClaimRef != nil && o.Spec.ClaimRef.UID != "" && o.Spec.ClaimRef.UID != pvc.UID {
			return nil, fmt.Errorf("volume %s was bound to another claim meanwhile", pv.Name)
		}
		o.Spec.ClaimRef = ref
		return o, nil
	}, registry.UpdateOptions{}); err != nil {
		return err
	}
	if err := setVolumePhase(ctx, c.Volumes, pv.Name, corev1.VolumeBound); err != nil {
		return err
	}
	_, err := c.Claims.Update(ctx, pvc.Namespace, pvc.Name, func(cur runtime.Object) (runtime.Object, error) {
		o := cur.(*corev1.PersistentVolumeClaim).DeepCopy()
		if o.UID != pvc.UID {
			return nil, apierrors.NewNotFound(c.Claims.Resource().GroupResource(), pvc.Name)
		}
		o.Spec.VolumeName = pv.Name
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		o.Annotations[annBindCompleted] = "yes"
		o.Annotations[annBoundByController] = "yes"
		return o, nil
	}, registry.UpdateOptions{})
	if err != nil {
		return err
	}
	_, err = c.Claims.Update(ctx, pvc.Namespace, pvc.Name, func(cur runtime.Object) (runtime.Object, error) {
		o := cur.(*corev1.PersistentVolumeClaim).DeepCopy()
		o.Status.Phase = corev1.ClaimBound
		o.Status.AccessModes = pv.Spec.AccessModes
		o.Status.Capacity = pv.Spec.Capacity
		return o, nil
	}, registry.UpdateOptions{Status: true})
	return err
}

// expand grows a bound claim's volume to what the claim now requests,
// as the external resizer and kubelet do between them: the volume's
// capacity, then the claim's. A provisioned volume is a directory, whose
// size is only recorded; admission lets only those grow
// (ClaimStrategy.AdmitUpdate).
func (c *Controller) expand(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	have, ok := pvc.Status.Capacity[corev1.ResourceStorage]
	if !ok || want.Cmp(have) <= 0 || pvc.Spec.VolumeName == "" {
		return nil
	}
	obj, err := c.Volumes.Get(ctx, "", pvc.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	pv := obj.(*corev1.PersistentVolume)
	if pv.Annotations[annProvisionedBy] != Provisioner || pv.Spec.HostPath == nil {
		c.Recorder.Eventf(pvc, "", events.Warning, "VolumeResizeFailed", "peapod can only grow the volumes its provisioner %s made; volume %s was not", Provisioner, pv.Name)
		return nil
	}
	c.Recorder.Eventf(pvc, "", events.Normal, "Resizing", "External resizer is resizing volume %s", pv.Name)
	if _, err := c.Volumes.Update(ctx, "", pv.Name, func(cur runtime.Object) (runtime.Object, error) {
		o := cur.(*corev1.PersistentVolume).DeepCopy()
		if q := o.Spec.Capacity[corev1.ResourceStorage]; q.Cmp(want) >= 0 {
			return o, nil
		}
		o.Spec.Capacity[corev1.ResourceStorage] = want
		return o, nil
	}, registry.UpdateOptions{}); err != nil {
		return err
	}
	if _, err := c.Claims.Update(ctx, pvc.Namespace, pvc.Name, func(cur runtime.Object) (runtime.Object, error) {
		o := cur.(*corev1.PersistentVolumeClaim).DeepCopy()
		if o.UID != pvc.UID {
			return nil, apierrors.NewNotFound(c.Claims.Resource().GroupResource(), pvc.Name)
		}
		if o.Status.Capacity == nil {
			o.Status.Capacity = corev1.ResourceList{}
		}
		o.Status.Capacity[corev1.ResourceStorage] = want
		return o, nil
	}, registry.UpdateOptions{Status: true}); err != nil {
		return err
	}
	c.Recorder.Eventf(pvc, "", events.Normal, "VolumeResizeSuccessful", "Resize volume succeeded")
	return nil
}

func setVolumePhase(ctx context.Context, st controller.Store, name string, phase corev1.PersistentVolumePhase) error {
	_, err := st.Update(ctx, "", name, func(cur runtime.Object) (runtime.Object, error) {
		o := cur.(*corev1.PersistentVolume).DeepCopy()
		o.Status.Phase = phase
		return o, nil
	}, registry.UpdateOptions{Status: true})
	return err
}

// syncVolume makes an unclaimed volume Available, and reclaims one whose
// claim is gone: Delete removes it (and a provisioned directory), Retain
// leaves it Released.
func (c *Controller) syncVolume(ctx context.Context, name string) error {
	obj, err := c.Volumes.Get(ctx, "", name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	pv := obj.(*corev1.PersistentVolume)
	if pv.DeletionTimestamp != nil {
		if pv.Status.Phase != corev1.VolumeBound {
			return removeFinalizer(ctx, c.Volumes, "", name, pv.UID, storageapi.PVProtectionFinalizer)
		}
		return nil
	}
	ref := pv.Spec.ClaimRef
	if ref == nil {
		if pv.Status.Phase != corev1.VolumeAvailable {
			return setVolumePhase(ctx, c.Volumes, name, corev1.VolumeAvailable)
		}
		return nil
	}
	cobj, err := c.Claims.Get(ctx, ref.Namespace, ref.Name)
	switch {
	case err == nil && (ref.UID == "" || cobj.(*corev1.PersistentVolumeClaim).UID == ref.UID):
		return nil // claimed
	case err != nil && !apierrors.IsNotFound(err):
		return err
	}
	// Released.
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		if pv.Status.Phase != corev1.VolumeReleased {
			return setVolumePhase(ctx, c.Volumes, name, corev1.VolumeReleased)
		}
		return nil
	}
	if pv.Annotations[annProvisionedBy] == Provisioner && pv.Spec.HostPath != nil {
		dir := pv.Spec.HostPath.Path
		if filepath.Dir(dir) != filepath.Clean(c.Dir) {
			return fmt.Errorf("volume %s: %s is not under %s; not removing it", name, dir, c.Dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := setVolumePhase(ctx, c.Volumes, name, corev1.VolumeReleased); err != nil {
		return err
	}
	if err := removeFinalizer(ctx, c.Volumes, "", name, pv.UID, storageapi.PVProtectionFinalizer); err != nil {
		return err
	}
	_, _, err = c.Volumes.Delete(ctx, "", name, nil, false)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func removeFinalizer(ctx context.Context, st controller.Store, ns, name string, uid types.UID, finalizer string) error {
	_, err := st.Update(ctx, ns, name, func(cur runtime.Object) (runtime.Object, error) {
		o := cur.DeepCopyObject()
		m := o.(metav1.Object)
		if m.GetUID() != uid {
			return nil, apierrors.NewNotFound(st.Resource().GroupResource(), name)
		}
		var kept []string
		for _, f := range m.GetFinalizers() {
			if f != finalizer {
				kept = append(kept, f)
			}
		}
		m.SetFinalizers(kept)
		return o, nil
	}, registry.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
