package podsecurity

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/deployment"
	"github.com/peapod/peapod/internal/registry/namespace"
	"github.com/peapod/peapod/internal/registry/pod"
	"github.com/peapod/peapod/internal/testutil"
)

// stores are the registry stores the plugin is attached to, as the
// daemon wires it.
type stores struct {
	namespaces, pods, deployments *registry.Store
	// unchecked writes namespaces without admission (as stored before
	// the plugin existed).
	unchecked *registry.Store
}

func newStores(t *testing.T) stores {
	t.Helper()
	st := testutil.OpenStore(t)
	s := stores{
		namespaces:  registry.NewStore(namespace.Resource(), st, time.Now),
		pods:        registry.NewStore(pod.Resource(&pod.Strategy{NodeName: "node", Now: time.Now}), st, time.Now),
		deployments: registry.NewStore(deployment.Resource(), st, time.Now),
		unchecked:   registry.NewStore(namespace.Resource(), st, time.Now),
	}
	a, err := New(s.namespaces, s.pods)
	if err != nil {
		t.Fatal(err)
	}
	s.namespaces.UseAdmission(a)
	s.pods.UseAdmission(a)
	s.deployments.UseAdmission(a)
	return s
}

// recording returns a context collecting the request's warnings and
// audit annotations.
func recording() (context.Context, *registry.Warnings, *registry.AuditAnnotations) {
	w, a := &registry.Warnings{}, &registry.AuditAnnotations{}
	return registry.WithAuditAnnotations(registry.WithWarnings(context.Background(), w), a), w, a
}

func (s stores) namespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	if _, err := s.namespaces.Create(context.Background(), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, false); err != nil {
		t.Fatal(err)
	}
}

func newPod(name string, sc *corev1.SecurityContext, psc *corev1.PodSecurityContext) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
		SecurityContext: psc,
		Containers:      []corev1.Container{{Name: "c", Image: "busybox", SecurityContext: sc}},
	}}
}

var (
	privileged = &corev1.SecurityContext{Privileged: ptr.To(true)}
	restricted = &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	restrictedPod = &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](1000),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
)

const (
	restrictedViolations = `allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
		`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
		`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
		`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
	privilegedViolation = `privileged (container "c" must not set securityContext.privileged=true)`
)

func TestPods(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		labels   map[string]string
		stored   bool // labels stored without the plugin
		pod      *corev1.Pod
		err      string
		warnings []string
		audit    map[string]string
	}{{
		desc:  "no labels: privileged",
		pod:   newPod("p", privileged, nil),
		audit: map[string]string{"pod-security.kubernetes.io/enforce-policy": "privileged:latest"},
	}, {
		desc:   "enforce baseline refuses a privileged container",
		labels: map[string]string{"pod-security.kubernetes.io/enforce": "baseline"},
		pod:    newPod("p", privileged, nil),
		err:    `pods "p" is forbidden: violates PodSecurity "baseline:latest": ` + privilegedViolation,
		audit:  map[string]string{"pod-security.kubernetes.io/enforce-policy": "baseline:latest"},
	}, {
		desc:   "enforce baseline admits a plain pod",
		labels: map[string]string{"pod-security.kubernetes.io/enforce": "baseline"},
		pod:    newPod("p", nil, nil),
		audit:  map[string]string{"pod-security.kubernetes.io/enforce-policy": "baseline:latest"},
	}, {
		desc:   "enforce restricted refuses a plain pod",
		labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
		pod:    newPod("p", nil, nil),
		err:    `pods "p" is forbidden: violates PodSecurity "restricted:latest": ` + restrictedViolations,
		audit:  map[string]string{"pod-security.kubernetes.io/enforce-policy": "restricted:latest"},
	}, {
		desc:   "enforce restricted with a version",
		labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "v1.30"},
		pod:    newPod("p", nil, nil),
		err:    `pods "p" is forbidden: violates PodSecurity "restricted:v1.30": ` + restrictedViolations,
		audit:  map[string]string{"pod-security.kubernetes.io/enforce-policy": "restricted:v1.30"},
	}, {
		desc:   "enforce restricted admits a compliant pod",
		labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
		pod:    newPod("p", restricted, restrictedPod),
		audit:  map[string]string{"pod-security.kubernetes.io/enforce-policy": "restricted:latest"},
	}, {
		desc:   "enforce privileged at any version is privileged:latest",
		labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged", "pod-security.kubernetes.io/enforce-version": "v1.20"},
		pod:    newPod("p", privileged, nil),
		audit:  map[string]string{"pod-security.kubernetes.io/enforce-policy": "privileged:latest"},
	}, {
		desc:   "an invalid stored enforce level enforces restricted",
		labels: map[string]string{"pod-security.kubernetes.io/enforce": "strict"},
		stored: true,
		pod:    newPod("p", nil, nil),
		err:    `pods "p" is forbidden: violates PodSecurity "restricted:latest": ` + restrictedViolations,
		audit: map[string]string{
			"pod-security.kubernetes.io/enforce-policy": "restricted:latest",
			"pod-security.kubernetes.io/error":          `Failed to parse policy: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted`,
		},
	}, {
		desc:   "an invalid stored warn level does not warn",
		labels: map[string]string{"pod-security.kubernetes.io/warn": "strict"},
		stored: true,
		pod:    newPod("p", privileged, nil),
		audit: map[string]string{
			"pod-security.kubernetes.io/enforce-policy": "privileged:latest",
			"pod-security.kubernetes.io/error":          `Failed to parse policy: metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: "strict": must be one of privileged, baseline, restricted`,
		},
	}, {
		desc:     "warn baseline warns and admits",
		labels:   map[string]string{"pod-security.kubernetes.io/warn": "baseline"},
		pod:      newPod("p", privileged, nil),
		warnings: []string{`would violate PodSecurity "baseline:latest": ` + privilegedViolation},
		audit:    map[string]string{"pod-security.kubernetes.io/enforce-policy": "privileged:latest"},
	}, {
		desc:   "audit restricted records the violations",
		labels: map[string]string{"pod-security.kubernetes.io/audit": "restricted"},
		pod:    newPod("p", nil, nil),
		audit: map[string]string{
			"pod-security.kubernetes.io/enforce-policy":   "privileged:latest",
			"pod-security.kubernetes.io/audit-violations": `would violate PodSecurity "restricted:latest": ` + restrictedViolations,
		},
	}, {
		desc:     "enforce baseline, warn restricted",
		labels:   map[string]string{"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted"},
		pod:      newPod("p", nil, nil),
		warnings: []string{`would violate PodSecurity "restricted:latest": ` + restrictedViolations},
		audit:    map[string]string{"pod-security.kubernetes.io/enforce-policy": "baseline:latest"},
	}, {
		desc:   "a refused pod gets no warnings",
		labels: map[string]string{"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted"},
		pod:    newPod("p", privileged, nil),
		err:    `pods "p" is forbidden: violates PodSecurity "baseline:latest": ` + privilegedViolation,
		audit:  map[string]string{"pod-security.kubernetes.io/enforce-policy": "baseline:latest"},
	}} {
		t.Run(tc.desc, func(t *testing.T) {
			s := newStores(t)
			if tc.stored {
				if _, err := s.unchecked.Create(context.Background(), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: tc.labels}}, false); err != nil {
					t.Fatal(err)
				}
			} else {
				s.namespace(t, "team", tc.labels)
			}
			ctx, warnings, audit := recording()
			_, err := s.pods.Create(ctx, "team", tc.pod, false)
			checkErr(t, err, tc.err, 403)
			if got := warnings.List(); !slices.Equal(got, tc.warnings) {
				t.Errorf("warnings %q\nwant %q", got, tc.warnings)
			}
			if got := audit.Map(); !maps.Equal(got, tc.audit) {
				t.Errorf("audit annotations %q\nwant %q", got, tc.audit)
			}
		})
	}
}

func TestPodUpdates(t *testing.T) {
	s := newStores(t)
	s.namespace(t, "team", nil)
	if _, err := s.pods.Create(context.Background(), "team", newPod("p", privileged, nil), false); err != nil {
		t.Fatal(err)
	}
	// The namespace turns baseline after the pod was admitted.
	if _, err := s.namespaces.Update(context.Background(), "", "team", func(cur runtime.Object) (runtime.Object, error) {
		ns := cur.DeepCopyObject().(*corev1.Namespace)
		ns.Labels["pod-security.kubernetes.io/enforce"] = "baseline"
		return ns, nil
	}, registry.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	refused := `pods "p" is forbidden: violates PodSecurity "baseline:latest": ` + privilegedViolation
	for _, tc := range []struct {
		desc   string
		change func(*corev1.Pod)
		opts   registry.UpdateOptions
		err    string
	}{{
		desc:   "labels only",
		change: func(p *corev1.Pod) { p.Labels = map[string]string{"app": "x"} },
	}, {
		desc:   "status",
		change: func(p *corev1.Pod) { p.Status.Message = "hello" },
		opts:   registry.UpdateOptions{Status: true},
	}, {
		desc:   "image",
		change: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "busybox:2" },
		err:    refused,
	}, {
		desc: "ephemeral container",
		change: func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile}})
		},
		opts: registry.UpdateOptions{EphemeralContainers: true},
		err:  refused,
	}} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := s.pods.Update(context.Background(), "team", "p", func(cur runtime.Object) (runtime.Object, error) {
				p := cur.DeepCopyObject().(*corev1.Pod)
				tc.change(p)
				return p, nil
			}, tc.opts)
			checkErr(t, err, tc.err, 403)
		})
	}
}

func TestWorkloads(t *testing.T) {
	s := newStores(t)
	s.namespace(t, "team", map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: newPod("", nil, nil).Spec},
	}}
	ctx, warnings, audit := recording()
	if _, err := s.deployments.Create(ctx, "team", d, false); err != nil {
		t.Fatalf("a workload is never refused: %v", err)
	}
	// warn follows the enforce level when unset.
	want := []string{`would violate PodSecurity "restricted:latest": ` + restrictedViolations}
	if got := warnings.List(); !slices.Equal(got, want) {
		t.Errorf("warnings %q\nwant %q", got, want)
	}
	if got := audit.Map(); len(got) != 0 {
		t.Errorf("audit annotations %q, want none (audit is privileged)", got)
	}
	// A scale write is a subresource: not looked at.
	ctx, warnings, _ = recording()
	if _, err := s.deployments.Update(ctx, "team", "web", func(cur runtime.Object) (runtime.Object, error) {
		d := cur.DeepCopyObject().(*appsv1.Deployment)
		d.Spec.Replicas = ptr.To[int32](3)
		return d, nil
	}, registry.UpdateOptions{Scale: true}); err != nil {
		t.Fatal(err)
	}
	if got := warnings.List(); len(got) != 0 {
		t.Errorf("scale warnings %q, want none", got)
	}
}

func TestNamespaceLabels(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		labels map[string]string
		err    string
	}{{
		desc:   "valid",
		labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "v1.30", "pod-security.kubernetes.io/warn-version": "latest"},
	}, {
		desc:   "bad level",
		labels: map[string]string{"pod-security.kubernetes.io/enforce": "strict"},
		err:    `Namespace "team" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted`,
	}, {
		desc:   "bad version",
		labels: map[string]string{"pod-security.kubernetes.io/audit-version": "1.30"},
		err:    `Namespace "team" is invalid: metadata.labels[pod-security.kubernetes.io/audit-version]: Invalid value: "1.30": must be "latest" or "v1.x"`,
	}} {
		t.Run(tc.desc, func(t *testing.T) {
			s := newStores(t)
			_, err := s.namespaces.Create(context.Background(), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: tc.labels}}, false)
			checkErr(t, err, tc.err, 422)
			if tc.err == "" {
				return
			}
			// The same labels set by an update are refused too.
			s.namespace(t, "team", nil)
			_, err = s.namespaces.Update(context.Background(), "", "team", func(cur runtime.Object) (runtime.Object, error) {
				ns := cur.DeepCopyObject().(*corev1.Namespace)
				for k, v := range tc.labels {
					ns.Labels[k] = v
				}
				return ns, nil
			}, registry.UpdateOptions{})
			checkErr(t, err, tc.err, 422)
		})
	}
}

func TestNamespaceEnforceTightened(t *testing.T) {
	s := newStores(t)
	s.namespace(t, "team", nil)
	for _, p := range []*corev1.Pod{newPod("priv-b", privileged, nil), newPod("priv-a", privileged, nil), newPod("plain", nil, nil), newPod("ok", restricted, restrictedPod)} {
		if _, err := s.pods.Create(context.Background(), "team", p, false); err != nil {
			t.Fatal(err)
		}
	}
	setLabels := func(labels map[string]string) []string {
		t.Helper()
		ctx, warnings, _ := recording()
		if _, err := s.namespaces.Update(ctx, "", "team", func(cur runtime.Object) (runtime.Object, error) {
			ns := cur.DeepCopyObject().(*corev1.Namespace)
			for k, v := range labels {
				ns.Labels[k] = v
			}
			return ns, nil
		}, registry.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return warnings.List()
	}
	got := setLabels(map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	want := []string{
		`existing pods in namespace "team" violate the new PodSecurity enforce level "restricted:latest"`,
		`plain: allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile`,
		`priv-a (and 1 other pod): privileged, allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("tightening warnings\n%q\nwant\n%q", got, want)
	}
	// Relaxing, or an unchanged enforce level, checks nothing.
	if got := setLabels(map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}); len(got) != 0 {
		t.Errorf("relaxing warned %q", got)
	}
	if got := setLabels(map[string]string{"other": "label"}); len(got) != 0 {
		t.Errorf("an unrelated label warned %q", got)
	}
}

func checkErr(t *testing.T, err error, want string, code int32) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want == "":
	case err == nil:
		t.Fatalf("no error, want %q", want)
	case err.Error() != want:
		t.Fatalf("error %q\nwant  %q", err, want)
	default:
		var se *apierrors.StatusError
		if !errors.As(err, &se) || se.ErrStatus.Code != code {
			t.Fatalf("error %#v, want code %d", err, code)
		}
	}
}

func TestNamespaceStoredInvalidLabels(t *testing.T) {
	s := newStores(t)
	if _, err := s.unchecked.Create(context.Background(), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team",
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "strict"}}}, false); err != nil {
		t.Fatal(err)
	}
	update := func(k, v string) error {
		_, err := s.namespaces.Update(context.Background(), "", "team", func(cur runtime.Object) (runtime.Object, error) {
			ns := cur.DeepCopyObject().(*corev1.Namespace)
			ns.Labels[k] = v
			return ns, nil
		}, registry.UpdateOptions{})
		return err
	}
	// Labels that stay as invalid as they were do not block other changes.
	if err := update("team", "a"); err != nil {
		t.Errorf("an unrelated label: %v", err)
	}
	err := update("pod-security.kubernetes.io/enforce", "stricter")
	checkErr(t, err, `Namespace "team" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "stricter": must be one of privileged, baseline, restricted`, 422)
}
