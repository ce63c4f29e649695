package nscontroller

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/configmap"
	"github.com/peapod/peapod/internal/registry/deployment"
	"github.com/peapod/peapod/internal/registry/namespace"
	"github.com/peapod/peapod/internal/registry/pod"
	"github.com/peapod/peapod/internal/registry/secret"
	"github.com/peapod/peapod/internal/testutil"
)

// failingDeletes is a store whose deletes fail.
type failingDeletes struct {
	*registry.Store
	fail bool
}

func (f *failingDeletes) Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions, dryRun bool) (runtime.Object, bool, error) {
	if f.fail {
		return nil, false, errors.New("boom")
	}
	return f.Store.Delete(ctx, ns, name, opts, dryRun)
}

type fixture struct {
	namespaces, pods, configMaps, deployments, secrets *registry.Store
	failing                                            *failingDeletes
	c                                                  *Controller
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st := testutil.OpenStore(t)
	f := &fixture{
		namespaces:  registry.NewStore(namespace.Resource(), st, time.Now),
		pods:        registry.NewStore(pod.Resource(&pod.Strategy{NodeName: "node", Now: time.Now}), st, time.Now),
		configMaps:  registry.NewStore(configmap.Resource(), st, time.Now),
		deployments: registry.NewStore(deployment.Resource(), st, time.Now),
		secrets:     registry.NewStore(secret.Resource(), st, time.Now),
	}
	f.failing = &failingDeletes{Store: f.secrets}
	f.c = &Controller{Namespaces: f.namespaces, Content: []Store{f.pods, f.deployments, f.configMaps, f.failing}, Log: slog.New(slog.DiscardHandler)}
	if _, err := f.namespaces.Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, false); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) conditions(t *testing.T) map[corev1.NamespaceConditionType]corev1.NamespaceCondition {
	t.Helper()
	obj, err := f.namespaces.Get(context.Background(), "", "team")
	if err != nil {
		t.Fatal(err)
	}
	out := map[corev1.NamespaceConditionType]corev1.NamespaceCondition{}
	for _, c := range obj.(*corev1.Namespace).Status.Conditions {
		out[c.Type] = c
	}
	return out
}

// expect checks each condition's status, reason and message.
func expect(t *testing.T, when string, got map[corev1.NamespaceConditionType]corev1.NamespaceCondition, want []corev1.NamespaceCondition) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d conditions, want %d: %+v", when, len(got), len(want), got)
	}
	for _, w := range want {
		g := got[w.Type]
		if g.Status != w.Status || g.Reason != w.Reason || g.Message != w.Message {
			t.Errorf("%s: %s is %s/%s %q\nwant %s/%s %q", when, w.Type, g.Status, g.Reason, g.Message, w.Status, w.Reason, w.Message)
		}
	}
}

var allClear = []corev1.NamespaceCondition{
	{Type: corev1.NamespaceDeletionDiscoveryFailure, Status: corev1.ConditionFalse, Reason: "ResourcesDiscovered", Message: "All resources successfully discovered"},
	{Type: corev1.NamespaceDeletionGVParsingFailure, Status: corev1.ConditionFalse, Reason: "ParsedGroupVersions", Message: "All legacy kube types successfully parsed"},
	{Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionFalse, Reason: "ContentDeleted", Message: "All content successfully deleted, may be waiting on finalization"},
	{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionFalse, Reason: "ContentRemoved", Message: "All content successfully removed"},
	{Type: corev1.NamespaceFinalizersRemaining, Status: corev1.ConditionFalse, Reason: "ContentHasNoFinalizers", Message: "All content-preserving finalizers finished"},
}

// TestDeletion walks a namespace's deletion: pods go first (nothing else
// is touched while one is left); then a failed delete, the content left
// and the finalizers holding it turn their conditions True with
// upstream's reasons and messages; once they are cleared the namespace is
// finalized and goes.
func TestDeletion(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	hold := []string{"example.com/hold"}
	if _, err := f.pods.Create(ctx, "team", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.configMaps.Create(ctx, "team", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: hold}}, false); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	if _, err := f.deployments.Create(ctx, "team", &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Finalizers: hold}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}},
	}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.secrets.Create(ctx, "team", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.namespaces.Delete(ctx, "", "team", &metav1.DeleteOptions{}, false); err != nil {
		t.Fatal(err)
	}
	f.failing.fail = true

	// The pod is being deleted (gracefully); nothing else is yet.
	if done, err := f.c.sync(ctx, "team"); done || err != nil {
		t.Fatalf("sync with a pod left: %v %v", done, err)
	}
	expect(t, "a pod left", f.conditions(t), allClear)
	obj, err := f.pods.Get(ctx, "team", "web")
	if err != nil || obj.(*corev1.Pod).DeletionTimestamp == nil {
		t.Errorf("the pod is not being deleted: %v", err)
	}
	if obj, _ := f.configMaps.Get(ctx, "team", "held"); obj.(*corev1.ConfigMap).DeletionTimestamp != nil {
		t.Error("the config map was deleted before the pods were gone")
	}
	// The pod ends (what the kubelet does).
	if _, _, err := f.pods.Delete(ctx, "team", "web", metav1.NewDeleteOptions(0), false); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if _, err := f.pods.Get(ctx, "team", "web"); !apierrors.IsNotFound(err) {
		t.Fatalf("the pod is still there: %v", err)
	}

	if done, err := f.c.sync(ctx, "team"); done || err != nil {
		t.Fatalf("sync with content left: %v %v", done, err)
	}
	expect(t, "content left", f.conditions(t), []corev1.NamespaceCondition{
		allClear[0], allClear[1],
		{Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionTrue, Reason: "ContentDeletionFailed",
			Message: `Failed to delete all resource types, 1 remaining: secrets "s": boom`},
		{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, Reason: "SomeResourcesRemain",
			Message: "Some resources are remaining: configmaps. has 1 resource instances, deployments.apps has 1 resource instances, secrets. has 1 resource instances"},
		{Type: corev1.NamespaceFinalizersRemaining, Status: corev1.ConditionTrue, Reason: "SomeFinalizersRemain",
			Message: "Some content in the namespace has finalizers remaining: example.com/hold in 2 resource instances"},
	})
	before := f.conditions(t)[corev1.NamespaceContentRemaining].LastTransitionTime

	// The finalizers are removed and deletes work again.
	f.failing.fail = false
	for _, st := range []*registry.Store{f.configMaps, f.deployments} {
		name := "held"
		if st == f.deployments {
			name = "web"
		}
		if _, err := st.Update(ctx, "team", name, func(cur runtime.Object) (runtime.Object, error) {
			o := cur.DeepCopyObject()
			m, _ := o.(metav1.Object)
			m.SetFinalizers(nil)
			m.SetResourceVersion("")
			return o, nil
		}, registry.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	if done, err := f.c.sync(ctx, "team"); done || err != nil {
		t.Fatalf("sync deleting the secret: %v %v", done, err)
	}
	conds := f.conditions(t)
	expect(t, "the secret left", conds, []corev1.NamespaceCondition{
		allClear[0], allClear[1], allClear[2],
		{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, Reason: "SomeResourcesRemain",
			Message: "Some resources are remaining: secrets. has 1 resource instances"},
		allClear[4],
	})
	if got := conds[corev1.NamespaceContentRemaining].LastTransitionTime; !got.Equal(&before) {
		t.Errorf("ContentRemaining's lastTransitionTime moved without a status change: %v, was %v", got, before)
	}
	if done, err := f.c.sync(ctx, "team"); !done || err != nil {
		t.Fatalf("sync with nothing left: %v %v", done, err)
	}
	if _, err := f.namespaces.Get(ctx, "", "team"); !apierrors.IsNotFound(err) {
		t.Errorf("the namespace is still there: %v", err)
	}
}
