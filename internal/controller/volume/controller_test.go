package volume

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/event"
	"github.com/peapod/peapod/internal/registry/namespace"
	"github.com/peapod/peapod/internal/registry/pod"
	storageapi "github.com/peapod/peapod/internal/registry/storage"
	"github.com/peapod/peapod/internal/testutil"
)

type fixture struct {
	ctx                                    context.Context
	c                                      *Controller
	claims, volumes, classes, pods, events *registry.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := testutil.OpenStore(t)
	f := &fixture{ctx: context.Background()}
	if _, err := registry.NewStore(namespace.Resource(), st, time.Now).Create(f.ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, false); err != nil {
		t.Fatal(err)
	}
	f.classes = registry.NewStore(storageapi.ClassResource(), st, time.Now)
	f.volumes = registry.NewStore(storageapi.VolumeResource(), st, time.Now)
	f.claims = registry.NewStore(storageapi.ClaimResource(&storageapi.ClaimStrategy{
		Classes: func(ctx context.Context) ([]storagev1.StorageClass, error) {
			list, err := f.classes.List(ctx, "", registry.ListOptions{})
			if err != nil {
				return nil, err
			}
			return list.(*storagev1.StorageClassList).Items, nil
		},
		Volume: func(ctx context.Context, name string) (*corev1.PersistentVolume, error) {
			obj, err := f.volumes.Get(ctx, "", name)
			if err != nil {
				return nil, err
			}
			return obj.(*corev1.PersistentVolume), nil
		},
		Resizer: Provisioner,
	}), st, time.Now)
	f.pods = registry.NewStore(pod.Resource(&pod.Strategy{NodeName: "node1", Now: time.Now}), st, time.Now)
	f.events = registry.NewStore(event.Resource(), st, time.Now)
	rec := events.NewRecorder(f.events, events.Source{Component: "persistentvolume-controller"}, time.Now, slog.New(slog.DiscardHandler))
	t.Cleanup(rec.Stop)
	f.c = &Controller{Claims: f.claims, Volumes: f.volumes, Classes: f.classes, Pods: f.pods, Recorder: rec,
		Log: slog.New(slog.DiscardHandler), NodeName: "node1", Dir: t.TempDir()}
	return f
}

func (f *fixture) class(t *testing.T, name, provisioner string, mode storagev1.VolumeBindingMode) {
	t.Helper()
	expand := true
	if _, err := f.classes.Create(f.ctx, "", &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name},
		Provisioner: provisioner, VolumeBindingMode: &mode, AllowVolumeExpansion: &expand}, false); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) volume(t *testing.T, name, class, size string, claimRef *corev1.ObjectReference) {
	t.Helper()
	if _, err := f.volumes.Create(f.ctx, "", &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{StorageClassName: class, ClaimRef: claimRef,
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/" + name}}}}, false); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) claim(t *testing.T, name, class, size, volumeName string) *corev1.PersistentVolumeClaim {
	t.Helper()
	obj, err := f.claims.Create(f.ctx, "default", &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &class, VolumeName: volumeName,
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*corev1.PersistentVolumeClaim)
}

// user makes a pod using the claim; a gated pod stays unscheduled.
func (f *fixture) user(t *testing.T, name, claim string, gated bool) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
		Volumes:    []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}}}
	if gated {
		p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
	}
	if _, err := f.pods.Create(f.ctx, "default", p, false); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) getClaim(t *testing.T, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	obj, err := f.claims.Get(f.ctx, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*corev1.PersistentVolumeClaim)
}

func (f *fixture) getVolume(t *testing.T, name string) *corev1.PersistentVolume {
	t.Helper()
	obj, err := f.volumes.Get(f.ctx, "", name)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*corev1.PersistentVolume)
}

func (f *fixture) sync(t *testing.T, claim string) {
	t.Helper()
	if err := f.c.syncClaim(f.ctx, "default/"+claim); err != nil {
		t.Fatal(err)
	}
}

// TestWaitForFirstConsumerPremadeVolume: a claim of a WaitForFirstConsumer
// class does not take an Available volume made beforehand until a pod
// using it is scheduled; a claim of an Immediate class does at once.
func TestWaitForFirstConsumerPremadeVolume(t *testing.T) {
	f := newFixture(t)
	f.class(t, "manual-wait", "kubernetes.io/no-provisioner", storagev1.VolumeBindingWaitForFirstConsumer)
	f.class(t, "manual-now", "kubernetes.io/no-provisioner", storagev1.VolumeBindingImmediate)
	f.volume(t, "pv-wait", "manual-wait", "1Gi", nil)
	f.volume(t, "pv-now", "manual-now", "1Gi", nil)

	f.claim(t, "now", "manual-now", "1Gi", "")
	f.sync(t, "now")
	if got := f.getClaim(t, "now"); got.Spec.VolumeName != "pv-now" || got.Status.Phase != corev1.ClaimBound {
		t.Fatalf("Immediate claim: volumeName %q phase %s, want pv-now Bound", got.Spec.VolumeName, got.Status.Phase)
	}

	f.claim(t, "wait", "manual-wait", "1Gi", "")
	f.sync(t, "wait")
	if got := f.getClaim(t, "wait"); got.Spec.VolumeName != "" || got.Status.Phase != corev1.ClaimPending {
		t.Fatalf("claim with no consumer: volumeName %q phase %s, want Pending", got.Spec.VolumeName, got.Status.Phase)
	}
	f.user(t, "gated", "wait", true)
	f.sync(t, "wait")
	if got := f.getClaim(t, "wait"); got.Status.Phase != corev1.ClaimPending {
		t.Fatalf("claim whose consumer is not scheduled: phase %s, want Pending", got.Status.Phase)
	}
	if pv := f.getVolume(t, "pv-wait"); pv.Spec.ClaimRef != nil {
		t.Fatalf("volume taken before the consumer was scheduled: %v", pv.Spec.ClaimRef)
	}
	f.user(t, "scheduled", "wait", false)
	f.sync(t, "wait")
	if got := f.getClaim(t, "wait"); got.Spec.VolumeName != "pv-wait" || got.Status.Phase != corev1.ClaimBound {
		t.Fatalf("claim with a scheduled consumer: volumeName %q phase %s, want pv-wait Bound", got.Spec.VolumeName, got.Status.Phase)
	}
}

// TestWaitForFirstConsumerPreBound: a pre-bound claim or volume binds at
// once, as upstream.
func TestWaitForFirstConsumerPreBound(t *testing.T) {
	f := newFixture(t)
	f.class(t, "manual-wait", "kubernetes.io/no-provisioner", storagev1.VolumeBindingWaitForFirstConsumer)
	f.volume(t, "pv-named", "manual-wait", "1Gi", nil)
	f.volume(t, "pv-ref", "manual-wait", "1Gi", &corev1.ObjectReference{Namespace: "default", Name: "by-ref"})
	f.claim(t, "by-name", "manual-wait", "1Gi", "pv-named")
	f.claim(t, "by-ref", "manual-wait", "1Gi", "")
	for claim, pv := range map[string]string{"by-name": "pv-named", "by-ref": "pv-ref"} {
		f.sync(t, claim)
		if got := f.getClaim(t, claim); got.Spec.VolumeName != pv || got.Status.Phase != corev1.ClaimBound {
			t.Errorf("%s: volumeName %q phase %s, want %s Bound", claim, got.Spec.VolumeName, got.Status.Phase, pv)
		}
	}
}

// TestProvisionAndExpand: peapod's provisioner makes a directory once the
// consumer is scheduled; growing the claim grows the recorded capacity of
// volume and claim.
func TestProvisionAndExpand(t *testing.T) {
	f := newFixture(t)
	f.class(t, "local-path", Provisioner, storagev1.VolumeBindingWaitForFirstConsumer)
	pvc := f.claim(t, "data", "local-path", "1Gi", "")
	f.sync(t, "data")
	if got := f.getClaim(t, "data"); got.Status.Phase != corev1.ClaimPending {
		t.Fatalf("provisioned before a consumer: %s", got.Status.Phase)
	}
	f.user(t, "web-0", "data", false)
	f.sync(t, "data")
	got := f.getClaim(t, "data")
	if got.Status.Phase != corev1.ClaimBound || got.Spec.VolumeName != "pvc-"+string(pvc.UID) {
		t.Fatalf("volumeName %q phase %s, want pvc-%s Bound", got.Spec.VolumeName, got.Status.Phase, pvc.UID)
	}
	pv := f.getVolume(t, got.Spec.VolumeName)
	if st, err := os.Stat(pv.Spec.HostPath.Path); err != nil || !st.IsDir() {
		t.Fatalf("volume directory: %v", err)
	}

	if _, err := f.claims.Update(f.ctx, "default", "data", func(cur runtime.Object) (runtime.Object, error) {
		o := cur.(*corev1.PersistentVolumeClaim).DeepCopy()
		o.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("3Gi")
		return o, nil
	}, registry.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.sync(t, "data")
	three := resource.MustParse("3Gi")
	got = f.getClaim(t, "data")
	if q := got.Status.Capacity[corev1.ResourceStorage]; q.Cmp(three) != 0 {
		t.Errorf("claim capacity %s, want 3Gi", q.String())
	}
	if q := f.getVolume(t, pv.Name).Spec.Capacity[corev1.ResourceStorage]; q.Cmp(three) != 0 {
		t.Errorf("volume capacity %s, want 3Gi", q.String())
	}
}
