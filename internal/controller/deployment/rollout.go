package deployment

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/registry"
)

// rollout is one sync of one Deployment.
type rollout struct {
	c   *Controller
	d   *appsv1.Deployment
	rss []*appsv1.ReplicaSet // the ReplicaSets it owns
	now time.Time
	// requeue asks to look again then (the progress deadline).
	requeue time.Duration
}

func (r *rollout) metaNow() metav1.Time { return metav1.NewTime(r.now.Truncate(time.Second)) }

// replicaSets finds the new ReplicaSet (made when create says so) and the
// old ones, and keeps the revisions in step
// (getAllReplicaSetsAndSyncRevision).
func (r *rollout) replicaSets(ctx context.Context, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	newRS := findNewReplicaSet(r.d, r.rss)
	var old []*appsv1.ReplicaSet
	for _, rs := range r.rss {
		if newRS == nil || rs.UID != newRS.UID {
			old = append(old, rs)
		}
	}
	newRevision := strconv.FormatInt(maxRevision(old)+1, 10)
	if newRS != nil {
		rs, err := r.syncNewReplicaSet(ctx, newRS, newRevision)
		return rs, old, err
	}
	if !create {
		return nil, old, nil
	}
	rs, err := r.createNewReplicaSet(ctx, old, newRevision)
	return rs, old, err
}

// syncNewReplicaSet brings an existing new ReplicaSet's annotations and
// minReadySeconds up to date, and the Deployment's revision with it.
func (r *rollout) syncNewReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet, newRevision string) (*appsv1.ReplicaSet, error) {
	cp := rs.DeepCopy()
	changed := setNewReplicaSetAnnotations(r.d, cp, newRevision, true)
	if changed || cp.Spec.MinReadySeconds != r.d.Spec.MinReadySeconds {
		cp.Spec.MinReadySeconds = r.d.Spec.MinReadySeconds
		out, err := r.updateReplicaSet(ctx, cp)
		if err != nil {
			return nil, err
		}
		cp = out
	}
	needsUpdate := r.setRevision(cp.Annotations[RevisionAnnotation])
	if hasProgressDeadline(r.d) && getCondition(&r.d.Status, appsv1.DeploymentProgressing) == nil {
		setCondition(&r.d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonFoundNewRS,
			fmt.Sprintf("Found new replica set %q", cp.Name), r.metaNow()))
		needsUpdate = true
	}
	if needsUpdate {
		if err := r.c.writeStatus(ctx, r.d); err != nil {
			return nil, err
		}
	}
	r.replace(cp)
	return cp, nil
}

// createNewReplicaSet creates the ReplicaSet of the Deployment's template
// (getNewReplicaSet): named after the template's hash, labelled and
// selected by it, sized by the strategy.
func (r *rollout) createNewReplicaSet(ctx context.Context, old []*appsv1.ReplicaSet, newRevision string) (*appsv1.ReplicaSet, error) {
	d := r.d
	tmpl := *d.Spec.Template.DeepCopy()
	hash := computeHash(&tmpl, d.Status.CollisionCount)
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[HashLabel] = hash
	sel := d.Spec.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[HashLabel] = hash
	zero := int32(0)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: replicaSetName(d.Name, hash), Namespace: d.Namespace, Labels: copyLabels(tmpl.Labels),
			OwnerReferences: []metav1.OwnerReference{controller.NewControllerRef(d, "apps/v1", "Deployment")}},
		Spec: appsv1.ReplicaSetSpec{Replicas: &zero, MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: tmpl},
	}
	n := newReplicaSetReplicas(d, append(append([]*appsv1.ReplicaSet(nil), old...), rs), rs)
	rs.Spec.Replicas = &n
	setNewReplicaSetAnnotations(d, rs, newRevision, false)
	created, err := r.c.ReplicaSets.Create(ctx, d.Namespace, rs, false)
	existed := false
	switch {
	case apierrors.IsAlreadyExists(err):
		got, gerr := r.c.ReplicaSets.Get(ctx, d.Namespace, rs.Name)
		if gerr != nil {
			return nil, gerr
		}
		cur := got.(*appsv1.ReplicaSet)
		if ref := metav1.GetControllerOf(cur); ref != nil && ref.UID == d.UID && equalIgnoreHash(&d.Spec.Template, &cur.Spec.Template) {
			created, err, existed = cur, nil, true
			break
		}
		// Another template hashed to this name: count the collision
		// and try again with a new hash.
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = new(int32)
		}
		*d.Status.CollisionCount++
		if werr := r.c.writeStatus(ctx, d); werr != nil {
			return nil, werr
		}
		return nil, errCollision
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		if hasProgressDeadline(d) {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonFailedRSCreate, msg, r.metaNow()))
			_ = r.c.writeStatus(ctx, d)
		}
		r.c.Recorder.Eventf(d, "", events.Warning, reasonFailedRSCreate, "%s", msg)
		return nil, err
	}
	newRS := created.(*appsv1.ReplicaSet)
	if !existed && n > 0 {
		r.c.Recorder.Eventf(d, "", events.Normal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", newRS.Name, n)
	}
	needsUpdate := r.setRevision(newRevision)
	if !existed && hasProgressDeadline(d) {
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewRSCreated,
			fmt.Sprintf("Created new replica set %q", newRS.Name), r.metaNow()))
		needsUpdate = true
	}
	if needsUpdate {
		if err := r.c.writeStatus(ctx, d); err != nil {
			return nil, err
		}
	}
	r.rss = append(r.rss, newRS)
	return newRS, nil
}

// replicaSetName is <deployment>-<hash>, the Deployment's name cut so the
// whole stays a valid name.
func replicaSetName(d, hash string) string {
	const maxLen = 253
	if len(d)+1+len(hash) > maxLen {
		d = d[:maxLen-1-len(hash)]
	}
	return d + "-" + hash
}

func copyLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// setRevision sets the Deployment's revision annotation; it reports a
// change.
func (r *rollout) setRevision(rev string) bool {
	if r.d.Annotations == nil {
		r.d.Annotations = map[string]string{}
	}
	if r.d.Annotations[RevisionAnnotation] == rev {
		return false
	}
	r.d.Annotations[RevisionAnnotation] = rev
	return true
}

// newReplicaSetReplicas is the new ReplicaSet's size for the next step
// (NewRSNewReplicas): all replicas for Recreate; for RollingUpdate, as many
// more as maxSurge allows.
func newReplicaSetReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	if !isRollingUpdate(d) {
		return replicas(d)
	}
	cur := specReplicas(all)
	maxTotal := replicas(d) + maxSurge(d)
	if cur >= maxTotal {
		return rsReplicas(newRS)
	}
	up := min(maxTotal-cur, max(replicas(d)-rsReplicas(newRS), 0))
	return rsReplicas(newRS) + up
}

// replace puts an updated ReplicaSet in place of its old copy.
func (r *rollout) replace(rs *appsv1.ReplicaSet) {
	for i := range r.rss {
		if r.rss[i].UID == rs.UID {
			r.rss[i] = rs
		}
	}
}

func (r *rollout) updateReplicaSet(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	out, err := r.c.ReplicaSets.Update(ctx, rs.Namespace, rs.Name, func(cur runtime.Object) (runtime.Object, error) {
		o := cur.(*appsv1.ReplicaSet).DeepCopy()
		if o.UID != rs.UID {
			return nil, apierrors.NewNotFound(r.c.ReplicaSets.Resource().GroupResource(), rs.Name)
		}
		o.Spec.Replicas, o.Spec.MinReadySeconds, o.Annotations = rs.Spec.Replicas, rs.Spec.MinReadySeconds, rs.Annotations
		return o, nil
	}, registry.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return out.(*appsv1.ReplicaSet), nil
}

// scale sets a ReplicaSet's size and its replica annotations, with the
// ScalingReplicaSet event (scaleReplicaSetAndRecordEvent).
func (r *rollout) scale(ctx context.Context, rs *appsv1.ReplicaSet, n int32) (bool, *appsv1.ReplicaSet, error) {
	if rsReplicas(rs) == n {
		return false, rs, nil
	}
	op := "down"
	if rsReplicas(rs) < n {
		op = "up"
	}
	changed, out, err := r.setSize(ctx, rs, n)
	if err == nil && changed {
		r.c.Recorder.Eventf(r.d, "", events.Normal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", op, rs.Name, rsReplicas(rs), n)
	}
	return changed, out, err
}

// setSize writes the size and the replica annotations when either
// changed.
func (r *rollout) setSize(ctx context.Context, rs *appsv1.ReplicaSet, n int32) (bool, *appsv1.ReplicaSet, error) {
	cp := rs.DeepCopy()
	annotated := setReplicasAnnotations(cp, replicas(r.d), replicas(r.d)+maxSurge(r.d))
	if rsReplicas(rs) == n && !annotated {
		return false, rs, nil
	}
	cp.Spec.Replicas = &n
	out, err := r.updateReplicaSet(ctx, cp)
	if err != nil {
		return false, nil, err
	}
	r.replace(out)
	return rsReplicas(rs) != n, out, nil
}

// rollingUpdate is rolloutRolling: one kind of step per sync.
func (r *rollout) rollingUpdate(ctx context.Context) error {
	newRS, old, err := r.replicaSets(ctx, true)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), old...), newRS)
	if up, err := r.reconcileNew(ctx, all, newRS); err != nil || up {
		if err != nil {
			return err
		}
		return r.syncRolloutStatus(ctx, r.current(old), r.currentRS(newRS))
	}
	down, err := r.reconcileOld(ctx, r.current(all), activeReplicaSets(r.current(old)), r.currentRS(newRS))
	if err != nil {
		return err
	}
	if down {
		return r.syncRolloutStatus(ctx, r.current(old), r.currentRS(newRS))
	}
	if complete(r.d, &r.d.Status) {
		if err := r.cleanup(ctx, r.current(old)); err != nil {
			return err
		}
	}
	return r.syncRolloutStatus(ctx, r.current(old), r.currentRS(newRS))
}

// current are the latest copies of rss.
func (r *rollout) current(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	out := make([]*appsv1.ReplicaSet, 0, len(rss))
	for _, rs := range rss {
		if rs != nil {
			out = append(out, r.currentRS(rs))
		}
	}
	return out
}

func (r *rollout) currentRS(rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if rs == nil {
		return nil
	}
	for _, x := range r.rss {
		if x.UID == rs.UID {
			return x
		}
	}
	return rs
}

// reconcileNew scales the new ReplicaSet up by what maxSurge allows, or
// down to the Deployment's replicas.
func (r *rollout) reconcileNew(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	want := replicas(r.d)
	switch {
	case rsReplicas(newRS) == want:
		return false, nil
	case rsReplicas(newRS) > want:
		scaled, _, err := r.scale(ctx, newRS, want)
		return scaled, err
	}
	scaled, _, err := r.scale(ctx, newRS, newReplicaSetReplicas(r.d, all, newRS))
	return scaled, err
}

// reconcileOld scales old ReplicaSets down within maxUnavailable: first
// their unavailable pods, then available ones (reconcileOldReplicaSets).
func (r *rollout) reconcileOld(ctx context.Context, all, old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	if specReplicas(old) == 0 {
		return false, nil
	}
	minAvailable := replicas(r.d) - maxUnavailable(r.d)
	newUnavailable := rsReplicas(newRS) - newRS.Status.AvailableReplicas
	maxScaledDown := specReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	cleaned, err := r.cleanupUnhealthy(ctx, old, maxScaledDown)
	if err != nil {
		return false, err
	}
	scaled, err := r.scaleDownOld(ctx, r.current(append(append([]*appsv1.ReplicaSet(nil), old...), newRS)), r.current(old))
	if err != nil {
		return false, err
	}
	return cleaned+scaled > 0, nil
}

// cleanupUnhealthy removes old ReplicaSets' unavailable replicas, oldest
// ReplicaSet first, up to max.
func (r *rollout) cleanupUnhealthy(ctx context.Context, old []*appsv1.ReplicaSet, maxDown int32) (int32, error) {
	sorted := append([]*appsv1.ReplicaSet(nil), old...)
	byCreation(sorted)
	var total int32
	for _, rs := range sorted {
		if total >= maxDown {
			break
		}
		if rsReplicas(rs) == 0 || rsReplicas(rs) == rs.Status.AvailableReplicas {
			continue
		}
		down := min(maxDown-total, rsReplicas(rs)-rs.Status.AvailableReplicas)
		if _, _, err := r.scale(ctx, rs, rsReplicas(rs)-down); err != nil {
			return total, err
		}
		total += down
	}
	return total, nil
}

// scaleDownOld scales old ReplicaSets down by what the available replicas
// above minAvailable allow, oldest first
// (scaleDownOldReplicaSetsForRollingUpdate).
func (r *rollout) scaleDownOld(ctx context.Context, all, old []*appsv1.ReplicaSet) (int32, error) {
	minAvailable := replicas(r.d) - maxUnavailable(r.d)
	available := availableReplicas(all)
	if available <= minAvailable {
		return 0, nil
	}
	budget := available - minAvailable
	sorted := append([]*appsv1.ReplicaSet(nil), old...)
	byCreation(sorted)
	var total int32
	for _, rs := range sorted {
		if total >= budget {
			break
		}
		if rsReplicas(rs) == 0 {
			continue
		}
		down := min(rsReplicas(rs), budget-total)
		if _, _, err := r.scale(ctx, rs, rsReplicas(rs)-down); err != nil {
			return total, err
		}
		total += down
	}
	return total, nil
}

// recreate is rolloutRecreate: old ReplicaSets to zero, wait until their
// pods are gone, then the new one to the full size.
func (r *rollout) recreate(ctx context.Context, pods map[types.UID][]*corev1.Pod) error {
	newRS, old, err := r.replicaSets(ctx, false)
	if err != nil {
		return err
	}
	scaled := false
	for _, rs := range activeReplicaSets(old) {
		s, _, err := r.scale(ctx, rs, 0)
		if err != nil {
			return err
		}
		scaled = scaled || s
	}
	if scaled {
		return r.syncRolloutStatus(ctx, r.current(old), r.currentRS(newRS))
	}
	if oldPodsRunning(newRS, r.current(old), pods) {
		return r.syncRolloutStatus(ctx, r.current(old), r.currentRS(newRS))
	}
	if newRS == nil {
		if newRS, old, err = r.replicaSets(ctx, true); err != nil {
			return err
		}
	}
	if _, _, err := r.scale(ctx, newRS, replicas(r.d)); err != nil {
		return err
	}
	if complete(r.d, &r.d.Status) {
		if err := r.cleanup(ctx, r.current(old)); err != nil {
			return err
		}
	}
	return r.syncRolloutStatus(ctx, r.current(old), r.currentRS(newRS))
}

// oldPodsRunning: an old ReplicaSet still reports replicas, or a pod of
// one is not Succeeded or Failed (terminating pods count).
func oldPodsRunning(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet, pods map[types.UID][]*corev1.Pod) bool {
	if statusReplicas(old) > 0 {
		return true
	}
	for uid, list := range pods {
		if newRS != nil && newRS.UID == uid {
			continue
		}
		for _, p := range list {
			if p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
				return true
			}
		}
	}
	return false
}

// isScalingEvent: some active ReplicaSet was sized for another replica
// count than the Deployment's.
func (r *rollout) isScalingEvent(ctx context.Context) (bool, error) {
	newRS, old, err := r.replicaSets(ctx, false)
	if err != nil {
		return false, err
	}
	for _, rs := range append(activeReplicaSets(old), newRS) {
		if rs == nil {
			continue
		}
		if desired, ok := intAnnotation(rs, DesiredReplicasAnnotation); ok && desired != replicas(r.d) {
			return true, nil
		}
	}
	return false, nil
}

// scaleOnly is sync: a paused Deployment or a scaling event only resizes
// (proportionally), cleans up (when paused) and reports.
func (r *rollout) scaleOnly(ctx context.Context) error {
	newRS, old, err := r.replicaSets(ctx, false)
	if err != nil {
		return err
	}
	if err := r.scaleProportionally(ctx, newRS, old); err != nil {
		return err
	}
	if r.d.Spec.Paused {
		if err := r.cleanup(ctx, r.current(old)); err != nil {
			return err
		}
	}
	return r.syncStatus(ctx, r.current(old), r.currentRS(newRS))
}

// scaleProportionally is scale: one active ReplicaSet takes the new size;
// a saturated new one leaves the old at zero; otherwise the change is
// spread over the active ReplicaSets in proportion to their sizes.
func (r *rollout) scaleProportionally(ctx context.Context, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	if rs := activeOrLatest(newRS, old); rs != nil {
		if rsReplicas(rs) == replicas(r.d) {
			return nil
		}
		_, _, err := r.scale(ctx, rs, replicas(r.d))
		return err
	}
	if saturated(r.d, newRS) {
		for _, rs := range activeReplicaSets(old) {
			if _, _, err := r.scale(ctx, rs, 0); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(r.d) {
		return nil
	}
	all := activeReplicaSets(append(append([]*appsv1.ReplicaSet(nil), old...), newRS))
	allowed := int32(0)
	if replicas(r.d) > 0 {
		allowed = replicas(r.d) + maxSurge(r.d)
	}
	toAdd := allowed - specReplicas(all)
	// Bigger first; among equals, newer first when adding, older first
	// when removing.
	sort.SliceStable(all, func(i, j int) bool {
		if rsReplicas(all[i]) != rsReplicas(all[j]) {
			return rsReplicas(all[i]) > rsReplicas(all[j])
		}
		a, b := all[i].CreationTimestamp, all[j].CreationTimestamp
		if toAdd > 0 {
			return b.Before(&a)
		}
		return a.Before(&b)
	})
	sizes := make([]int32, len(all))
	var added int32
	for i, rs := range all {
		sizes[i] = rsReplicas(rs)
		if toAdd != 0 {
			p := r.proportion(rs, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	if added != toAdd && len(all) > 0 {
		sizes[0] = max(sizes[0]+toAdd-added, 0)
	}
	for i, rs := range all {
		if _, _, err := r.scaleWithAnnotations(ctx, rs, sizes[i]); err != nil {
			return err
		}
	}
	return nil
}

// scaleWithAnnotations scales (with the event when the size changes) and
// refreshes the replica annotations either way.
func (r *rollout) scaleWithAnnotations(ctx context.Context, rs *appsv1.ReplicaSet, n int32) (bool, *appsv1.ReplicaSet, error) {
	if rsReplicas(rs) != n {
		return r.scale(ctx, rs, n)
	}
	return r.setSize(ctx, rs, n)
}

// proportion is a ReplicaSet's share of toAdd (GetProportion).
func (r *rollout) proportion(rs *appsv1.ReplicaSet, toAdd, added int32) int32 {
	if rsReplicas(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	frac := r.fraction(rs)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(frac, allowed)
	}
	return max(frac, allowed)
}

// fraction is how far a ReplicaSet moves in proportion to the
// Deployment's new size over the size it was made for.
func (r *rollout) fraction(rs *appsv1.ReplicaSet) int32 {
	if replicas(r.d) == 0 {
		return -rsReplicas(rs)
	}
	total := replicas(r.d) + maxSurge(r.d)
	annotated, ok := intAnnotation(rs, MaxReplicasAnnotation)
	if !ok {
		annotated = r.d.Status.Replicas
	}
	if annotated == 0 {
		return 0
	}
	return int32(math.Round(float64(rsReplicas(rs))*float64(total)/float64(annotated))) - rsReplicas(rs)
}

// activeOrLatest is the one active ReplicaSet, or the newest when none is
// active (nil when several are).
func activeOrLatest(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	sorted := append([]*appsv1.ReplicaSet(nil), old...)
	byCreation(sorted)
	active := activeReplicaSets(append(append([]*appsv1.ReplicaSet(nil), sorted...), newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return sorted[len(sorted)-1]
	case 1:
		return active[0]
	}
	return nil
}

// saturated: the new ReplicaSet has every replica, all available.
func saturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, DesiredReplicasAnnotation)
	return ok && rsReplicas(rs) == replicas(d) && desired == replicas(d) && rs.Status.AvailableReplicas == replicas(d)
}

// cleanup deletes the oldest old ReplicaSets beyond revisionHistoryLimit
// that are scaled to zero and settled (cleanupDeployment).
func (r *rollout) cleanup(ctx context.Context, old []*appsv1.ReplicaSet) error {
	if r.d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range old {
		if rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(*r.d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(alive, func(i, j int) bool {
		if revision(alive[i]) != revision(alive[j]) {
			return revision(alive[i]) < revision(alive[j])
		}
		a, b := alive[i].CreationTimestamp, alive[j].CreationTimestamp
		return a.Before(&b)
	})
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || rsReplicas(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		uid := rs.UID
		_, _, err := r.c.ReplicaSets.Delete(ctx, rs.Namespace, rs.Name, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}, false)
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}

// syncStatusOnly reports without changing anything (a Deployment being
// deleted).
func (r *rollout) syncStatusOnly(ctx context.Context) error {
	newRS, old, err := r.replicaSets(ctx, false)
	if err != nil {
		return err
	}
	return r.syncStatus(ctx, old, newRS)
}

// syncStatus writes the computed status when it changed.
func (r *rollout) syncStatus(ctx context.Context, old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	st := r.calculateStatus(old, newRS)
	if apiequality.Semantic.DeepEqual(st, r.d.Status) {
		return nil
	}
	r.d.Status = st
	return r.c.writeStatus(ctx, r.d)
}

// all joins the old ReplicaSets and the new one.
func all(old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	out := append([]*appsv1.ReplicaSet(nil), old...)
	if newRS != nil {
		out = append(out, newRS)
	}
	return out
}

// calculateStatus sums the ReplicaSets and sets the Available condition.
func (r *rollout) calculateStatus(old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) appsv1.DeploymentStatus {
	rss := all(old, newRS)
	available := availableReplicas(rss)
	st := appsv1.DeploymentStatus{
		ObservedGeneration: r.d.Generation, Replicas: statusReplicas(rss), ReadyReplicas: readyReplicas(rss),
		AvailableReplicas: available, UnavailableReplicas: max(specReplicas(rss)-available, 0),
		CollisionCount: r.d.Status.CollisionCount, Conditions: append([]appsv1.DeploymentCondition(nil), r.d.Status.Conditions...),
	}
	if newRS != nil {
		st.UpdatedReplicas = newRS.Status.Replicas
	}
	if available >= replicas(r.d)-maxUnavailable(r.d) {
		setCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, reasonMinimumAvailable, "Deployment has minimum availability.", r.metaNow()))
	} else {
		setCondition(&st, newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, reasonMinimumMissing, "Deployment does not have minimum availability.", r.metaNow()))
	}
	return st
}

// syncRolloutStatus is syncStatus plus the Progressing condition: complete,
// progressing, or timed out after progressDeadlineSeconds without
// progress; and the ReplicaSets' ReplicaFailure copied up.
func (r *rollout) syncRolloutStatus(ctx context.Context, old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	d := r.d
	st := r.calculateStatus(old, newRS)
	if !hasProgressDeadline(d) {
		removeCondition(&st, appsv1.DeploymentProgressing)
	}
	cur := getCondition(&d.Status, appsv1.DeploymentProgressing)
	isComplete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == reasonNewRSAvailable
	subject := fmt.Sprintf("Deployment %q", d.Name)
	if newRS != nil {
		subject = fmt.Sprintf("ReplicaSet %q", newRS.Name)
	}
	if hasProgressDeadline(d) && !isComplete {
		switch {
		case complete(d, &st):
			setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewRSAvailable,
				subject+" has successfully progressed.", r.metaNow()))
		case progressing(d, &st):
			c := newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonRSUpdated, subject+" is progressing.", r.metaNow())
			if cur != nil && cur.Status == corev1.ConditionTrue {
				c.LastTransitionTime = cur.LastTransitionTime
			}
			removeCondition(&st, appsv1.DeploymentProgressing)
			setCondition(&st, c)
		case r.timedOut(&st):
			setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonTimedOut,
				subject+" has timed out progressing.", r.metaNow()))
		}
	}
	if f := replicaFailure(all(old, newRS)); f != nil {
		setCondition(&st, appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: f.Status, Reason: f.Reason,
			Message: f.Message, LastUpdateTime: f.LastTransitionTime, LastTransitionTime: f.LastTransitionTime})
	} else {
		removeCondition(&st, appsv1.DeploymentReplicaFailure)
	}
	if apiequality.Semantic.DeepEqual(d.Status, st) {
		r.requeueStuck(&st)
		return nil
	}
	d.Status = st
	if err := r.c.writeStatus(ctx, d); err != nil {
		return err
	}
	r.requeueStuck(&st)
	return nil
}

// timedOut: no progress for progressDeadlineSeconds since the Progressing
// condition last changed.
func (r *rollout) timedOut(st *appsv1.DeploymentStatus) bool {
	c := getCondition(st, appsv1.DeploymentProgressing)
	if c == nil || c.Reason == reasonNewRSAvailable {
		return false
	}
	if c.Reason == reasonTimedOut {
		return true
	}
	deadline := time.Duration(*r.d.Spec.ProgressDeadlineSeconds) * time.Second
	return c.LastUpdateTime.Add(deadline).Before(r.now)
}

// requeueStuck looks at an incomplete Deployment again when its progress
// deadline passes.
func (r *rollout) requeueStuck(st *appsv1.DeploymentStatus) {
	c := getCondition(st, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(r.d) || c == nil || complete(r.d, st) || c.Reason == reasonTimedOut {
		return
	}
	after := c.LastUpdateTime.Add(time.Duration(*r.d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(r.now)
	if after < time.Second {
		r.requeue = time.Second
		return
	}
	r.requeue = after + time.Second
}

// checkPausedConditions sets Progressing Unknown DeploymentPaused or
// DeploymentResumed when spec.paused changed.
func (r *rollout) checkPausedConditions(ctx context.Context) error {
	d := r.d
	if !hasProgressDeadline(d) {
		return nil
	}
	c := getCondition(&d.Status, appsv1.DeploymentProgressing)
	if c != nil && c.Reason == reasonTimedOut {
		return nil
	}
	pausedCond := c != nil && c.Reason == reasonPaused
	switch {
	case d.Spec.Paused && !pausedCond:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonPaused, "Deployment is paused", r.metaNow()))
	case !d.Spec.Paused && pausedCond:
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown, reasonResumed, "Deployment is resumed", r.metaNow()))
	default:
		return nil
	}
	return r.c.writeStatus(ctx, d)
}

func replicaFailure(rss []*appsv1.ReplicaSet) *appsv1.ReplicaSetCondition {
	for _, rs := range rss {
		for i := range rs.Status.Conditions {
			if rs.Status.Conditions[i].Type == appsv1.ReplicaSetReplicaFailure {
				return &rs.Status.Conditions[i]
			}
		}
	}
	return nil
}
