package quota

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/configmap"
	"github.com/peapod/peapod/internal/registry/namespace"
	"github.com/peapod/peapod/internal/registry/pod"
	rbacapi "github.com/peapod/peapod/internal/registry/rbac"
	"github.com/peapod/peapod/internal/registry/resourcequota"
	"github.com/peapod/peapod/internal/registry/secret"
	storageapi "github.com/peapod/peapod/internal/registry/storage"
	"github.com/peapod/peapod/internal/testutil"
)

func rl(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

func container(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func TestPodUsage(t *testing.T) {
	now := time.Now()
	grace := int64(30)
	always := corev1.ContainerRestartPolicyAlways
	sidecar := container("side", rl("cpu", "100m"), nil)
	sidecar.RestartPolicy = &always
	for _, tc := range []struct {
		desc string
		pod  corev1.Pod
		want corev1.ResourceList
	}{
		{"requests and limits", corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
			container("a", rl("cpu", "250m", "memory", "64Mi"), rl("cpu", "500m", "memory", "128Mi")),
			container("b", rl("cpu", "250m", "memory", "64Mi"), rl("cpu", "500m", "memory", "128Mi")),
		}}}, rl("count/pods", "1", "pods", "1", "cpu", "500m", "requests.cpu", "500m", "memory", "128Mi", "requests.memory", "128Mi",
			"limits.cpu", "1", "limits.memory", "256Mi")},
		{"init containers: the larger of init and regular", corev1.Pod{Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{container("init", rl("cpu", "2"), nil)},
			Containers:     []corev1.Container{container("a", rl("cpu", "1"), nil)},
		}}, rl("count/pods", "1", "pods", "1", "cpu", "2", "requests.cpu", "2")},
		{"a sidecar adds to the regular containers", corev1.Pod{Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{sidecar},
			Containers:     []corev1.Container{container("a", rl("cpu", "1"), nil)},
		}}, rl("count/pods", "1", "pods", "1", "cpu", "1100m", "requests.cpu", "1100m")},
		{"extended resources only as requests.<name>", corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
			container("a", rl("example.com/gpu", "1"), rl("example.com/gpu", "1")),
		}}}, rl("count/pods", "1", "pods", "1", "requests.example.com/gpu", "1")},
		{"finished: only count/pods", corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{container("a", rl("cpu", "1"), nil)}},
			Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, rl("count/pods", "1")},
		{"deleted, within its grace: still counts", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &metav1.Time{Time: now}, DeletionGracePeriodSeconds: &grace},
			Spec: corev1.PodSpec{Containers: []corev1.Container{container("a", nil, nil)}}}, rl("count/pods", "1", "pods", "1")},
		{"deleted, grace over: only count/pods", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &metav1.Time{Time: now.Add(-time.Minute)}, DeletionGracePeriodSeconds: &grace},
			Spec: corev1.PodSpec{Containers: []corev1.Container{container("a", nil, nil)}}}, rl("count/pods", "1")},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got := podUsage(&tc.pod, now)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if g := got[k]; g.Cmp(v) != 0 {
					t.Errorf("%s: got %s, want %s", k, g.String(), v.String())
				}
			}
		})
	}
}

func TestMessages(t *testing.T) {
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "compute"},
		Spec: corev1.ResourceQuotaSpec{Hard: rl("limits.cpu", "2", "limits.memory", "1Gi", "requests.memory", "512Mi", "pods", "10")}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{container("init", nil, nil)},
		Containers:     []corev1.Container{container("app", rl("memory", "64Mi"), rl("cpu", "1")), container("aux", rl("memory", "64Mi"), rl("memory", "64Mi"))},
	}}
	if got, want := missingResources(q, pod), "must specify limits.cpu for: aux,init; limits.memory for: app,init; requests.memory for: init"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	used := rl("limits.cpu", "0", "limits.memory", "0", "requests.memory", "0", "pods", "1")
	got := exceeded(q, used, rl("limits.memory", "2Gi", "requests.memory", "1Gi", "pods", "1"))
	if want := "requested: limits.memory=2Gi,requests.memory=1Gi, used: limits.memory=0,requests.memory=0, limited: limits.memory=1Gi,requests.memory=512Mi"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got := exceeded(q, used, rl("pods", "1", "limits.cpu", "2")); got != "" {
		t.Errorf("within the quota: %q", got)
	}
}

func TestScopes(t *testing.T) {
	deadline := int64(10)
	guaranteed := corev1.Pod{Spec: corev1.PodSpec{PriorityClassName: "high", Containers: []corev1.Container{container("a", rl("cpu", "1"), rl("cpu", "1"))}}}
	bestEffort := corev1.Pod{Spec: corev1.PodSpec{ActiveDeadlineSeconds: &deadline, Containers: []corev1.Container{container("a", nil, nil)}}}
	for _, tc := range []struct {
		desc                  string
		spec                  corev1.ResourceQuotaSpec
		guaranteed, besteffor bool
	}{
		{"no scopes", corev1.ResourceQuotaSpec{}, true, true},
		{"BestEffort", corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{"BestEffort"}}, false, true},
		{"NotBestEffort", corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{"NotBestEffort"}}, true, false},
		{"Terminating", corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{"Terminating"}}, false, true},
		{"NotTerminating", corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{"NotTerminating"}}, true, false},
		{"PriorityClass In", corev1.ResourceQuotaSpec{ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
			{ScopeName: "PriorityClass", Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}}}}, true, false},
		{"PriorityClass DoesNotExist", corev1.ResourceQuotaSpec{ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
			{ScopeName: "PriorityClass", Operator: corev1.ScopeSelectorOpDoesNotExist}}}}, false, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			q := &corev1.ResourceQuota{Spec: tc.spec}
			if got := matches(q, &guaranteed); got != tc.guaranteed {
				t.Errorf("guaranteed pod: %v", got)
			}
			if got := matches(q, &bestEffort); got != tc.besteffor {
				t.Errorf("best-effort pod: %v", got)
			}
			if len(scopeSelectors(q)) > 0 && matches(q, nil) {
				t.Error("a scoped quota counts something that is not a pod")
			}
		})
	}
}

// TestConcurrentCreates: 50 config maps created at once against a quota
// of 10: exactly 10 are admitted, the rest refused with upstream's
// message, and the quota's status says 10.
func TestConcurrentCreates(t *testing.T) {
	ctx := context.Background()
	q, quotas, stores := newQuota(t, configmap.Resource(), resourcequota.Resource())
	configMaps := stores["configmaps"]
	if _, err := quotas.Create(ctx, "team", &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "objects"},
		Spec: corev1.ResourceQuotaSpec{Hard: rl("count/configmaps", "10", "configmaps", "10", "count/resourcequotas", "1")}}, false); err != nil {
		t.Fatal(err)
	}
	var admitted, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := configMaps.Create(ctx, "team", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}}, false)
			switch {
			case err == nil:
				admitted.Add(1)
			case apierrors.IsForbidden(err) && strings.Contains(err.Error(), `is forbidden: exceeded quota: objects, requested: configmaps=1,count/configmaps=1, used: configmaps=10,count/configmaps=10, limited: configmaps=10,count/configmaps=10`):
				refused.Add(1)
			default:
				t.Errorf("unexpected: %v", err)
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 10 || refused.Load() != 40 {
		t.Errorf("admitted %d, refused %d", admitted.Load(), refused.Load())
	}
	obj, _ := quotas.Get(ctx, "team", "objects")
	used := obj.(*corev1.ResourceQuota).Status.Used
	if c := used["count/configmaps"]; c.Value() != 10 {
		t.Errorf("status.used %v", used)
	}
	// The quota counts itself: a second one is refused.
	_, err := quotas.Create(ctx, "team", &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "second"}, Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "1")}}, false)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `resourcequotas "second" is forbidden: exceeded quota: objects, requested: count/resourcequotas=1`) {
		t.Errorf("second quota: %v", err)
	}
	// Deleting frees: the recalculation counts what is left.
	for i := range 50 {
		_, _, _ = configMaps.Delete(ctx, "team", fmt.Sprintf("cm-%d", i), nil, false)
	}
	if err := q.recalculate(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	obj, _ = quotas.Get(ctx, "team", "objects")
	if c := obj.(*corev1.ResourceQuota).Status.Used["configmaps"]; c.Value() != 0 {
		t.Errorf("after deletion: %v", obj.(*corev1.ResourceQuota).Status.Used)
	}
}

// TestScopedAdmission: pods admitted against scoped quotas (BestEffort,
// PriorityClass through scopeSelector) and against ephemeral-storage and
// secrets quotas: a quota only counts, and only refuses, what its scope
// selects, with upstream's exceeded message.
func TestScopedAdmission(t *testing.T) {
	ctx := context.Background()
	_, quotas, stores := newQuota(t, pod.Resource(&pod.Strategy{NodeName: "node", Now: time.Now}), secret.Resource(), resourcequota.Resource())
	pods, secrets := stores["pods"], stores["secrets"]
	for _, rq := range []*corev1.ResourceQuota{
		{ObjectMeta: metav1.ObjectMeta{Name: "best-effort"}, Spec: corev1.ResourceQuotaSpec{
			Hard: rl("pods", "1"), Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Spec: corev1.ResourceQuotaSpec{
			Hard: rl("pods", "1"), ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
				{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "storage"}, Spec: corev1.ResourceQuotaSpec{
			Hard: rl("requests.ephemeral-storage", "1Gi", "secrets", "1")}},
	} {
		if _, err := quotas.Create(ctx, "team", rq, false); err != nil {
			t.Fatal(err)
		}
	}
	newPod := func(name, priorityClass, storage string) *corev1.Pod {
		c := corev1.Container{Name: "app", Image: "busybox"}
		if storage != "" {
			// cpu too: ephemeral storage alone leaves a pod BestEffort.
			c.Resources.Requests = rl("ephemeral-storage", storage, "cpu", "10m")
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{PriorityClassName: priorityClass, Containers: []corev1.Container{c}}}
	}
	for _, tc := range []struct {
		obj  runtime.Object
		want string // "" admitted, else part of the 403
	}{
		{newPod("be-1", "", ""), ""},
		{newPod("be-2", "", ""), `pods "be-2" is forbidden: exceeded quota: best-effort, requested: pods=1, used: pods=1, limited: pods=1`},
		// Not best effort (it requests storage), so only "storage" counts it.
		{newPod("st-1", "", "600Mi"), ""},
		{newPod("st-2", "", "600Mi"), `pods "st-2" is forbidden: exceeded quota: storage, requested: requests.ephemeral-storage=600Mi, used: requests.ephemeral-storage=600Mi, limited: requests.ephemeral-storage=1Gi`},
		{newPod("hi-1", "high", "100Mi"), ""},
		{newPod("hi-2", "high", "100Mi"), `pods "hi-2" is forbidden: exceeded quota: high, requested: pods=1, used: pods=1, limited: pods=1`},
		{newPod("low-1", "low", "100Mi"), ""},
		{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s1"}}, ""},
		{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s2"}}, `secrets "s2" is forbidden: exceeded quota: storage, requested: secrets=1, used: secrets=1, limited: secrets=1`},
	} {
		store := pods
		if _, ok := tc.obj.(*corev1.Secret); ok {
			store = secrets
		}
		name := objectName(tc.obj)
		_, err := store.Create(ctx, "team", tc.obj, false)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.want != "" && (!apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %s", name, err, tc.want)
		}
	}
}

// TestResizeAdmission: a pods/resize update is charged the increase of
// each resource only: one that a quota cannot hold is refused with
// upstream's message, a decrease always passes, and the quota's status
// counts an admitted increase.
func TestResizeAdmission(t *testing.T) {
	ctx := context.Background()
	_, quotas, stores := newQuota(t, pod.Resource(&pod.Strategy{NodeName: "node", Now: time.Now}))
	pods := stores["pods"]
	if _, err := quotas.Create(ctx, "team", &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "compute"},
		Spec: corev1.ResourceQuotaSpec{Hard: rl("requests.cpu", "1")}}, false); err != nil {
		t.Fatal(err)
	}
	app := container("app", rl("cpu", "500m"), nil)
	app.Image = "busybox"
	if _, err := pods.Create(ctx, "team", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{app}}}, false); err != nil {
		t.Fatal(err)
	}
	resize := func(cpu string) error {
		_, err := pods.Update(ctx, "team", "web", func(cur runtime.Object) (runtime.Object, error) {
			p := cur.(*corev1.Pod).DeepCopy()
			p.Spec.Containers[0].Resources.Requests = rl("cpu", cpu)
			return p, nil
		}, registry.UpdateOptions{Resize: true})
		return err
	}
	err := resize("1200m")
	if want := `pods "web" is forbidden: exceeded quota: compute, requested: requests.cpu=700m, used: requests.cpu=500m, limited: requests.cpu=1`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("an increase over the quota: %v, want %s", err, want)
	}
	if err := resize("300m"); err != nil {
		t.Errorf("a decrease: %v", err)
	}
	if err := resize("900m"); err != nil {
		t.Errorf("an increase within the quota: %v", err)
	}
	obj, _ := quotas.Get(ctx, "team", "compute")
	if used := obj.(*corev1.ResourceQuota).Status.Used["requests.cpu"]; used.String() != "900m" {
		t.Errorf("status.used requests.cpu %s, want 900m", used.String())
	}
}

// newQuota opens a store with the namespace "team" and returns a quota
// plugin over it counting the given resources, and the quotas' store;
// counted stores go through the plugin's admission.
func newQuota(t *testing.T, counted ...*registry.Resource) (*Quota, *registry.Store, map[string]*registry.Store) {
	t.Helper()
	st := testutil.OpenStore(t)
	now := time.Now
	if _, err := registry.NewStore(namespace.Resource(), st, now).Create(context.Background(), "",
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, false); err != nil {
		t.Fatal(err)
	}
	quotas := registry.NewStore(resourcequota.Resource(), st, now)
	q := &Quota{Quotas: quotas, Now: now, Log: slog.New(slog.DiscardHandler), Counted: map[string]*registry.Store{}}
	stores := map[string]*registry.Store{}
	for _, res := range counted {
		s := quotas
		if res.Name != "resourcequotas" {
			s = registry.NewStore(res, st, now)
		}
		q.Counted[res.Key()], stores[res.Name] = s, s
		s.UseAdmission(q)
	}
	return q, quotas, stores
}

func TestClaimUsage(t *testing.T) {
	fast, vac := "fast", "gold"
	for _, tc := range []struct {
		desc string
		pvc  corev1.PersistentVolumeClaim
		want corev1.ResourceList
	}{
		{"a class", corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &fast,
			Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "2Gi")}}},
			rl("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "2Gi",
				"fast.storageclass.storage.k8s.io/requests.storage", "2Gi", "fast.storageclass.storage.k8s.io/persistentvolumeclaims", "1")},
		{"no class", corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{
			Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "1Gi")}}},
			rl("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "1Gi")},
		{"the beta annotation's class, a fraction of a byte rounded up", corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"volume.beta.kubernetes.io/storage-class": "slow"}},
			Spec:       corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "1500m")}}},
			rl("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "2",
				"slow.storageclass.storage.k8s.io/requests.storage", "2", "slow.storageclass.storage.k8s.io/persistentvolumeclaims", "1")},
		{"allocated more than requested", corev1.PersistentVolumeClaim{
			Spec:   corev1.PersistentVolumeClaimSpec{VolumeAttributesClassName: &vac, Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "1Gi")}},
			Status: corev1.PersistentVolumeClaimStatus{AllocatedResources: rl("storage", "3Gi")}},
			rl("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "3Gi")},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got := claimUsage(&tc.pvc)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for name, want := range tc.want {
				if g := got[name]; g.Cmp(want) != 0 {
					t.Errorf("%s: got %s, want %s", name, g.String(), want.String())
				}
			}
		})
	}
}

// TestClaimAdmission: claims are charged to quotas as upstream's claim
// evaluator charges them (requests.storage, per class, counts), an
// expansion is charged its increase, a VolumeAttributesClass-scoped quota
// counts only the claims of that class, and the controller's
// recalculation finds the same usage.
func TestClaimAdmission(t *testing.T) {
	ctx := context.Background()
	// Class "silver" lets its claims grow (the PersistentVolumeClaimResize
	// plugin runs before quota).
	grow := true
	classes := func(context.Context) ([]storagev1.StorageClass, error) {
		return []storagev1.StorageClass{{ObjectMeta: metav1.ObjectMeta{Name: "silver"}, AllowVolumeExpansion: &grow}}, nil
	}
	q, quotas, stores := newQuota(t, storageapi.ClaimResource(&storageapi.ClaimStrategy{Classes: classes}))
	claims := stores["persistentvolumeclaims"]
	for _, rq := range []*corev1.ResourceQuota{
		{ObjectMeta: metav1.ObjectMeta{Name: "storage"}, Spec: corev1.ResourceQuotaSpec{Hard: rl("requests.storage", "3Gi", "persistentvolumeclaims", "3")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, Spec: corev1.ResourceQuotaSpec{Hard: rl(
			"fast.storageclass.storage.k8s.io/requests.storage", "1Gi", "fast.storageclass.storage.k8s.io/persistentvolumeclaims", "1")}},
		// (A VolumeAttributesClass scope would match nothing: peapod
		// refuses claims naming one.)
		{ObjectMeta: metav1.ObjectMeta{Name: "gold"}, Spec: corev1.ResourceQuotaSpec{Hard: rl("gold.storageclass.storage.k8s.io/persistentvolumeclaims", "1")}},
	} {
		if _, err := quotas.Create(ctx, "team", rq, false); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(name, class, vac, size string) *corev1.PersistentVolumeClaim {
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: rl("storage", size)}}}
		if class != "" {
			pvc.Spec.StorageClassName = &class
		}
		if vac != "" {
			pvc.Spec.VolumeAttributesClassName = &vac
		}
		return pvc
	}
	for _, tc := range []struct {
		pvc  *corev1.PersistentVolumeClaim
		want string
	}{
		{claim("big", "", "", "4Gi"), `persistentvolumeclaims "big" is forbidden: exceeded quota: storage, requested: requests.storage=4Gi, used: requests.storage=0, limited: requests.storage=3Gi`},
		{claim("fast-1", "fast", "", "1Gi"), ""},
		{claim("fast-2", "fast", "", "500Mi"), `persistentvolumeclaims "fast-2" is forbidden: exceeded quota: fast, requested: fast.storageclass.storage.k8s.io/persistentvolumeclaims=1,fast.storageclass.storage.k8s.io/requests.storage=500Mi, used: fast.storageclass.storage.k8s.io/persistentvolumeclaims=1,fast.storageclass.storage.k8s.io/requests.storage=1Gi, limited: fast.storageclass.storage.k8s.io/persistentvolumeclaims=1,fast.storageclass.storage.k8s.io/requests.storage=1Gi`},
		{claim("gold-1", "gold", "", "1Gi"), ""},
		{claim("gold-2", "gold", "", "100Mi"), `persistentvolumeclaims "gold-2" is forbidden: exceeded quota: gold, requested: gold.storageclass.storage.k8s.io/persistentvolumeclaims=1, used: gold.storageclass.storage.k8s.io/persistentvolumeclaims=1, limited: gold.storageclass.storage.k8s.io/persistentvolumeclaims=1`},
		{claim("silver", "silver", "", "100Mi"), ""},
	} {
		_, err := claims.Create(ctx, "team", tc.pvc, false)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.pvc.Name, err)
		case tc.want != "" && (!apierrors.IsForbidden(err) || err.Error() != tc.want):
			t.Errorf("%s: %v\nwant %s", tc.pvc.Name, err, tc.want)
		}
	}
	used := func(name string) corev1.ResourceList {
		obj, err := quotas.Get(ctx, "team", name)
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*corev1.ResourceQuota).Status.Used
	}
	checkUsed := func(when, name string, want corev1.ResourceList) {
		t.Helper()
		got := used(name)
		for k, w := range want {
			if g := got[k]; g.Cmp(w) != 0 {
				t.Errorf("%s: quota %s used %s %s, want %s", when, name, k, g.String(), w.String())
			}
		}
	}
	checkUsed("after the creates", "storage", rl("requests.storage", "2148Mi", "persistentvolumeclaims", "3"))
	checkUsed("after the creates", "gold", rl("gold.storageclass.storage.k8s.io/persistentvolumeclaims", "1"))
	// Expanding "silver" to 1Gi fills the quota; to 2Gi it does not fit.
	expand := func(size string) error {
		_, err := claims.Update(ctx, "team", "silver", func(cur runtime.Object) (runtime.Object, error) {
			p := cur.(*corev1.PersistentVolumeClaim).DeepCopy()
			p.Spec.Resources.Requests = rl("storage", size)
			return p, nil
		}, registry.UpdateOptions{})
		return err
	}
	// Only a bound claim may grow: "silver" is bound first.
	if _, err := claims.Update(ctx, "team", "silver", func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*corev1.PersistentVolumeClaim).DeepCopy()
		p.Status.Phase = corev1.ClaimBound
		return p, nil
	}, registry.UpdateOptions{Status: true}); err != nil {
		t.Fatal(err)
	}
	if err := expand("1Gi"); err != nil {
		t.Errorf("an expansion within the quota: %v", err)
	}
	err := expand("2Gi")
	if want := `persistentvolumeclaims "silver" is forbidden: exceeded quota: storage, requested: requests.storage=1Gi, used: requests.storage=3Gi, limited: requests.storage=3Gi`; err == nil || err.Error() != want {
		t.Errorf("an expansion over the quota: %v\nwant %s", err, want)
	}
	// The controller's recalculation agrees with admission.
	if _, err := quotas.Update(ctx, "team", "storage", func(cur runtime.Object) (runtime.Object, error) {
		rq := cur.(*corev1.ResourceQuota).DeepCopy()
		rq.Status.Used = nil
		return rq, nil
	}, registry.UpdateOptions{Status: true}); err != nil {
		t.Fatal(err)
	}
	if err := q.recalculate(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	checkUsed("recalculated", "storage", rl("requests.storage", "3Gi", "persistentvolumeclaims", "3"))
	checkUsed("recalculated", "fast", rl("fast.storageclass.storage.k8s.io/requests.storage", "1Gi", "fast.storageclass.storage.k8s.io/persistentvolumeclaims", "1"))
}

// TestRBACCounts: Roles and RoleBindings count under their count/ names.
func TestRBACCounts(t *testing.T) {
	ctx := context.Background()
	_, quotas, stores := newQuota(t, rbacapi.RoleResource(nil), rbacapi.RoleBindingResource(nil))
	if _, err := quotas.Create(ctx, "team", &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "rbac"}, Spec: corev1.ResourceQuotaSpec{
		Hard: rl("count/roles.rbac.authorization.k8s.io", "1", "count/rolebindings.rbac.authorization.k8s.io", "1")}}, false); err != nil {
		t.Fatal(err)
	}
	roles, bindings := stores["roles"], stores["rolebindings"]
	binding := func(name string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "r1"}}
	}
	if _, err := roles.Create(ctx, "team", &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r1"}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := bindings.Create(ctx, "team", binding("b1"), false); err != nil {
		t.Fatal(err)
	}
	_, err := roles.Create(ctx, "team", &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r2"}}, false)
	if want := `roles.rbac.authorization.k8s.io "r2" is forbidden: exceeded quota: rbac, requested: count/roles.rbac.authorization.k8s.io=1, used: count/roles.rbac.authorization.k8s.io=1, limited: count/roles.rbac.authorization.k8s.io=1`; err == nil || err.Error() != want {
		t.Errorf("a second role: %v\nwant %s", err, want)
	}
	_, err = bindings.Create(ctx, "team", binding("b2"), false)
	if want := `rolebindings.rbac.authorization.k8s.io "b2" is forbidden: exceeded quota: rbac, requested: count/rolebindings.rbac.authorization.k8s.io=1, used: count/rolebindings.rbac.authorization.k8s.io=1, limited: count/rolebindings.rbac.authorization.k8s.io=1`; err == nil || err.Error() != want {
		t.Errorf("a second binding: %v\nwant %s", err, want)
	}
}

// TestPodLevelResources: a pod with spec.resources need not state
// requests and limits per container under a compute quota, as upstream.
func TestPodLevelResources(t *testing.T) {
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "compute"}, Spec: corev1.ResourceQuotaSpec{Hard: rl("requests.cpu", "1", "limits.memory", "1Gi")}}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	if got, want := missingResources(quota, pod), "must specify limits.memory for: app; requests.cpu for: app"; got != want {
		t.Errorf("container-level: %q, want %q", got, want)
	}
	pod.Spec.Resources = &corev1.ResourceRequirements{Requests: rl("cpu", "500m"), Limits: rl("memory", "256Mi")}
	if got := missingResources(quota, pod); got != "" {
		t.Errorf("pod-level: %q", got)
	}
}
