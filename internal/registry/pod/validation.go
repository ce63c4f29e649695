package pod

import (
	"fmt"

	"github.com/google/go-cmp/cmp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validation follows pkg/apis/core/validation/validation.go (ValidatePod,
// ValidatePodSpec, validateContainers, ValidatePodUpdate) for the fields
// peapod acts on; messages come from the same apimachinery helpers, so they
// read exactly like upstream's.

var (
	supportedRestartPolicies = sets.New(string(corev1.RestartPolicyAlways), string(corev1.RestartPolicyOnFailure), string(corev1.RestartPolicyNever))
	supportedDNSPolicies     = sets.New(string(corev1.DNSClusterFirstWithHostNet), string(corev1.DNSClusterFirst), string(corev1.DNSDefault), string(corev1.DNSNone))
	supportedPullPolicies    = sets.New(string(corev1.PullAlways), string(corev1.PullIfNotPresent), string(corev1.PullNever))
	supportedProtocols       = sets.New(string(corev1.ProtocolTCP), string(corev1.ProtocolUDP), string(corev1.ProtocolSCTP))
	supportedTermMsgPolicies = sets.New(string(corev1.TerminationMessageReadFile), string(corev1.TerminationMessageFallbackToLogsOnError))
)

// ValidatePod validates a new pod.
func ValidatePod(pod *corev1.Pod) field.ErrorList {
	errs := apimachineryvalidation.ValidateObjectMeta(&pod.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	errs = append(errs, validatePodSpec(&pod.Spec, field.NewPath("spec"))...)
	if len(pod.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "ephemeralContainers"), "cannot be set on create"))
	}
	return errs
}

func validatePodSpec(spec *corev1.PodSpec, path *field.Path) field.ErrorList {
	volumes, errs := validateVolumes(spec.Volumes, path.Child("volumes"))
	names := sets.New[string]()
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if spec.TerminationGracePeriodSeconds != nil {
		grace = *spec.TerminationGracePeriodSeconds
	}
	errs = append(errs, validateContainers(spec.InitContainers, path.Child("initContainers"), names, volumes, true)...)
	errs = append(errs, validateLifecycles(spec, grace, path)...)
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(path.Child("containers"), ""))
	}
	targets := names.Clone()
	errs = append(errs, validateContainers(spec.Containers, path.Child("containers"), names, volumes, false)...)
	errs = append(errs, validateEphemeralContainers(spec.EphemeralContainers, path.Child("ephemeralContainers"), names, volumes,
		targets.Union(containerNameSet(spec.Containers)))...)
	if !supportedRestartPolicies.Has(string(spec.RestartPolicy)) {
		errs = append(errs, notSupported(path.Child("restartPolicy"), spec.RestartPolicy, supportedRestartPolicies))
	}
	if !supportedDNSPolicies.Has(string(spec.DNSPolicy)) {
		errs = append(errs, notSupported(path.Child("dnsPolicy"), spec.DNSPolicy, supportedDNSPolicies))
	}
	if g := spec.TerminationGracePeriodSeconds; g != nil {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(*g, path.Child("terminationGracePeriodSeconds"))...)
	}
	if d := spec.ActiveDeadlineSeconds; d != nil && (*d < 1 || *d > 1<<31-1) {
		errs = append(errs, field.Invalid(path.Child("activeDeadlineSeconds"), *d, validation.InclusiveRangeError(1, 1<<31-1)))
	}
	if spec.NodeName != "" {
		for _, msg := range validation.IsDNS1123Subdomain(spec.NodeName) {
			errs = append(errs, field.Invalid(path.Child("nodeName"), spec.NodeName, msg))
		}
	}
	if spec.Hostname != "" {
		for _, msg := range validation.IsDNS1123Label(spec.Hostname) {
			errs = append(errs, field.Invalid(path.Child("hostname"), spec.Hostname, msg))
		}
	}
	if spec.Subdomain != "" {
		for _, msg := range validation.IsDNS1123Label(spec.Subdomain) {
			errs = append(errs, field.Invalid(path.Child("subdomain"), spec.Subdomain, msg))
		}
	}
	if spec.HostNetwork {
		// validateHostNetwork: a host-network pod's ports are the host's.
		for _, list := range []struct {
			ctrs []corev1.Container
			path *field.Path
		}{{spec.InitContainers, path.Child("initContainers")}, {spec.Containers, path.Child("containers")}} {
			for i, c := range list.ctrs {
				for j, p := range c.Ports {
					if p.HostPort != p.ContainerPort {
						errs = append(errs, field.Invalid(list.path.Index(i).Child("ports").Index(j).Child("containerPort"), p.ContainerPort,
							"must match `hostPort` when `hostNetwork` is true"))
					}
				}
			}
		}
	}
	if sc := spec.SecurityContext; sc != nil {
		errs = append(errs, validateSeccompProfile(sc.SeccompProfile, path.Child("securityContext", "seccompProfile"))...)
		if p := sc.SupplementalGroupsPolicy; p != nil && !supportedSupplementalGroupsPolicies.Has(string(*p)) {
			errs = append(errs, notSupported(path.Child("securityContext", "supplementalGroupsPolicy"), *p, supportedSupplementalGroupsPolicies))
		}
	}
	if spec.HostUsers != nil && !*spec.HostUsers {
		errs = append(errs, field.Forbidden(path.Child("hostUsers"), "user namespaces (hostUsers: false) are not supported by peapod yet"))
	}
	if name := spec.RuntimeClassName; name != nil {
		for _, msg := range validation.IsDNS1123Subdomain(*name) {
			errs = append(errs, field.Invalid(path.Child("runtimeClassName"), *name, msg))
		}
	}
	if len(spec.ResourceClaims) > 0 {
		errs = append(errs, field.Forbidden(path.Child("resourceClaims"), "dynamic resource allocation is not supported by peapod yet"))
	}
	if spec.Resources != nil {
		errs = append(errs, field.Forbidden(path.Child("resources"), "pod-level resources are not supported by peapod yet; set resources on the containers"))
	}
	if sp := spec.ShareProcessNamespace; sp != nil && *sp && spec.HostPID {
		errs = append(errs, field.Invalid(path.Child("securityContext", "shareProcessNamespace"), true, "ShareProcessNamespace and HostPID cannot both be enabled"))
	}
	return errs
}

func validateContainers(ctrs []corev1.Container, path *field.Path, names, volumes sets.Set[string], init bool) field.ErrorList {
	var errs field.ErrorList
	for i := range ctrs {
		c := &ctrs[i]
		idx := path.Index(i)
		errs = append(errs, validateUniqueName(c.Name, names, idx.Child("name"))...)
		if c.Image == "" {
			errs = append(errs, field.Required(idx.Child("image"), ""))
		} else if strings.TrimSpace(c.Image) != c.Image {
			errs = append(errs, field.Invalid(idx.Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
		if c.ImagePullPolicy != "" && !supportedPullPolicies.Has(string(c.ImagePullPolicy)) {
			errs = append(errs, notSupported(idx.Child("imagePullPolicy"), c.ImagePullPolicy, supportedPullPolicies))
		}
		if c.TerminationMessagePolicy != "" && !supportedTermMsgPolicies.Has(string(c.TerminationMessagePolicy)) {
			errs = append(errs, notSupported(idx.Child("terminationMessagePolicy"), c.TerminationMessagePolicy, supportedTermMsgPolicies))
		}
		errs = append(errs, validatePorts(c.Ports, idx.Child("ports"))...)
		errs = append(errs, validateEnv(c.Env, idx.Child("env"))...)
		errs = append(errs, validateResources(&c.Resources, idx.Child("resources"))...)
		if len(c.Resources.Claims) > 0 {
			errs = append(errs, field.Forbidden(idx.Child("resources", "claims"), "dynamic resource allocation is not supported by peapod yet"))
		}
		errs = append(errs, validateProbes(c, idx, init)...)
		errs = append(errs, validateRestartPolicy(c, idx, init)...)
		errs = append(errs, validateVolumeMounts(c, volumes, idx)...)
		if c.SecurityContext != nil {
			errs = append(errs, validateSeccompProfile(c.SecurityContext.SeccompProfile, idx.Child("securityContext", "seccompProfile"))...)
			if pm := c.SecurityContext.ProcMount; pm != nil && *pm != corev1.DefaultProcMount {
				errs = append(errs, field.Forbidden(idx.Child("securityContext", "procMount"), fmt.Sprintf("procMount %s is not supported by peapod yet (it needs user namespaces)", *pm)))
			}
		}
	}
	return errs
}

func validatePorts(ports []corev1.ContainerPort, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, p := range ports {
		idx := path.Index(i)
		if p.Name != "" {
			for _, msg := range validation.IsValidPortName(p.Name) {
				errs = append(errs, field.Invalid(idx.Child("name"), p.Name, msg))
			}
			if names.Has(p.Name) {
				errs = append(errs, field.Duplicate(idx.Child("name"), p.Name))
			}
			names.Insert(p.Name)
		}
		if p.ContainerPort == 0 {
			errs = append(errs, field.Required(idx.Child("containerPort"), ""))
		} else {
			for _, msg := range validation.IsValidPortNum(int(p.ContainerPort)) {
				errs = append(errs, field.Invalid(idx.Child("containerPort"), p.ContainerPort, msg))
			}
		}
		if p.HostPort != 0 {
			for _, msg := range validation.IsValidPortNum(int(p.HostPort)) {
				errs = append(errs, field.Invalid(idx.Child("hostPort"), p.HostPort, msg))
			}
		}
		if p.Protocol == "" {
			errs = append(errs, field.Required(idx.Child("protocol"), ""))
		} else if !supportedProtocols.Has(string(p.Protocol)) {
			errs = append(errs, notSupported(idx.Child("protocol"), p.Protocol, supportedProtocols))
		}
	}
	return errs
}

func validateEnv(env []corev1.EnvVar, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, e := range env {
		idx := path.Index(i)
		if e.Name == "" {
			errs = append(errs, field.Required(idx.Child("name"), ""))
			continue
		}
		for _, msg := range validation.IsRelaxedEnvVarName(e.Name) {
			errs = append(errs, field.Invalid(idx.Child("name"), e.Name, msg))
		}
	}
	return errs
}

func validateResources(r *corev1.ResourceRequirements, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, q := range r.Limits {
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(path.Child("limits").Key(string(name)), q.String(), "must be greater than or equal to 0"))
		}
	}
	for name, q := range r.Requests {
		p := path.Child("requests").Key(string(name))
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(p, q.String(), "must be greater than or equal to 0"))
		}
		if lim, ok := r.Limits[name]; ok && q.Cmp(lim) > 0 {
			// Upstream names the requests, not the one request.
			errs = append(errs, field.Invalid(path.Child("requests"), q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		}
	}
	return errs
}

func containerNameSet(ctrs []corev1.Container) sets.Set[string] {
	out := sets.New[string]()
	for i := range ctrs {
		out.Insert(ctrs[i].Name)
	}
	return out
}

func notSupported[T ~string](path *field.Path, value T, supported sets.Set[string]) *field.Error {
	return field.NotSupported(path, value, sets.List(supported))
}

// ValidatePodUpdate checks a main-resource update: besides metadata, only the
// fields upstream lets change may change.
func ValidatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := validateMirrorAnnotation(pod, old)
	errs = append(errs, validatePodSpec(&pod.Spec, field.NewPath("spec"))...)
	if len(pod.Spec.Containers) != len(old.Spec.Containers) {
		return append(errs, field.Forbidden(field.NewPath("spec", "containers"), "pod updates may not add or remove containers"))
	}
	// Copy the mutable fields of the new spec into the old one; anything
	// still different was an illegal change.
	mutated := *old.Spec.DeepCopy()
	for i := range mutated.Containers {
		mutated.Containers[i].Image = pod.Spec.Containers[i].Image
	}
	if len(pod.Spec.InitContainers) == len(mutated.InitContainers) {
		for i := range mutated.InitContainers {
			mutated.InitContainers[i].Image = pod.Spec.InitContainers[i].Image
		}
	}
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil && (old.Spec.ActiveDeadlineSeconds == nil || *d <= *old.Spec.ActiveDeadlineSeconds) {
		mutated.ActiveDeadlineSeconds = d
	}
	if len(pod.Spec.Tolerations) >= len(old.Spec.Tolerations) &&
		apiequality.Semantic.DeepEqual(pod.Spec.Tolerations[:len(old.Spec.Tolerations)], old.Spec.Tolerations) {
		mutated.Tolerations = pod.Spec.Tolerations
	}
	if g := old.Spec.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		mutated.TerminationGracePeriodSeconds = pod.Spec.TerminationGracePeriodSeconds
	}
	if len(pod.Spec.SchedulingGates) <= len(old.Spec.SchedulingGates) {
		mutated.SchedulingGates = pod.Spec.SchedulingGates
	}
	if !apiequality.Semantic.DeepEqual(mutated, pod.Spec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), forbiddenUpdateMessage+"\n"+cmp.Diff(mutated, pod.Spec)))
	}
	return errs
}

// forbiddenUpdateMessage is upstream's text; like upstream, a diff follows it.
const forbiddenUpdateMessage = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"

var supportedSupplementalGroupsPolicies = sets.New(string(corev1.SupplementalGroupsPolicyMerge), string(corev1.SupplementalGroupsPolicyStrict))

var supportedSeccompTypes = sets.New(string(corev1.SeccompProfileTypeRuntimeDefault), string(corev1.SeccompProfileTypeUnconfined), string(corev1.SeccompProfileTypeLocalhost))

// validateSeccompProfile is validateSeccompProfileField upstream.
func validateSeccompProfile(p *corev1.SeccompProfile, fldPath *field.Path) field.ErrorList {
	if p == nil {
		return nil
	}
	if !supportedSeccompTypes.Has(string(p.Type)) {
		return field.ErrorList{notSupported(fldPath.Child("type"), p.Type, supportedSeccompTypes)}
	}
	if p.Type == corev1.SeccompProfileTypeLocalhost {
		if p.LocalhostProfile == nil {
			return field.ErrorList{field.Required(fldPath.Child("localhostProfile"), "must be set when seccomp type is Localhost")}
		}
		return validateLocalDescendingPath(*p.LocalhostProfile, fldPath.Child("localhostProfile"))
	}
	if p.LocalhostProfile != nil {
		return field.ErrorList{field.Invalid(fldPath.Child("localhostProfile"), p.LocalhostProfile, "can only be set when seccomp type is Localhost")}
	}
	return nil
}

// validateUniqueName checks the name of a container or volume: required,
// a DNS label, not used before in names (which it joins).
func validateUniqueName(name string, names sets.Set[string], p *field.Path) field.ErrorList {
	defer names.Insert(name)
	switch {
	case name == "":
		return field.ErrorList{field.Required(p, "")}
	case names.Has(name):
		return field.ErrorList{field.Duplicate(p, name)}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(name) {
		errs = append(errs, field.Invalid(p, name, msg))
	}
	return errs
}
