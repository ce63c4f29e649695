package statefulset

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/controllerrevision"
	"github.com/peapod/peapod/internal/registry/event"
	"github.com/peapod/peapod/internal/registry/namespace"
	"github.com/peapod/peapod/internal/registry/pod"
	statefulsetapi "github.com/peapod/peapod/internal/registry/statefulset"
	storageapi "github.com/peapod/peapod/internal/registry/storage"
	"github.com/peapod/peapod/internal/testutil"
)

func TestOrdinalOf(t *testing.T) {
	for _, tc := range []struct {
		set, pod string
		want     int
	}{
		{"web", "web-0", 0},
		{"web", "web-12", 12},
		{"web", "web-x", -1},
		{"web", "webby-1", -1},
		{"web", "web-", -1},
		{"my-web", "my-web-3", 3},
		{"web", "my-web-3", -1},
		{"web", "web-1-2", -1}, // the set web-1's
	} {
		if got := ordinalOf(tc.set, tc.pod); got != tc.want {
			t.Errorf("ordinalOf(%q, %q) = %d, want %d", tc.set, tc.pod, got, tc.want)
		}
	}
}

func TestRetentionOwners(t *testing.T) {
	set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "set-uid"}}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", UID: "pod-uid"}}
	other := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "other"}
	setRef := metav1.OwnerReference{Kind: "StatefulSet", UID: "set-uid"}
	podRef := metav1.OwnerReference{Kind: "Pod", UID: "pod-uid"}
	const del, keep = appsv1.DeletePersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	for _, tc := range []struct {
		name                    string
		whenDeleted, whenScaled appsv1.PersistentVolumeClaimRetentionPolicyType
		scaledDown              bool
		refs                    []metav1.OwnerReference
		want                    []types.UID
		changed                 bool
	}{
		{"retain keeps none", keep, keep, false, []metav1.OwnerReference{other, setRef, podRef}, []types.UID{"other"}, true},
		{"retain, nothing to do", keep, keep, true, []metav1.OwnerReference{other}, []types.UID{"other"}, false},
		{"whenDeleted: the set", del, keep, false, nil, []types.UID{"set-uid"}, true},
		{"whenDeleted: the set, already", del, keep, false, []metav1.OwnerReference{setRef}, []types.UID{"set-uid"}, false},
		{"whenDeleted, scaled down: still the set", del, keep, true, []metav1.OwnerReference{podRef}, []types.UID{"set-uid"}, true},
		{"whenScaled, in range: nobody", keep, del, false, []metav1.OwnerReference{podRef, setRef}, nil, true},
		{"whenScaled, scaled down: the pod", keep, del, true, []metav1.OwnerReference{setRef}, []types.UID{"pod-uid"}, true},
		{"both, in range: the set", del, del, false, []metav1.OwnerReference{podRef}, []types.UID{"set-uid"}, true},
		{"both, scaled down: the pod", del, del, true, []metav1.OwnerReference{other, setRef}, []types.UID{"other", "pod-uid"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := set.DeepCopy()
			s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: tc.whenDeleted, WhenScaled: tc.whenScaled}
			got, changed := retentionOwners(tc.refs, s, p, tc.scaledDown)
			var uids []types.UID
			for _, r := range got {
				uids = append(uids, r.UID)
				if r.Controller != nil && *r.Controller {
					t.Errorf("%s is a controller reference", r.UID)
				}
			}
			if fmt.Sprint(uids) != fmt.Sprint(tc.want) || changed != tc.changed {
				t.Errorf("owners %v changed %v, want %v %v", uids, changed, tc.want, tc.changed)
			}
		})
	}
}

type fixture struct {
	t                          *testing.T
	ctx                        context.Context
	now                        time.Time
	c                          *Controller
	sets, revisions, pods, pvc *registry.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := testutil.OpenStore(t)
	f := &fixture{t: t, ctx: context.Background(), now: time.Now()}
	clock := func() time.Time { return f.now }
	if _, err := registry.NewStore(namespace.Resource(), st, clock).Create(f.ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, false); err != nil {
		t.Fatal(err)
	}
	f.sets = registry.NewStore(statefulsetapi.Resource(), st, clock)
	f.revisions = registry.NewStore(controllerrevision.Resource(), st, clock)
	f.pods = registry.NewStore(pod.Resource(&pod.Strategy{NodeName: "node1", Now: clock}), st, clock)
	f.pvc = registry.NewStore(storageapi.ClaimResource(&storageapi.ClaimStrategy{}), st, clock)
	rec := events.NewRecorder(registry.NewStore(event.Resource(), st, clock), events.Source{Component: "statefulset-controller"}, clock, slog.New(slog.DiscardHandler))
	t.Cleanup(rec.Stop)
	f.c = &Controller{StatefulSets: f.sets, Revisions: f.revisions, Pods: f.pods, Claims: f.pvc, Recorder: rec,
		Log: slog.New(slog.DiscardHandler), Now: clock}
	return f
}

func (f *fixture) create(replicas int32, mutate func(*appsv1.StatefulSet)) {
	f.t.Helper()
	set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.StatefulSetSpec{
		Replicas: &replicas, ServiceName: "web",
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}},
	}}
	if mutate != nil {
		mutate(set)
	}
	if _, err := f.sets.Create(f.ctx, "default", set, false); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) update(mutate func(*appsv1.StatefulSet)) {
	f.t.Helper()
	if _, err := f.sets.Update(f.ctx, "default", "web", func(cur runtime.Object) (runtime.Object, error) {
		o := cur.(*appsv1.StatefulSet).DeepCopy()
		mutate(o)
		return o, nil
	}, registry.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) sync() {
	f.t.Helper()
	if _, err := f.c.sync(f.ctx, "default/web"); err != nil {
		f.t.Fatal(err)
	}
}

// podNames are the pods not being deleted, by name.
func (f *fixture) podNames() []string {
	f.t.Helper()
	pods, err := controller.ListPods(f.ctx, f.pods, "default")
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			out = append(out, p.Name)
		}
	}
	sort.Strings(out)
	return out
}

func (f *fixture) pod(name string) *corev1.Pod {
	f.t.Helper()
	obj, err := f.pods.Get(f.ctx, "default", name)
	if err != nil {
		f.t.Fatal(err)
	}
	return obj.(*corev1.Pod)
}

// setStatus makes a pod Running, Ready or not since a time.
func (f *fixture) setStatus(name string, ready bool, since time.Time) {
	f.t.Helper()
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	if err := controller.UpdateStatus(f.ctx, f.pods, "default", name, f.pod(name).UID, func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(since)}}
	}); err != nil {
		f.t.Fatal(err)
	}
}

// gone removes a pod deleted gracefully (what the kubelet would do).
func (f *fixture) gone(name string) {
	f.t.Helper()
	zero := int64(0)
	if _, _, err := f.pods.Delete(f.ctx, "default", name, &metav1.DeleteOptions{GracePeriodSeconds: &zero}, false); err != nil {
		f.t.Fatal(err)
	}
}

func TestOrderedReady(t *testing.T) {
	f := newFixture(t)
	f.create(3, func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 10 })
	f.sync()
	if got := f.podNames(); strings.Join(got, ",") != "web-0" {
		t.Fatalf("pods %v, want web-0 alone", got)
	}
	p := f.pod("web-0")
	if p.Spec.Hostname != "web-0" || p.Spec.Subdomain != "web" || p.Labels[appsv1.StatefulSetPodNameLabel] != "web-0" || p.Labels[appsv1.PodIndexLabel] != "0" {
		t.Errorf("web-0 identity: hostname %q subdomain %q labels %v", p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
	}
	// Running but not Ready: web-1 waits.
	f.setStatus("web-0", false, f.now)
	f.sync()
	if got := f.podNames(); len(got) != 1 {
		t.Fatalf("pods %v while web-0 is not Ready", got)
	}
	// Ready, but not for minReadySeconds yet: web-1 still waits (the
	// predecessors must be available, as upstream's processReplica).
	f.setStatus("web-0", true, f.now)
	f.sync()
	if got := f.podNames(); len(got) != 1 {
		t.Fatalf("pods %v before web-0 is available", got)
	}
	f.now = f.now.Add(11 * time.Second)
	f.sync()
	if got := f.podNames(); strings.Join(got, ",") != "web-0,web-1" {
		t.Fatalf("pods %v, want web-0,web-1", got)
	}
	f.setStatus("web-1", true, f.now.Add(-time.Minute))
	f.sync()
	if got := f.podNames(); strings.Join(got, ",") != "web-0,web-1,web-2" {
		t.Fatalf("pods %v, want three", got)
	}
	f.setStatus("web-2", true, f.now.Add(-time.Minute))

	// Scale down: highest ordinal first, one at a time.
	f.update(func(s *appsv1.StatefulSet) { one := int32(1); s.Spec.Replicas = &one })
	f.sync()
	if got := f.podNames(); strings.Join(got, ",") != "web-0,web-1" {
		t.Fatalf("pods %v after the first scale-down step, want web-2 gone first", got)
	}
	f.sync()
	if got := f.podNames(); strings.Join(got, ",") != "web-0,web-1" {
		t.Fatalf("pods %v: web-1 went while web-2 was still terminating", got)
	}
	f.gone("web-2")
	f.sync()
	if got := f.podNames(); strings.Join(got, ",") != "web-0" {
		t.Fatalf("pods %v, want web-0", got)
	}
}

func TestParallel(t *testing.T) {
	f := newFixture(t)
	f.create(3, func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement })
	f.sync()
	if got := f.podNames(); strings.Join(got, ",") != "web-0,web-1,web-2" {
		t.Fatalf("pods %v, want all three at once", got)
	}
}

func TestPartition(t *testing.T) {
	f := newFixture(t)
	f.create(3, func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement })
	f.sync()
	for _, n := range f.podNames() {
		f.setStatus(n, true, f.now.Add(-time.Minute))
	}
	f.sync()
	old := f.pod("web-0").Labels[appsv1.StatefulSetRevisionLabel]
	f.update(func(s *appsv1.StatefulSet) {
		two := int32(2)
		s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: &two}
		s.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	})
	// Only ordinals at or above the partition are updated: web-2.
	f.sync()
	if got := f.podNames(); strings.Join(got, ",") != "web-0,web-1" {
		t.Fatalf("pods %v, want web-2 deleted for the update", got)
	}
	f.gone("web-2")
	f.sync()
	p := f.pod("web-2")
	if p.Labels[appsv1.StatefulSetRevisionLabel] == old || p.Spec.Containers[0].Image != "busybox:2" {
		t.Fatalf("web-2 made again at revision %s image %s", p.Labels[appsv1.StatefulSetRevisionLabel], p.Spec.Containers[0].Image)
	}
	f.setStatus("web-2", true, f.now.Add(-time.Minute))
	f.sync()
	for _, n := range []string{"web-0", "web-1"} {
		if p := f.pod(n); p.Labels[appsv1.StatefulSetRevisionLabel] != old || p.DeletionTimestamp != nil {
			t.Errorf("%s below the partition was touched: revision %s", n, p.Labels[appsv1.StatefulSetRevisionLabel])
		}
	}
	// A pod below the partition deleted by hand comes back at the
	// current revision.
	f.gone("web-0")
	f.sync()
	if p := f.pod("web-0"); p.Labels[appsv1.StatefulSetRevisionLabel] != old || p.Spec.Containers[0].Image != "busybox" {
		t.Errorf("web-0 made again at revision %s image %s, want the current one", p.Labels[appsv1.StatefulSetRevisionLabel], p.Spec.Containers[0].Image)
	}
}

func claimOwners(t *testing.T, f *fixture, name string) []string {
	t.Helper()
	obj, err := f.pvc.Get(f.ctx, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range obj.(*corev1.PersistentVolumeClaim).OwnerReferences {
		out = append(out, r.Kind+"/"+r.Name)
	}
	return out
}

func TestRetentionPolicyChanged(t *testing.T) {
	f := newFixture(t)
	f.create(2, func(s *appsv1.StatefulSet) {
		s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
		s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}}
	})
	f.sync()
	for _, n := range []string{"data-web-0", "data-web-1"} {
		if got := claimOwners(t, f, n); len(got) != 0 {
			t.Fatalf("%s owners %v under Retain", n, got)
		}
	}
	// whenDeleted: Delete, set later: the existing claims get the set.
	f.update(func(s *appsv1.StatefulSet) {
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
	})
	f.sync()
	for _, n := range []string{"data-web-0", "data-web-1"} {
		if got := claimOwners(t, f, n); strings.Join(got, ",") != "StatefulSet/web" {
			t.Errorf("%s owners %v after the policy changed, want the set", n, got)
		}
	}
	// Scaled down with whenScaled: Delete: web-1's claim is the pod's.
	f.update(func(s *appsv1.StatefulSet) { one := int32(1); s.Spec.Replicas = &one })
	f.sync()
	if got := claimOwners(t, f, "data-web-1"); strings.Join(got, ",") != "Pod/web-1" {
		t.Errorf("data-web-1 owners %v after scale-down, want the pod", got)
	}
	if got := claimOwners(t, f, "data-web-0"); strings.Join(got, ",") != "StatefulSet/web" {
		t.Errorf("data-web-0 owners %v, want the set", got)
	}
	// Back to Retain: the set lets go of the claim it kept.
	f.update(func(s *appsv1.StatefulSet) { s.Spec.PersistentVolumeClaimRetentionPolicy = nil })
	f.sync()
	if got := claimOwners(t, f, "data-web-0"); len(got) != 0 {
		t.Errorf("data-web-0 owners %v back under Retain", got)
	}
}
