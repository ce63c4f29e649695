package pod

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Defaults from pkg/apis/core/v1/defaults.go plus the admission plugins a
// default kube-apiserver runs on every pod (DefaultTolerationSeconds; the
// priority and preemption policy a pod has without the Priority plugin,
// internal/registry/priorityclass, which sets them first on create).
// The service account name is defaulted to "default" (mirrored into the
// deprecated serviceAccount field as the v1 conversion does); the rest of
// ServiceAccount admission is in serviceaccount.go.
const (
	defaultTerminationGracePeriod = int64(corev1.DefaultTerminationGracePeriodSeconds)
	defaultSchedulerName          = corev1.DefaultSchedulerName
	defaultTolerationSeconds      = int64(300)
)

// SetDefaults fills the fields kube-apiserver defaults on a pod.
func SetDefaults(pod *corev1.Pod) {
	spec := &pod.Spec
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.TerminationGracePeriodSeconds == nil {
		g := defaultTerminationGracePeriod
		spec.TerminationGracePeriodSeconds = &g
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	if spec.ServiceAccountName == "" && !isMirrorPod(pod) {
		// The ServiceAccount plugin's default; mirror pods get none.
		spec.ServiceAccountName = "default"
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName
	if spec.SchedulerName == "" {
		spec.SchedulerName = defaultSchedulerName
	}
	if spec.EnableServiceLinks == nil {
		t := corev1.DefaultEnableServiceLinks
		spec.EnableServiceLinks = &t
	}
	if spec.PriorityClassName == "" && spec.Priority == nil {
		p := int32(0)
		spec.Priority = &p
	}
	if spec.PreemptionPolicy == nil {
		pp := corev1.PreemptLowerPriority
		spec.PreemptionPolicy = &pp
	}
	defaultTolerations(spec)
	for i := range spec.Volumes {
		// SetDefaults_Volume: an image volume's pull policy as a
		// container's.
		if img := spec.Volumes[i].Image; img != nil && img.PullPolicy == "" {
			img.PullPolicy = defaultPullPolicy(img.Reference)
		}
	}
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i], spec.HostNetwork, true)
	}
	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i], spec.HostNetwork, true)
	}
	for i := range spec.EphemeralContainers {
		defaultContainer((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon), spec.HostNetwork, true)
	}
}

// SetTemplateDefaults fills what kube-apiserver defaults in the pod
// template of a workload (SetDefaults_PodSpec and the container, port,
// probe and volume defaults), but not what only pods get: requests from
// limits, the service account, priority, enableServiceLinks and the
// not-ready tolerations. Templates are hashed and shown defaulted.
func SetTemplateDefaults(t *corev1.PodTemplateSpec) {
	spec := &t.Spec
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.TerminationGracePeriodSeconds == nil {
		g := defaultTerminationGracePeriod
		spec.TerminationGracePeriodSeconds = &g
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = defaultSchedulerName
	}
	for i := range spec.Volumes {
		if img := spec.Volumes[i].Image; img != nil && img.PullPolicy == "" {
			img.PullPolicy = defaultPullPolicy(img.Reference)
		}
	}
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i], spec.HostNetwork, false)
	}
	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i], spec.HostNetwork, false)
	}
}

func defaultTolerations(spec *corev1.PodSpec) {
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		found := false
		for _, t := range spec.Tolerations {
			if (t.Key == key || t.Key == "") && (t.Effect == corev1.TaintEffectNoExecute || t.Effect == "") {
				found = true
			}
		}
		if !found {
			secs := defaultTolerationSeconds
			spec.Tolerations = append(spec.Tolerations, corev1.Toleration{
				Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs,
			})
		}
	}
}

func defaultContainer(c *corev1.Container, hostNetwork, requestsFromLimits bool) {
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	for i := range c.Ports {
		p := &c.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if hostNetwork && p.HostPort == 0 {
			p.HostPort = p.ContainerPort
		}
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil && vf.FieldRef != nil && vf.FieldRef.APIVersion == "" {
			vf.FieldRef.APIVersion = "v1"
		}
	}
	// Limits without requests become requests (SetDefaults_Pod), and every
	// quantity is rounded up to milli precision (SetDefaults_ResourceList).
	if requestsFromLimits {
		requestsFromContainerLimits(c)
	}
	roundUp(c.Resources.Limits)
	roundUp(c.Resources.Requests)
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		defaultProbe(p)
	}
	if l := c.Lifecycle; l != nil {
		for _, h := range []*corev1.LifecycleHandler{l.PostStart, l.PreStop} {
			if h != nil {
				defaultHTTPGet(h.HTTPGet)
			}
		}
	}
}

// DefaultRequests is the part of SetDefaults_Pod that admission must see:
// each container's limits without requests become its requests, so that
// LimitRanger's defaultRequest only fills what neither states (a
// container limited to 1 cpu stays Guaranteed with a request of 1).
func DefaultRequests(pod *corev1.Pod) {
	for i := range pod.Spec.InitContainers {
		requestsFromContainerLimits(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		requestsFromContainerLimits(&pod.Spec.Containers[i])
	}
}

func requestsFromContainerLimits(c *corev1.Container) {
	if len(c.Resources.Limits) == 0 {
		return
	}
	if c.Resources.Requests == nil {
		c.Resources.Requests = corev1.ResourceList{}
	}
	for name, q := range c.Resources.Limits {
		if _, ok := c.Resources.Requests[name]; !ok {
			c.Resources.Requests[name] = q.DeepCopy()
		}
	}
}

func roundUp(l corev1.ResourceList) {
	for name, q := range l {
		q.RoundUp(resource.Milli)
		l[name] = q
	}
}

func defaultProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	defaultHTTPGet(p.HTTPGet)
	if g := p.GRPC; g != nil && g.Service == nil {
		s := ""
		g.Service = &s
	}
}

// defaultHTTPGet is SetDefaults_HTTPGetAction.
func defaultHTTPGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

// defaultPullPolicy: Always for ":latest" or an untagged name without
// digest, IfNotPresent otherwise (SetDefaults_Container).
func defaultPullPolicy(image string) corev1.PullPolicy {
	if imageTag(image) == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// imageTag returns the tag of a reference: "latest" when there is neither a
// tag nor a digest, "" when there is only a digest.
func imageTag(image string) string {
	if strings.Contains(image, "@") {
		name := image[:strings.Index(image, "@")]
		if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
			return name[i+1:]
		}
		return ""
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[i+1:]
	}
	return "latest"
}
