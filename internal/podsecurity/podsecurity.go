// Package podsecurity is kube-apiserver's PodSecurity admission plugin: the
// Pod Security Standards level (privileged, baseline, restricted) a
// namespace asks for with its pod-security.kubernetes.io/enforce, audit and
// warn labels (and their -version labels). The labels are parsed and pods
// are checked by the upstream library k8s.io/pod-security-admission (its
// api and policy packages: the checks and their messages); this package
// makes the decisions its admission package makes, with the same messages.
// That package is not linked: it brings client-go's typed clientset and
// Prometheus (11 MiB more resident memory in a program that links nothing
// else) for a few hundred lines.
//
// Pods created, or updated in a way that matters (a container added, an
// image changed, an ephemeral container), are refused when they violate
// the enforce level; the warn level adds "Warning:" headers; the enforced
// policy and the audit level's violations are recorded as audit
// annotations (registry.AddAuditAnnotation). Workload kinds with a pod
// template are warned about and audited, never refused. Namespaces with
// invalid labels are refused, and tightening a namespace's enforce level
// warns about the pods already there that it would refuse. As upstream's
// default AdmissionConfiguration, namespaces without labels are privileged
// and nothing is exempt.
package podsecurity

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/peapod/peapod/internal/registry"
)

// Admission is the PodSecurity admission plugin. Attach it to the stores
// of pods, namespaces and the workload kinds with a pod template.
type Admission struct {
	// Namespaces is the namespaces store, read for their labels.
	Namespaces *registry.Store
	// Pods is the pods store, listed when a namespace's enforce level
	// tightens.
	Pods *registry.Store

	evaluator policy.Evaluator
	// defaults is the policy of a namespace without labels.
	defaults psapi.Policy
}

// New returns the plugin with upstream's checks at their latest version.
func New(namespaces, pods *registry.Store) (*Admission, error) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("pod security checks: %w", err)
	}
	privileged := psapi.LevelVersion{Level: psapi.LevelPrivileged, Version: psapi.LatestVersion()}
	return &Admission{Namespaces: namespaces, Pods: pods, evaluator: evaluator,
		defaults: psapi.Policy{Enforce: privileged, Audit: privileged, Warn: privileged}}, nil
}

// Mutate does nothing: PodSecurity only validates.
func (a *Admission) Mutate(ctx context.Context, res *registry.Resource, ns string, obj runtime.Object) error {
	return nil
}

// Validate admits a create.
func (a *Admission) Validate(ctx context.Context, res *registry.Resource, ns string, obj runtime.Object) (func(bool), error) {
	return nil, a.admit(ctx, res, ns, "", obj, nil)
}

// ValidateEveryUpdate admits an update of the object or of one of its
// subresources.
func (a *Admission) ValidateEveryUpdate(ctx context.Context, res *registry.Resource, ns, subresource string, obj, old runtime.Object) error {
	return a.admit(ctx, res, ns, subresource, obj, old)
}

// admit dispatches on the kind, as upstream's Validate; old is nil for a
// create.
func (a *Admission) admit(ctx context.Context, res *registry.Resource, ns, subresource string, obj, old runtime.Object) error {
	switch o := obj.(type) {
	case *corev1.Namespace:
		if subresource != "" {
			return nil
		}
		oldNS, _ := old.(*corev1.Namespace)
		return a.admitNamespace(ctx, o, oldNS)
	case *corev1.Pod:
		oldPod, _ := old.(*corev1.Pod)
		return a.admitPod(ctx, res, ns, subresource, o, oldPod)
	}
	if subresource != "" {
		return nil
	}
	if template := podTemplate(obj); template != nil {
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil
		}
		a.auditTemplate(ctx, ns, m.GetName(), template)
	}
	return nil
}

// policyOf returns the policy ns's labels ask for and the labels' errors
// (an invalid label falls back as upstream's PolicyToEvaluate says).
func (a *Admission) policyOf(ctx context.Context, ns string) (psapi.Policy, field.ErrorList, error) {
	obj, err := a.Namespaces.Get(ctx, "", ns)
	if err != nil {
		return psapi.Policy{}, nil, err
	}
	nsObj, ok := obj.(*corev1.Namespace)
	if !ok {
		return psapi.Policy{}, nil, fmt.Errorf("namespace %q: unexpected %T", ns, obj)
	}
	p, errs := psapi.PolicyToEvaluate(nsObj.Labels, a.defaults)
	return p, errs, nil
}

// audit records an audit annotation under upstream's key prefix.
func audit(ctx context.Context, key, value string) {
	registry.AddAuditAnnotation(ctx, psapi.AuditAnnotationPrefix+key, value)
}
