// Package statefulset is the StatefulSet controller of
// kube-controller-manager (pkg/controller/statefulset): pods with stable
// identities <set>-<ordinal> (hostname, subdomain, the pod-name and
// pod-index labels), made in order and each only once the one before is
// Running and Ready (OrderedReady) or all at once (Parallel), removed
// highest ordinal first; RollingUpdate from the highest ordinal down to
// the partition, or OnDelete; the template's revisions as
// ControllerRevisions; and the status with the current and update
// revisions.
package statefulset

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/controller/history"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/registry"
)

// revisionHashLabel marks a revision's hash on ControllerRevisions.
const revisionHashLabel = "controller.kubernetes.io/hash"

var ordinalName = regexp.MustCompile(`^(.*)-([0-9]+)$`)

// Controller runs StatefulSets.
type Controller struct {
	StatefulSets, Revisions, Pods, Claims controller.Store
	Recorder                              *events.Recorder
	Log                                   *slog.Logger
	Now                                   func() time.Time

	loop *controller.Loop
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.loop = &controller.Loop{Name: "statefulset", Log: c.Log, Sync: c.sync}
	return c.loop.Run(ctx,
		controller.Source{Store: c.StatefulSets, Handle: c.loop.QueueObject},
		controller.Source{Store: c.Pods, Handle: c.loop.QueueController("StatefulSet")})
}

// ordinalOf is the ordinal of a pod of set (-1: not one of its names).
func ordinalOf(set, pod string) int {
	m := ordinalName.FindStringSubmatch(pod)
	if m == nil || m[1] != set {
		return -1
	}
	n, err := strconv.Atoi(m[2])
	if err != nil {
		return -1
	}
	return n
}

// sync is updateStatefulSet.
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name := controller.SplitKey(key)
	obj, err := c.StatefulSets.Get(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	set := obj.(*appsv1.StatefulSet).DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || sel.Empty() {
		return 0, nil
	}
	pods, err := c.claimPods(ctx, set, sel)
	if err != nil {
		return 0, err
	}
	if set.DeletionTimestamp != nil {
		return 0, nil
	}
	current, update, err := c.syncRevisions(ctx, set, pods)
	if err != nil {
		return 0, err
	}
	now := c.Now()
	r := &reconcile{c: c, set: set, current: current, update: update, now: now}
	requeue, err := r.run(ctx, pods)
	if err != nil {
		return 0, err
	}
	all, err := controller.ListPods(ctx, c.Pods, ns)
	if err != nil {
		return 0, err
	}
	var owned []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == set.UID {
			owned = append(owned, p)
		}
	}
	return requeue, c.updateStatus(ctx, set, current, update, owned, now)
}

// claimPods adopts and releases pods by selector and name.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector) ([]*corev1.Pod, error) {
	all, err := controller.ListPods(ctx, c.Pods, set.Namespace)
	if err != nil {
		return nil, err
	}
	var candidates []metav1.Object
	for _, p := range all {
		if ordinalOf(set.Name, p.Name) >= 0 {
			candidates = append(candidates, p)
		}
	}
	claimer := &controller.Claimer{Store: c.Pods, Owner: set, Selector: sel, Deleting: set.DeletionTimestamp != nil,
		Ref: controller.NewControllerRef(set, "apps/v1", "StatefulSet")}
	owned, err := claimer.Claim(ctx, candidates)
	out := make([]*corev1.Pod, len(owned))
	for i, m := range owned {
		out[i] = m.(*corev1.Pod)
	}
	return out, err
}

// reconcile is one pass of pod management.
type reconcile struct {
	c               *Controller
	set             *appsv1.StatefulSet
	current, update *appsv1.ControllerRevision
	now             time.Time
}

func (r *reconcile) start() int {
	if o := r.set.Spec.Ordinals; o != nil {
		return int(o.Start)
	}
	return 0
}

func (r *reconcile) replicas() int {
	if r.set.Spec.Replicas == nil {
		return 1
	}
	return int(*r.set.Spec.Replicas)
}

func (r *reconcile) healthy(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && controller.IsPodAvailable(p, r.set.Spec.MinReadySeconds, r.now)
}

// run creates, deletes and updates pods; with OrderedReady it stops at the
// first pod that is not there and healthy yet.
func (r *reconcile) run(ctx context.Context, pods []*corev1.Pod) (time.Duration, error) {
	ordered := r.set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	start, end := r.start(), r.start()+r.replicas()
	byOrdinal := map[int]*corev1.Pod{}
	var condemned []*corev1.Pod
	for _, p := range pods {
		o := ordinalOf(r.set.Name, p.Name)
		if o >= start && o < end {
			byOrdinal[o] = p
		} else {
			condemned = append(condemned, p)
		}
	}
	requeue := controller.NextAvailableCheck(pods, r.set.Spec.MinReadySeconds, r.now)
	for o := start; o < end; o++ {
		p := byOrdinal[o]
		switch {
		case p == nil:
			if err := r.create(ctx, o); err != nil {
				return 0, err
			}
			if ordered {
				return requeue, nil
			}
			continue
		case p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded:
			if p.DeletionTimestamp == nil {
				if err := r.delete(ctx, p); err != nil {
					return 0, err
				}
			}
			if ordered {
				return requeue, nil
			}
			continue
		}
		if ordered && !r.healthy(p) {
			return requeue, nil
		}
		if err := r.retainClaims(ctx, p, false); err != nil {
			return 0, err
		}
	}
	// Condemned pods go highest ordinal first, one at a time when
	// ordered.
	sort.Slice(condemned, func(i, j int) bool {
		return ordinalOf(r.set.Name, condemned[i].Name) > ordinalOf(r.set.Name, condemned[j].Name)
	})
	// Their claims first get the owners the retention policy wants for
	// scaled-down pods (the pod, for whenScaled: Delete).
	for _, p := range condemned {
		if err := r.retainClaims(ctx, p, true); err != nil {
			return 0, err
		}
	}
	for _, p := range condemned {
		if p.DeletionTimestamp != nil {
			if ordered {
				return requeue, nil
			}
			continue
		}
		if err := r.delete(ctx, p); err != nil {
			return 0, err
		}
		if ordered {
			return requeue, nil
		}
	}
	if r.set.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return requeue, nil
	}
	partition := 0
	if ru := r.set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	// From the highest ordinal down to the partition: the first pod not
	// of the update revision goes (and is made again at it).
	for o := end - 1; o >= start+partition; o-- {
		p := byOrdinal[o]
		if p == nil {
			continue
		}
		if p.Labels[appsv1.StatefulSetRevisionLabel] != r.update.Name && p.DeletionTimestamp == nil {
			return requeue, r.delete(ctx, p)
		}
		if !r.healthy(p) {
			return requeue, nil
		}
	}
	return requeue, nil
}

// create makes the pod of an ordinal, from the update revision (or, below
// the partition, the current one).
func (r *reconcile) create(ctx context.Context, ordinal int) error {
	rev := r.update
	if ru := r.set.Spec.UpdateStrategy.RollingUpdate; r.set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		ru != nil && ru.Partition != nil && ordinal < r.start()+int(*ru.Partition) {
		rev = r.current
	}
	if r.set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		rev = r.update
	}
	tmpl, err := history.Template(rev)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s-%d", r.set.Name, ordinal)
	p, err := controller.PodFromTemplate(tmpl, r.set, controller.NewControllerRef(r.set, "apps/v1", "StatefulSet"))
	if err != nil {
		return err
	}
	p.Name = name
	p.Labels[appsv1.StatefulSetPodNameLabel] = name
	p.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ordinal)
	p.Labels[appsv1.StatefulSetRevisionLabel] = rev.Name
	p.Spec.Hostname = name
	p.Spec.Subdomain = r.set.Spec.ServiceName
	if err := r.ensureClaims(ctx, ordinal, name); err != nil {
		return err
	}
	for _, ct := range r.set.Spec.VolumeClaimTemplates {
		vol := corev1.Volume{Name: ct.Name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
			ClaimName: claimName(ct.Name, r.set.Name, ordinal)}}}
		replaced := false
		for i := range p.Spec.Volumes {
			if p.Spec.Volumes[i].Name == ct.Name {
				p.Spec.Volumes[i], replaced = vol, true
			}
		}
		if !replaced {
			p.Spec.Volumes = append(p.Spec.Volumes, vol)
		}
	}
	_, err = r.c.Pods.Create(ctx, r.set.Namespace, p, false)
	if apierrors.IsAlreadyExists(err) {
		return nil // the old one is still going
	}
	if err != nil {
		r.c.Recorder.Eventf(r.set, "", events.Warning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", name, r.set.Name, err)
		return err
	}
	r.c.Recorder.Eventf(r.set, "", events.Normal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", name, r.set.Name)
	return nil
}

func (r *reconcile) delete(ctx context.Context, p *corev1.Pod) error {
	uid := p.UID
	_, _, err := r.c.Pods.Delete(ctx, p.Namespace, p.Name, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}, false)
	switch {
	case err == nil:
		r.c.Recorder.Eventf(r.set, "", events.Normal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", p.Name, r.set.Name)
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		return nil
	default:
		r.c.Recorder.Eventf(r.set, "", events.Warning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %v", p.Name, r.set.Name, err)
	}
	return err
}

func hashRevision(data []byte, collisionCount *int32) string {
	h := fnv.New32()
	_, _ = h.Write(data)
	if collisionCount != nil {
		_, _ = h.Write([]byte(strconv.Itoa(int(*collisionCount))))
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// syncRevisions returns the current revision (status.currentRevision, or
// the update one) and the update revision (that of the template: made, or
// an older one renumbered), dropping history beyond the limit.
func (c *Controller) syncRevisions(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod) (*appsv1.ControllerRevision, *appsv1.ControllerRevision, error) {
	data, err := history.PatchData(&set.Spec.Template)
	if err != nil {
		return nil, nil, err
	}
	hash := hashRevision(data, set.Status.CollisionCount)
	lbls := map[string]string{}
	for k, v := range set.Spec.Template.Labels {
		lbls[k] = v
	}
	lbls[revisionHashLabel] = hash
	update, owned, err := history.Sync(ctx, c.Revisions, history.Owner{Object: set, APIVersion: "apps/v1", Kind: "StatefulSet",
		Name: set.Name[:min(len(set.Name), 223)] + "-" + hash, Labels: lbls, Annotations: set.Annotations}, data)
	if errors.Is(err, history.ErrCollision) {
		st := set.Status.DeepCopy()
		if st.CollisionCount == nil {
			st.CollisionCount = new(int32)
		}
		*st.CollisionCount++
		return nil, nil, errors.Join(err, c.writeStatus(ctx, set, *st))
	}
	if err != nil {
		return nil, nil, err
	}
	current := update
	for _, cr := range owned {
		if cr.Name == set.Status.CurrentRevision {
			current = cr
		}
	}
	inUse := map[string]bool{current.Name: true, update.Name: true}
	for _, p := range pods {
		inUse[p.Labels[appsv1.StatefulSetRevisionLabel]] = true
	}
	err = history.Prune(ctx, c.Revisions, owned, func(cr *appsv1.ControllerRevision) bool { return inUse[cr.Name] }, set.Spec.RevisionHistoryLimit)
	return current, update, err
}

// updateStatus computes the replica counts and revisions
// (computeReplicaStatus) and writes them when they changed.
func (c *Controller) updateStatus(ctx context.Context, set *appsv1.StatefulSet, current, update *appsv1.ControllerRevision, pods []*corev1.Pod, now time.Time) error {
	st := appsv1.StatefulSetStatus{ObservedGeneration: set.Generation, CollisionCount: set.Status.CollisionCount, Conditions: set.Status.Conditions,
		CurrentRevision: current.Name, UpdateRevision: update.Name}
	for _, p := range pods {
		st.Replicas++
		if p.Status.Phase == corev1.PodRunning && controller.IsPodReady(p) {
			st.ReadyReplicas++
			if controller.IsPodAvailable(p, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		if p.DeletionTimestamp != nil {
			continue
		}
		rev := p.Labels[appsv1.StatefulSetRevisionLabel]
		if rev == current.Name {
			st.CurrentReplicas++
		}
		if rev == update.Name {
			st.UpdatedReplicas++
		}
	}
	want := int32(1)
	if set.Spec.Replicas != nil {
		want = *set.Spec.Replicas
	}
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		st.UpdatedReplicas == st.ReadyReplicas && st.ReadyReplicas == st.Replicas && st.Replicas == want {
		st.CurrentRevision, st.CurrentReplicas = st.UpdateRevision, st.UpdatedReplicas
	}
	if apiequality.Semantic.DeepEqual(st, set.Status) {
		return nil
	}
	return c.writeStatus(ctx, set, st)
}

func (c *Controller) writeStatus(ctx context.Context, set *appsv1.StatefulSet, st appsv1.StatefulSetStatus) error {
	return controller.UpdateStatus(ctx, c.StatefulSets, set.Namespace, set.Name, set.UID, func(o *appsv1.StatefulSet) { o.Status = st })
}

// claimName is the claim of a template for an ordinal:
// <template>-<set>-<ordinal>.
func claimName(template, set string, ordinal int) string {
	return fmt.Sprintf("%s-%s-%d", template, set, ordinal)
}

// ensureClaims creates the ordinal's missing claims from the templates
// (labels: the template's and the set's selector), owned by the set when
// its retention policy deletes them with it.
func (r *reconcile) ensureClaims(ctx context.Context, ordinal int, pod string) error {
	for _, ct := range r.set.Spec.VolumeClaimTemplates {
		name := claimName(ct.Name, r.set.Name, ordinal)
		obj, err := r.c.Claims.Get(ctx, r.set.Namespace, name)
		if err == nil {
			if obj.(*corev1.PersistentVolumeClaim).DeletionTimestamp != nil {
				return fmt.Errorf("pvc %s is being deleted", name)
			}
			continue
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: *ct.ObjectMeta.DeepCopy(), Spec: *ct.Spec.DeepCopy()}
		pvc.Name, pvc.Namespace, pvc.ResourceVersion, pvc.UID = name, r.set.Namespace, "", ""
		if pvc.Labels == nil {
			pvc.Labels = map[string]string{}
		}
		for k, v := range r.set.Spec.Selector.MatchLabels {
			pvc.Labels[k] = v
		}
		if p := r.set.Spec.PersistentVolumeClaimRetentionPolicy; p != nil && p.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			ref := controller.NewControllerRef(r.set, "apps/v1", "StatefulSet")
			ref.Controller = nil
			pvc.OwnerReferences = append(pvc.OwnerReferences, ref)
		}
		if _, err := r.c.Claims.Create(ctx, r.set.Namespace, pvc, false); err != nil && !apierrors.IsAlreadyExists(err) {
			r.c.Recorder.Eventf(r.set, "", events.Warning, "FailedCreate", "create Claim %s for Pod %s in StatefulSet %s failed error: %v", name, pod, r.set.Name, err)
			return err
		}
		r.c.Recorder.Eventf(r.set, "", events.Normal, "SuccessfulCreate", "create Claim %s Pod %s in StatefulSet %s success", name, pod, r.set.Name)
	}
	return nil
}

// retainClaims gives the claims of a pod's ordinal the owner references
// its set's persistentVolumeClaimRetentionPolicy wants, on every sync, so
// that a policy changed later reaches the claims made before
// (UpdatePodClaimForRetentionPolicy upstream).
func (r *reconcile) retainClaims(ctx context.Context, p *corev1.Pod, scaledDown bool) error {
	ordinal := ordinalOf(r.set.Name, p.Name)
	for _, ct := range r.set.Spec.VolumeClaimTemplates {
		name := claimName(ct.Name, r.set.Name, ordinal)
		obj, err := r.c.Claims.Get(ctx, r.set.Namespace, name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if _, changed := retentionOwners(obj.(*corev1.PersistentVolumeClaim).OwnerReferences, r.set, p, scaledDown); !changed {
			continue
		}
		_, err = r.c.Claims.Update(ctx, r.set.Namespace, name, func(cur runtime.Object) (runtime.Object, error) {
			o := cur.(*corev1.PersistentVolumeClaim).DeepCopy()
			refs, changed := retentionOwners(o.OwnerReferences, r.set, p, scaledDown)
			if !changed {
				return o, nil
			}
			o.OwnerReferences = refs
			return o, nil
		}, registry.UpdateOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// retentionOwners is the owner references a claim of the pod should have
// (updateClaimOwnerRefForSetAndPod upstream): the set when whenDeleted is
// Delete, unless the pod is scaled down and whenScaled is Delete, when the
// pod instead; nobody's for Retain. Other owners are kept. It reports
// whether that differs from refs.
func retentionOwners(refs []metav1.OwnerReference, set *appsv1.StatefulSet, pod *corev1.Pod, scaledDown bool) ([]metav1.OwnerReference, bool) {
	whenDeleted, whenScaled := appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if pol := set.Spec.PersistentVolumeClaimRetentionPolicy; pol != nil {
		whenDeleted, whenScaled = pol.WhenDeleted, pol.WhenScaled
	}
	byPod := scaledDown && whenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	bySet := whenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType && !byPod
	var out []metav1.OwnerReference
	hasSet, hasPod := false, false
	for _, ref := range refs {
		switch ref.UID {
		case set.UID:
			if !bySet {
				continue
			}
			hasSet = true
		case pod.UID:
			if !byPod {
				continue
			}
			hasPod = true
		}
		out = append(out, ref)
	}
	if bySet && !hasSet {
		ref := controller.NewControllerRef(set, "apps/v1", "StatefulSet")
		ref.Controller = nil
		out = append(out, ref)
	}
	if byPod && !hasPod {
		f := false
		out = append(out, metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID, BlockOwnerDeletion: &f})
	}
	return out, len(out) != len(refs) || (bySet && !hasSet) || (byPod && !hasPod)
}
