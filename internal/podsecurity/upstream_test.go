package podsecurity

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	psadmission "k8s.io/pod-security-admission/admission"
	psadmissionapi "k8s.io/pod-security-admission/admission/api"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/metrics"
	"k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"

	"github.com/peapod/peapod/internal/registry"
)

// The tests below hold the plugin to upstream's admission package (which
// the daemon does not link): the same requests get the same decision,
// error, warnings and audit annotations from both.

type upstreamNamespaces struct{ store *registry.Store }

func (g upstreamNamespaces) GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	obj, err := g.store.Get(ctx, "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Namespace), nil
}

type upstreamPods struct{ store *registry.Store }

func (l upstreamPods) ListPods(ctx context.Context, ns string) ([]*corev1.Pod, error) {
	obj, err := l.store.List(ctx, ns, registry.ListOptions{})
	if err != nil {
		return nil, err
	}
	var pods []*corev1.Pod
	for i := range obj.(*corev1.PodList).Items {
		pods = append(pods, &obj.(*corev1.PodList).Items[i])
	}
	return pods, nil
}

type noMetrics struct{}

func (noMetrics) RecordEvaluation(metrics.Decision, psapi.LevelVersion, metrics.Mode, psapi.Attributes) {
}
func (noMetrics) RecordExemption(psapi.Attributes)   {}
func (noMetrics) RecordError(bool, psapi.Attributes) {}

func newUpstream(t *testing.T, s stores) *psadmission.Admission {
	t.Helper()
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &psadmission.Admission{
		Configuration: &psadmissionapi.PodSecurityConfiguration{Defaults: psadmissionapi.PodSecurityDefaults{
			Enforce: "privileged", EnforceVersion: "latest", Audit: "privileged", AuditVersion: "latest", Warn: "privileged", WarnVersion: "latest"}},
		Evaluator:        evaluator,
		Metrics:          noMetrics{},
		PodSpecExtractor: psadmission.DefaultPodSpecExtractor{},
		NamespaceGetter:  upstreamNamespaces{s.namespaces},
		PodLister:        upstreamPods{s.pods},
	}
	if err := a.CompleteConfiguration(); err != nil {
		t.Fatal(err)
	}
	if err := a.ValidateConfiguration(); err != nil {
		t.Fatal(err)
	}
	return a
}

// outcome is what a request leaves: its error and what it recorded.
type outcome struct {
	err      string
	code     int32
	warnings []string
	audit    map[string]string
}

func (o outcome) String() string {
	return fmt.Sprintf("err %q (%d)\nwarnings %q\naudit %q", o.err, o.code, o.warnings, o.audit)
}

func (o outcome) equal(p outcome) bool {
	return o.err == p.err && o.code == p.code && slices.Equal(o.warnings, p.warnings) && maps.Equal(o.audit, p.audit)
}

// upstreamOutcome is what kube-apiserver's plugin makes of the library's
// response.
func upstreamOutcome(resp *admissionv1.AdmissionResponse) outcome {
	o := outcome{warnings: resp.Warnings, audit: map[string]string{}}
	for k, v := range resp.AuditAnnotations {
		o.audit[psapi.AuditAnnotationPrefix+k] = v
	}
	if !resp.Allowed {
		o.err, o.code = resp.Result.Message, resp.Result.Code
	}
	return o
}

func ours(t *testing.T, fn func(ctx context.Context) error) outcome {
	t.Helper()
	ctx, warnings, audit := recording()
	err := fn(ctx)
	o := outcome{warnings: warnings.List(), audit: audit.Map()}
	if o.audit == nil {
		o.audit = map[string]string{}
	}
	if err != nil {
		se, ok := err.(*apierrors.StatusError)
		if !ok {
			t.Fatalf("not a Status error: %v", err)
		}
		o.err, o.code = se.ErrStatus.Message, se.ErrStatus.Code
	}
	return o
}

func TestSameAsUpstream(t *testing.T) {
	const p = "pod-security.kubernetes.io/"
	labelSets := []map[string]string{
		nil,
		{p + "enforce": "baseline"},
		{p + "enforce": "restricted"},
		{p + "enforce": "restricted", p + "enforce-version": "v1.22"},
		{p + "enforce": "privileged", p + "enforce-version": "v1.20"},
		{p + "warn": "baseline"},
		{p + "warn": "restricted", p + "warn-version": "v1.24"},
		{p + "audit": "restricted"},
		{p + "enforce": "baseline", p + "warn": "restricted", p + "audit": "restricted"},
		{p + "enforce": "baseline", p + "audit": "baseline"},
		{p + "enforce": "strict"},
		{p + "warn": "strict", p + "audit-version": "1.2"},
	}
	hostPath := newPod("p", nil, nil)
	hostPath.Spec.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}}}
	hostPath.Spec.HostNetwork = true
	root := newPod("p", restricted, &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](0),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}})
	pods := []*corev1.Pod{newPod("p", nil, nil), newPod("p", privileged, nil), newPod("p", restricted, restrictedPod), hostPath, root}

	for i, labels := range labelSets {
		for j, pod := range pods {
			t.Run(fmt.Sprintf("labels%d/pod%d", i, j), func(t *testing.T) {
				s := newStores(t)
				up := newUpstream(t, s)
				if _, err := s.unchecked.Create(context.Background(), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: labels}}, false); err != nil {
					t.Fatal(err)
				}
				a, err := New(s.namespaces, s.pods)
				if err != nil {
					t.Fatal(err)
				}
				podRes, deployRes := s.pods.Resource(), s.deployments.Resource()
				attrs := func(res *registry.Resource, op admissionv1.Operation, sub string, obj, old runtime.Object) *psapi.AttributesRecord {
					gv := res.GroupVersion()
					return &psapi.AttributesRecord{Name: "p", Namespace: "team", Kind: gv.WithKind(res.Kind), Resource: gv.WithResource(res.Name),
						Subresource: sub, Operation: op, Object: obj, OldObject: old}
				}
				compare := func(what string, want, got outcome) {
					t.Helper()
					if !want.equal(got) {
						t.Errorf("%s: ours\n%s\nupstream\n%s", what, got, want)
					}
				}
				// Create.
				compare("create", upstreamOutcome(up.Validate(context.Background(), attrs(podRes, admissionv1.Create, "", pod, nil))),
					ours(t, func(ctx context.Context) error { _, err := a.Validate(ctx, podRes, "team", pod); return err }))
				// Updates: an image change, a label change, an ephemeral
				// container, status.
				changed := pod.DeepCopy()
				changed.Spec.Containers[0].Image = "busybox:2"
				relabelled := pod.DeepCopy()
				relabelled.Labels = map[string]string{"a": "b"}
				debugged := pod.DeepCopy()
				debugged.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "d", Image: "busybox"}}}
				for _, u := range []struct {
					what, sub string
					obj       *corev1.Pod
				}{{"image", "", changed}, {"labels", "", relabelled}, {"ephemeral", "ephemeralcontainers", debugged}, {"status", "status", changed}} {
					compare("update "+u.what, upstreamOutcome(up.Validate(context.Background(), attrs(podRes, admissionv1.Update, u.sub, u.obj, pod))),
						ours(t, func(ctx context.Context) error { return a.ValidateEveryUpdate(ctx, podRes, "team", u.sub, u.obj, pod) }))
				}
				// A Deployment with the pod as its template.
				d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: pod.Spec}}}
				compare("deployment", upstreamOutcome(up.Validate(context.Background(), attrs(deployRes, admissionv1.Create, "", d, nil))),
					ours(t, func(ctx context.Context) error { _, err := a.Validate(ctx, deployRes, "team", d); return err }))
			})
		}
	}
}

func TestSameAsUpstreamNamespaces(t *testing.T) {
	const p = "pod-security.kubernetes.io/"
	s := newStores(t)
	up := newUpstream(t, s)
	a, err := New(s.namespaces, s.pods)
	if err != nil {
		t.Fatal(err)
	}
	s.namespace(t, "team", nil)
	owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "rs-uid", Controller: ptr.To(true)}
	for i, p := range []*corev1.Pod{newPod("z-priv", privileged, nil), newPod("priv", privileged, nil), newPod("plain", nil, nil),
		newPod("ok", restricted, restrictedPod), newPod("rs-b", privileged, nil), newPod("rs-a", privileged, nil)} {
		if i >= 4 {
			p.OwnerReferences = []metav1.OwnerReference{owner}
		}
		if _, err := s.pods.Create(context.Background(), "team", p, false); err != nil {
			t.Fatal(err)
		}
	}
	nsRes := s.namespaces.Resource()
	ns := func(labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: labels}}
	}
	for i, tc := range []struct{ old, new map[string]string }{
		{nil, map[string]string{p + "enforce": "restricted"}},
		{nil, map[string]string{p + "enforce": "baseline", p + "enforce-version": "v1.25"}},
		{map[string]string{p + "enforce": "restricted"}, map[string]string{p + "enforce": "baseline"}},
		{map[string]string{p + "enforce": "restricted"}, map[string]string{p + "enforce": "baseline", p + "enforce-version": "v1.30"}},
		{map[string]string{p + "enforce": "baseline"}, map[string]string{p + "enforce": "privileged"}},
		{nil, map[string]string{p + "enforce": "strict"}},
		{map[string]string{p + "enforce": "strict"}, map[string]string{p + "enforce": "strict", "x": "y"}},
		{map[string]string{p + "enforce": "strict"}, map[string]string{p + "enforce": "stricter"}},
		{nil, map[string]string{p + "warn-version": "2"}},
	} {
		gvr := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
		gvk := schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
		newNS, oldNS := ns(tc.new), ns(tc.old)
		want := upstreamOutcome(up.Validate(context.Background(), &psapi.AttributesRecord{Name: "team", Namespace: "team", Kind: gvk, Resource: gvr,
			Operation: admissionv1.Update, Object: newNS, OldObject: oldNS}))
		got := ours(t, func(ctx context.Context) error { return a.ValidateEveryUpdate(ctx, nsRes, "", "", newNS, oldNS) })
		if !want.equal(got) {
			t.Errorf("update %d: ours\n%s\nupstream\n%s", i, got, want)
		}
		want = upstreamOutcome(up.Validate(context.Background(), &psapi.AttributesRecord{Name: "team", Namespace: "team", Kind: gvk, Resource: gvr,
			Operation: admissionv1.Create, Object: newNS}))
		got = ours(t, func(ctx context.Context) error { _, err := a.Validate(ctx, nsRes, "", newNS); return err })
		if !want.equal(got) {
			t.Errorf("create %d: ours\n%s\nupstream\n%s", i, got, want)
		}
	}
}
