// Package daemonset is the DaemonSet controller of kube-controller-manager
// (pkg/controller/daemon): one pod of the template on every node that
// should run it (its node selector, required affinity and taints, with the
// tolerations upstream adds), bound there by a required node affinity
// term on metadata.name; RollingUpdate (delete, then create, within
// maxUnavailable) or OnDelete; the template's history as
// ControllerRevisions; and the status counts.
package daemonset

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/controller/history"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/registry"
	dsapi "github.com/peapod/peapod/internal/registry/daemonset"
)

// Labels of DaemonSet pods and revisions.
const (
	revisionHashLabel       = appsv1.DefaultDaemonSetUniqueLabelKey // controller-revision-hash
	templateGenerationLabel = "pod-template-generation"
)

// Controller runs DaemonSets.
type Controller struct {
	DaemonSets, Revisions, Pods, Nodes controller.Store
	Recorder                           *events.Recorder
	Log                                *slog.Logger
	Now                                func() time.Time

	loop *controller.Loop
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.loop = &controller.Loop{Name: "daemonset", Log: c.Log, Sync: c.sync}
	return c.loop.Run(ctx,
		controller.Source{Store: c.DaemonSets, Handle: c.loop.QueueObject},
		controller.Source{Store: c.Pods, Handle: c.loop.QueueController("DaemonSet")},
		controller.Source{Store: c.Nodes, Handle: func(controller.Event) { c.queueAll(ctx) }})
}

// queueAll queues every DaemonSet (a node changed).
func (c *Controller) queueAll(ctx context.Context) {
	list, err := c.DaemonSets.List(ctx, "", registry.ListOptions{})
	if err != nil {
		return
	}
	for i := range list.(*appsv1.DaemonSetList).Items {
		c.loop.Add(controller.ObjectKey(&list.(*appsv1.DaemonSetList).Items[i]))
	}
}

// sync is syncDaemonSet.
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name := controller.SplitKey(key)
	obj, err := c.DaemonSets.Get(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	ds := obj.(*appsv1.DaemonSet).DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() {
		if err == nil {
			c.Recorder.Eventf(ds, "", events.Warning, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.")
		}
		return 0, nil
	}
	pods, err := c.claimPods(ctx, ds, sel)
	if err != nil {
		return 0, err
	}
	if ds.DeletionTimestamp != nil {
		return 0, nil
	}
	hash, err := c.syncRevisions(ctx, ds, pods)
	if err != nil {
		return 0, err
	}
	nodeList, err := c.Nodes.List(ctx, "", registry.ListOptions{})
	if err != nil {
		return 0, err
	}
	nodes := nodeList.(*corev1.NodeList).Items
	byNode := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if n := targetNode(p); n != "" {
			byNode[n] = append(byNode[n], p)
		}
	}
	now := c.Now()
	var create []string
	var remove []*corev1.Pod
	known := map[string]bool{}
	for i := range nodes {
		node := &nodes[i]
		known[node.Name] = true
		run := shouldRun(ds, node)
		var alive []*corev1.Pod
		for _, p := range byNode[node.Name] {
			switch {
			case p.DeletionTimestamp != nil:
			case p.Status.Phase == corev1.PodFailed:
				c.Recorder.Eventf(ds, "", events.Warning, "FailedDaemonPod", "Found failed daemon pod %s/%s on node %s, will try to kill it", p.Namespace, p.Name, node.Name)
				remove = append(remove, p)
			case p.Status.Phase == corev1.PodSucceeded:
				c.Recorder.Eventf(ds, "", events.Normal, "SucceededDaemonPod", "Found succeeded daemon pod %s/%s on node %s, will try to delete it", p.Namespace, p.Name, node.Name)
				remove = append(remove, p)
			default:
				alive = append(alive, p)
			}
		}
		switch {
		case !run:
			remove = append(remove, alive...)
		case len(alive) == 0 && !terminating(byNode[node.Name]):
			create = append(create, node.Name)
		case len(alive) > 1:
			sortOldestFirst(alive)
			keep := 1
			if surging(ds) && len(alive) == 2 && updated(alive[0], ds, hash) != updated(alive[1], ds, hash) {
				keep = 2 // an old pod and its surge replacement
			}
			remove = append(remove, alive[keep:]...)
		}
	}
	for n, list := range byNode {
		if !known[n] {
			remove = append(remove, list...) // the node is gone
		}
	}
	if err := c.deletePods(ctx, ds, remove); err != nil {
		return 0, err
	}
	if err := c.createPods(ctx, ds, hash, create); err != nil {
		return 0, err
	}
	if ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if err := c.rollingUpdate(ctx, ds, hash, nodes, byNode, now); err != nil {
			return 0, err
		}
	}
	all, err := controller.ListPods(ctx, c.Pods, ns)
	if err != nil {
		return 0, err
	}
	var owned []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == ds.UID {
			owned = append(owned, p)
		}
	}
	return c.updateStatus(ctx, ds, hash, nodes, owned, now)
}

// claimPods adopts and releases pods by selector.
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) ([]*corev1.Pod, error) {
	all, err := controller.ListPods(ctx, c.Pods, ds.Namespace)
	if err != nil {
		return nil, err
	}
	candidates := make([]metav1.Object, len(all))
	for i, p := range all {
		candidates[i] = p
	}
	claimer := &controller.Claimer{Store: c.Pods, Owner: ds, Selector: sel, Deleting: ds.DeletionTimestamp != nil,
		Ref: controller.NewControllerRef(ds, "apps/v1", "DaemonSet")}
	owned, err := claimer.Claim(ctx, candidates)
	out := make([]*corev1.Pod, len(owned))
	for i, m := range owned {
		out[i] = m.(*corev1.Pod)
	}
	return out, err
}

func terminating(pods []*corev1.Pod) bool {
	for _, p := range pods {
		if p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			return true
		}
	}
	return false
}

func sortOldestFirst(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i].CreationTimestamp, pods[j].CreationTimestamp
		if !a.Equal(&b) {
			return a.Before(&b)
		}
		return pods[i].Name < pods[j].Name
	})
}

// targetNode is the node a daemon pod is for: its node, or the one its
// required affinity names.
func targetNode(p *corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == metav1.ObjectNameField && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// shouldRun is NodeShouldRunDaemonPod: the template's node name, node
// selector and required affinity allow the node, and its NoSchedule and
// NoExecute taints are tolerated (with the daemon tolerations).
func shouldRun(ds *appsv1.DaemonSet, node *corev1.Node) bool {
	p := newPod(ds, "", node.Name)
	if n := ds.Spec.Template.Spec.NodeName; n != "" && n != node.Name {
		return false
	}
	if ok, err := nodeaffinity.GetRequiredNodeAffinity(p).Match(node); err != nil || !ok {
		return false
	}
	_, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, p.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}, false)
	return !untolerated
}

// newPod is the daemon pod for a node (without its name): the template,
// the revision labels, required affinity to the node, and the daemon
// tolerations.
func newPod(ds *appsv1.DaemonSet, hash, node string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: *ds.Spec.Template.ObjectMeta.DeepCopy(), Spec: *ds.Spec.Template.Spec.DeepCopy()}
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	if hash != "" {
		p.Labels[revisionHashLabel] = hash
	}
	p.Labels[templateGenerationLabel] = strconv.FormatInt(dsapi.TemplateGeneration(ds), 10)
	term := corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &corev1.Affinity{}
	}
	if p.Spec.Affinity.NodeAffinity == nil {
		p.Spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	req := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	if req == nil || len(req.NodeSelectorTerms) == 0 {
		p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{term}}
	} else {
		// Upstream replaces the terms with the node's; the template's
		// other requirements were checked by shouldRun.
		p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{term}}
	}
	add := func(key string, effect corev1.TaintEffect) {
		for _, t := range p.Spec.Tolerations {
			if t.Key == key && t.Effect == effect && t.Operator == corev1.TolerationOpExists {
				return
			}
		}
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect})
	}
	add(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)
	add(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)
	add(corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule)
	add(corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule)
	add(corev1.TaintNodePIDPressure, corev1.TaintEffectNoSchedule)
	add(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)
	if p.Spec.HostNetwork {
		add(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)
	}
	return p
}

func (c *Controller) createPods(ctx context.Context, ds *appsv1.DaemonSet, hash string, nodes []string) error {
	ref := controller.NewControllerRef(ds, "apps/v1", "DaemonSet")
	var mu sync.Mutex
	next := 0
	_, err := controller.SlowStartBatch(len(nodes), func() error {
		mu.Lock()
		node := nodes[next]
		next++
		mu.Unlock()
		p := newPod(ds, hash, node)
		p.GenerateName, p.Namespace = ds.Name+"-", ds.Namespace
		p.OwnerReferences = []metav1.OwnerReference{ref}
		out, err := c.Pods.Create(ctx, ds.Namespace, p, false)
		if err != nil {
			c.Recorder.Eventf(ds, "", events.Warning, "FailedCreate", "Error creating: %v", err)
			return err
		}
		c.Recorder.Eventf(ds, "", events.Normal, "SuccessfulCreate", "Created pod: %s", out.(*corev1.Pod).Name)
		return nil
	})
	return err
}

func (c *Controller) deletePods(ctx context.Context, ds *appsv1.DaemonSet, pods []*corev1.Pod) error {
	var errs []error
	for _, p := range pods {
		_, _, err := c.Pods.Delete(ctx, p.Namespace, p.Name, nil, false)
		switch {
		case err == nil:
			c.Recorder.Eventf(ds, "", events.Normal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
		case !apierrors.IsNotFound(err):
			c.Recorder.Eventf(ds, "", events.Warning, "FailedDelete", "Error deleting: %v", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// updated: the pod is of the current revision.
func updated(p *corev1.Pod, ds *appsv1.DaemonSet, hash string) bool {
	if h, ok := p.Labels[revisionHashLabel]; ok {
		return h == hash
	}
	return p.Labels[templateGenerationLabel] == strconv.FormatInt(dsapi.TemplateGeneration(ds), 10)
}

// rollingUpdate deletes old pods within maxUnavailable (unavailable old
// pods freely); the next sync creates their replacements. With maxSurge
// (and maxUnavailable 0) surgeUpdate runs instead.
func (c *Controller) rollingUpdate(ctx context.Context, ds *appsv1.DaemonSet, hash string, nodes []corev1.Node, byNode map[string][]*corev1.Pod, now time.Time) error {
	if surging(ds) {
		return c.surgeUpdate(ctx, ds, hash, nodes, byNode, now)
	}
	desired := 0
	for i := range nodes {
		if shouldRun(ds, &nodes[i]) {
			desired++
		}
	}
	maxUnavailable := 1
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, desired, true)
		if err == nil {
			maxUnavailable = v
		}
	}
	if maxUnavailable == 0 {
		maxUnavailable = 1
	}
	unavailable := 0
	var oldAvailable, oldUnavailable []*corev1.Pod
	for i := range nodes {
		pods := byNode[nodes[i].Name]
		var cur *corev1.Pod
		for _, p := range pods {
			if p.DeletionTimestamp == nil && (cur == nil || p.CreationTimestamp.Before(&cur.CreationTimestamp)) {
				cur = p
			}
		}
		if cur == nil {
			if shouldRun(ds, &nodes[i]) {
				unavailable++
			}
			continue
		}
		available := controller.IsPodAvailable(cur, ds.Spec.MinReadySeconds, now)
		if !available {
			unavailable++
		}
		if updated(cur, ds, hash) {
			continue
		}
		if available {
			oldAvailable = append(oldAvailable, cur)
		} else {
			oldUnavailable = append(oldUnavailable, cur)
		}
	}
	remove := oldUnavailable
	for _, p := range oldAvailable {
		if unavailable >= maxUnavailable {
			break
		}
		remove = append(remove, p)
		unavailable++
	}
	return c.deletePods(ctx, ds, remove)
}

// syncRevisions keeps the ControllerRevision of the current template (made,
// or an older one renumbered on a rollback) and drops history beyond
// revisionHistoryLimit that no pod uses; it returns the current revision's
// hash.
func (c *Controller) syncRevisions(ctx context.Context, ds *appsv1.DaemonSet, pods []*corev1.Pod) (string, error) {
	data, err := history.PatchData(&ds.Spec.Template)
	if err != nil {
		return "", err
	}
	hash := controller.ComputeHash(&ds.Spec.Template, ds.Status.CollisionCount)
	lbls := map[string]string{}
	for k, v := range ds.Spec.Template.Labels {
		lbls[k] = v
	}
	lbls[revisionHashLabel] = hash
	current, owned, err := history.Sync(ctx, c.Revisions, history.Owner{Object: ds, APIVersion: "apps/v1", Kind: "DaemonSet",
		Name: ds.Name + "-" + hash, Labels: lbls, Annotations: ds.Annotations}, data)
	if errors.Is(err, history.ErrCollision) {
		st := ds.Status.DeepCopy()
		if st.CollisionCount == nil {
			st.CollisionCount = new(int32)
		}
		*st.CollisionCount++
		return "", errors.Join(err, c.writeStatus(ctx, ds, *st))
	}
	if err != nil {
		return "", err
	}
	hash = current.Labels[revisionHashLabel]
	inUse := map[string]bool{hash: true}
	for _, p := range pods {
		inUse[p.Labels[revisionHashLabel]] = true
	}
	return hash, history.Prune(ctx, c.Revisions, owned, func(cr *appsv1.ControllerRevision) bool { return inUse[cr.Labels[revisionHashLabel]] },
		ds.Spec.RevisionHistoryLimit)
}

// updateStatus is updateDaemonSetStatus; it returns when a ready pod
// becomes available (minReadySeconds).
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, hash string, nodes []corev1.Node, pods []*corev1.Pod, now time.Time) (time.Duration, error) {
	byNode := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			byNode[targetNode(p)] = append(byNode[targetNode(p)], p)
		}
	}
	st := appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, CollisionCount: ds.Status.CollisionCount, Conditions: ds.Status.Conditions}
	var readyPods []*corev1.Pod
	for i := range nodes {
		node := &nodes[i]
		run := shouldRun(ds, node)
		list := byNode[node.Name]
		if run {
			st.DesiredNumberScheduled++
		}
		if len(list) == 0 {
			continue
		}
		if !run {
			st.NumberMisscheduled++
			continue
		}
		st.CurrentNumberScheduled++
		sortOldestFirst(list)
		oldest := list[0]
		if controller.IsPodReady(oldest) {
			st.NumberReady++
			readyPods = append(readyPods, oldest)
			if controller.IsPodAvailable(oldest, ds.Spec.MinReadySeconds, now) {
				st.NumberAvailable++
			}
		}
		if updated(oldest, ds, hash) {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = max(st.DesiredNumberScheduled-st.NumberAvailable, 0)
	if !apiequality.Semantic.DeepEqual(st, ds.Status) {
		if err := c.writeStatus(ctx, ds, st); err != nil {
			return 0, err
		}
	}
	return controller.NextAvailableCheck(readyPods, ds.Spec.MinReadySeconds, now), nil
}

func (c *Controller) writeStatus(ctx context.Context, ds *appsv1.DaemonSet, st appsv1.DaemonSetStatus) error {
	return controller.UpdateStatus(ctx, c.DaemonSets, ds.Namespace, ds.Name, ds.UID, func(o *appsv1.DaemonSet) { o.Status = st })
}

// surging: the rolling update has a maxSurge.
func surging(ds *appsv1.DaemonSet) bool {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxSurge == nil {
		return false
	}
	v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, 1, true)
	return err == nil && v > 0
}

// surgeUpdate is the maxSurge rolling update: on up to maxSurge nodes at
// once the new pod starts next to the old one, which is deleted once the
// new one is available; an old pod that is not available goes at once.
func (c *Controller) surgeUpdate(ctx context.Context, ds *appsv1.DaemonSet, hash string, nodes []corev1.Node, byNode map[string][]*corev1.Pod, now time.Time) error {
	desired := 0
	for i := range nodes {
		if shouldRun(ds, &nodes[i]) {
			desired++
		}
	}
	maxSurge, err := intstr.GetScaledValueFromIntOrPercent(ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge, desired, true)
	if err != nil || maxSurge < 1 {
		maxSurge = 1
	}
	type nodePods struct {
		node     string
		old, new *corev1.Pod
	}
	var work []nodePods
	surged := 0
	for i := range nodes {
		var np nodePods
		np.node = nodes[i].Name
		for _, p := range byNode[np.node] {
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
				continue
			}
			if updated(p, ds, hash) {
				np.new = p
			} else if np.old == nil || p.CreationTimestamp.Before(&np.old.CreationTimestamp) {
				np.old = p
			}
		}
		if np.old == nil {
			continue
		}
		if np.new != nil {
			surged++
		}
		work = append(work, np)
	}
	var remove []*corev1.Pod
	var create []string
	for _, np := range work {
		switch {
		case np.new != nil && controller.IsPodAvailable(np.new, ds.Spec.MinReadySeconds, now):
			remove = append(remove, np.old)
		case np.new != nil:
			// The replacement is on its way.
		case !controller.IsPodAvailable(np.old, ds.Spec.MinReadySeconds, now):
			remove = append(remove, np.old)
		case surged < maxSurge:
			create = append(create, np.node)
			surged++
		}
	}
	if err := c.deletePods(ctx, ds, remove); err != nil {
		return err
	}
	return c.createPods(ctx, ds, hash, create)
}
