// Package podsecurity is kube-apiserver's PodSecurity admission plugin: the
// Pod Security Standards levels (privileged, baseline, restricted) a
// namespace asks for with its pod-security.kubernetes.io/enforce, audit and
// warn labels (and their -version labels) are checked by the upstream
// library k8s.io/pod-security-admission, which this package adapts to the
// registry's admission chain.
//
// Pods created or updated in a way that matters (a container added, an
// image changed, an ephemeral container) are refused when they violate the
// enforce level; the warn level adds "Warning:" headers; the audit level
// and the enforced policy are recorded as audit annotations
// (registry.AddAuditAnnotation). Workload kinds with a pod template are
// warned about and audited, never refused. Namespaces with invalid labels
// are refused, and tightening a namespace's enforce level warns about the
// pods already there that would be refused. As upstream's default
// AdmissionConfiguration, namespaces without labels are privileged and
// nothing is exempt.
package podsecurity

import (
	"context"
	"errors"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	psadmission "k8s.io/pod-security-admission/admission"
	psadmissionapi "k8s.io/pod-security-admission/admission/api"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/peapod/peapod/internal/registry"
)

// Admission is the PodSecurity admission plugin. Attach it to the stores
// of pods, namespaces and the workload kinds with a pod template.
type Admission struct {
	delegate *psadmission.Admission
}

// New returns the plugin reading namespaces from the namespaces store and
// listing pods (to check a namespace's new enforce level) from the pods
// store.
func New(namespaces, pods *registry.Store) (*Admission, error) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("pod security checks: %w", err)
	}
	d := &psadmission.Admission{
		Configuration:    defaultConfiguration(),
		Evaluator:        evaluator,
		Metrics:          noMetrics{},
		PodSpecExtractor: psadmission.DefaultPodSpecExtractor{},
		NamespaceGetter:  namespaceGetter{namespaces},
		PodLister:        podLister{pods},
	}
	if err := d.CompleteConfiguration(); err != nil {
		return nil, fmt.Errorf("pod security configuration: %w", err)
	}
	if err := d.ValidateConfiguration(); err != nil {
		return nil, fmt.Errorf("pod security configuration: %w", err)
	}
	return &Admission{delegate: d}, nil
}

// defaultConfiguration is what kube-apiserver uses without an
// AdmissionConfiguration for PodSecurity: privileged:latest in all three
// modes, no exemptions.
func defaultConfiguration() *psadmissionapi.PodSecurityConfiguration {
	return &psadmissionapi.PodSecurityConfiguration{
		Defaults: psadmissionapi.PodSecurityDefaults{
			Enforce: string(psapi.LevelPrivileged), EnforceVersion: psapi.VersionLatest,
			Audit: string(psapi.LevelPrivileged), AuditVersion: psapi.VersionLatest,
			Warn: string(psapi.LevelPrivileged), WarnVersion: psapi.VersionLatest,
		},
	}
}

// Mutate does nothing: PodSecurity only validates.
func (a *Admission) Mutate(ctx context.Context, res *registry.Resource, ns string, obj runtime.Object) error {
	return nil
}

// Validate admits a create.
func (a *Admission) Validate(ctx context.Context, res *registry.Resource, ns string, obj runtime.Object) (func(bool), error) {
	return nil, a.admit(ctx, attributes(res, ns, "", admissionv1.Create, obj, nil))
}

// ValidateEveryUpdate admits an update of the object or of one of its
// subresources; the library decides which matter (for pods: not status or
// binding, and only changes of containers or images).
func (a *Admission) ValidateEveryUpdate(ctx context.Context, res *registry.Resource, ns, subresource string, obj, old runtime.Object) error {
	return a.admit(ctx, attributes(res, ns, subresource, admissionv1.Update, obj, old))
}

// applies reports whether the plugin looks at requests for gr, as
// upstream's plugin: pods, namespaces and the kinds with a pod template.
func (a *Admission) applies(gr schema.GroupResource) bool {
	return gr == corev1.Resource("pods") || gr == corev1.Resource("namespaces") ||
		a.delegate.PodSpecExtractor.HasPodSpec(gr)
}

// admit asks the library and turns its response into the request's
// warnings, audit annotations and, when refused, the error.
func (a *Admission) admit(ctx context.Context, attrs *psapi.AttributesRecord) error {
	if !a.applies(attrs.Resource.GroupResource()) {
		return nil
	}
	resp := a.delegate.Validate(ctx, attrs)
	for _, w := range resp.Warnings {
		registry.AddWarning(ctx, w)
	}
	for k, v := range resp.AuditAnnotations {
		registry.AddAuditAnnotation(ctx, psapi.AuditAnnotationPrefix+k, v)
	}
	if resp.Allowed {
		return nil
	}
	return refusal(attrs, resp.Result)
}

// refusal is the error of a refused request: the library's status (403
// Forbidden for a violation, 422 Invalid for bad labels) over a generic
// Forbidden, as kube-apiserver's plugin builds it.
func refusal(attrs *psapi.AttributesRecord, result *metav1.Status) error {
	err := apierrors.NewForbidden(attrs.Resource.GroupResource(), attrs.Name, errors.New("Not allowed by PodSecurity"))
	if result == nil {
		return err
	}
	if result.Message != "" {
		err.ErrStatus.Message = result.Message
	}
	if result.Reason != "" {
		err.ErrStatus.Reason = result.Reason
	}
	if result.Details != nil {
		err.ErrStatus.Details = result.Details
	}
	if result.Code != 0 {
		err.ErrStatus.Code = result.Code
	}
	return err
}
