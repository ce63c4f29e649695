package pod

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Probes, lifecycle hooks, stop signals and container restart policies, as
// pkg/apis/core/validation validates them (validateProbe, validateHandler,
// validateLifecycle, validateStopSignal, validateInitContainerRestartPolicy).

var (
	supportedHTTPSchemes = sets.New(string(corev1.URISchemeHTTP), string(corev1.URISchemeHTTPS))
	supportedOSNames     = sets.New(string(corev1.Linux), string(corev1.Windows))
	// linuxStopSignals are the signals lifecycle.stopSignal may name on
	// Linux.
	linuxStopSignals = func() sets.Set[string] {
		s := sets.New("SIGABRT", "SIGALRM", "SIGBUS", "SIGCHLD", "SIGCLD", "SIGCONT", "SIGFPE", "SIGHUP", "SIGILL", "SIGINT",
			"SIGIO", "SIGIOT", "SIGKILL", "SIGPIPE", "SIGPOLL", "SIGPROF", "SIGPWR", "SIGQUIT", "SIGSEGV", "SIGSTKFLT", "SIGSTOP",
			"SIGSYS", "SIGTERM", "SIGTRAP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGUSR1", "SIGUSR2", "SIGVTALRM",
			"SIGWINCH", "SIGXCPU", "SIGXFSZ", "SIGRTMIN", "SIGRTMAX")
		for i := 1; i <= 15; i++ {
			s.Insert(fmt.Sprintf("SIGRTMIN+%d", i))
		}
		for i := 1; i <= 14; i++ {
			s.Insert(fmt.Sprintf("SIGRTMAX-%d", i))
		}
		return s
	}()
	windowsStopSignals = sets.New("SIGKILL", "SIGTERM")
)

func validateProbes(c *corev1.Container, path *field.Path, init bool) field.ErrorList {
	var errs field.ErrorList
	sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
		if p.probe == nil {
			continue
		}
		pp := path.Child(p.name)
		if init && !sidecar {
			errs = append(errs, field.Forbidden(pp, "may not be set for init containers without restartPolicy=Always"))
			continue
		}
		if p.name != "readinessProbe" && p.probe.SuccessThreshold != 1 {
			errs = append(errs, field.Invalid(pp.Child("successThreshold"), p.probe.SuccessThreshold, "must be 1"))
		}
		errs = append(errs, validateProbe(p.probe, p.name == "readinessProbe", pp)...)
	}
	return errs
}

// validateProbe checks one probe's numbers and handler.
func validateProbe(p *corev1.Probe, readiness bool, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		name  string
		value int32
	}{{"initialDelaySeconds", p.InitialDelaySeconds}, {"timeoutSeconds", p.TimeoutSeconds}, {"periodSeconds", p.PeriodSeconds},
		{"successThreshold", p.SuccessThreshold}, {"failureThreshold", p.FailureThreshold}} {
		if f.value < 0 {
			errs = append(errs, field.Invalid(path.Child(f.name), f.value, "must be greater than or equal to 0"))
		}
	}
	if g := p.TerminationGracePeriodSeconds; g != nil {
		switch {
		case readiness:
			errs = append(errs, field.Invalid(path.Child("terminationGracePeriodSeconds"), *g, "must not be set for readinessProbes"))
		case *g <= 0:
			errs = append(errs, field.Invalid(path.Child("terminationGracePeriodSeconds"), *g, "must be greater than 0"))
		}
	}
	h := p.ProbeHandler
	errs = append(errs, validateHandlerCount(path, h.Exec != nil, h.HTTPGet != nil, h.TCPSocket != nil, h.GRPC != nil)...)
	errs = append(errs, validateExec(h.Exec, path)...)
	errs = append(errs, validateHTTPGet(h.HTTPGet, path)...)
	if h.TCPSocket != nil {
		errs = append(errs, validatePortNumOrName(h.TCPSocket.Port, path.Child("tcpSocket", "port"))...)
	}
	if h.GRPC != nil {
		for _, msg := range validation.IsValidPortNum(int(h.GRPC.Port)) {
			errs = append(errs, field.Invalid(path.Child("grpc", "port"), h.GRPC.Port, msg))
		}
	}
	return errs
}

func validateHandlerCount(path *field.Path, set ...bool) field.ErrorList {
	n := 0
	for _, s := range set {
		if s {
			n++
		}
	}
	switch {
	case n == 0:
		return field.ErrorList{field.Required(path, "must specify a handler type")}
	case n > 1:
		return field.ErrorList{field.Forbidden(path, "may not specify more than 1 handler type")}
	}
	return nil
}

func validateExec(e *corev1.ExecAction, path *field.Path) field.ErrorList {
	if e != nil && len(e.Command) == 0 {
		return field.ErrorList{field.Required(path.Child("exec", "command"), "")}
	}
	return nil
}

func validateHTTPGet(h *corev1.HTTPGetAction, path *field.Path) field.ErrorList {
	if h == nil {
		return nil
	}
	var errs field.ErrorList
	hp := path.Child("httpGet")
	if h.Path == "" {
		errs = append(errs, field.Required(hp.Child("path"), ""))
	}
	errs = append(errs, validatePortNumOrName(h.Port, hp.Child("port"))...)
	if !supportedHTTPSchemes.Has(string(h.Scheme)) {
		errs = append(errs, notSupported(hp.Child("scheme"), h.Scheme, supportedHTTPSchemes))
	}
	for _, header := range h.HTTPHeaders {
		for _, msg := range validation.IsHTTPHeaderName(header.Name) {
			errs = append(errs, field.Invalid(hp.Child("httpHeaders"), header.Name, msg))
		}
	}
	return errs
}

// validatePortNumOrName is ValidatePortNumOrName: a number in range or an
// IANA service name.
func validatePortNumOrName(port intstr.IntOrString, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if port.Type == intstr.Int {
		for _, msg := range validation.IsValidPortNum(port.IntValue()) {
			errs = append(errs, field.Invalid(path, port.IntValue(), msg))
		}
		return errs
	}
	for _, msg := range validation.IsValidPortName(port.StrVal) {
		errs = append(errs, field.Invalid(path, port.StrVal, msg))
	}
	return errs
}

// validateLifecycles checks every container's lifecycle: hooks only on
// regular containers and sidecars, one handler each, a sleep no longer
// than the grace period, a stop signal the pod's OS has (which the pod
// must name).
func validateLifecycles(spec *corev1.PodSpec, grace int64, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, list := range []struct {
		ctrs []corev1.Container
		path *field.Path
		init bool
	}{{spec.InitContainers, path.Child("initContainers"), true}, {spec.Containers, path.Child("containers"), false}} {
		for i := range list.ctrs {
			c := &list.ctrs[i]
			if c.Lifecycle == nil {
				continue
			}
			lp := list.path.Index(i).Child("lifecycle")
			if list.init && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
				errs = append(errs, field.Forbidden(lp, "may not be set for init containers without restartPolicy=Always"))
				continue
			}
			for _, h := range []struct {
				name    string
				handler *corev1.LifecycleHandler
			}{{"postStart", c.Lifecycle.PostStart}, {"preStop", c.Lifecycle.PreStop}} {
				if h.handler != nil {
					errs = append(errs, validateLifecycleHandler(h.handler, grace, lp.Child(h.name))...)
				}
			}
			if c.Lifecycle.StopSignal != nil {
				errs = append(errs, validateStopSignal(*c.Lifecycle.StopSignal, spec.OS, lp.Child("stopSignal"))...)
			}
		}
	}
	if spec.OS != nil && !supportedOSNames.Has(string(spec.OS.Name)) {
		errs = append(errs, notSupported(path.Child("os", "name"), spec.OS.Name, supportedOSNames))
	}
	return errs
}

func validateLifecycleHandler(h *corev1.LifecycleHandler, grace int64, path *field.Path) field.ErrorList {
	errs := validateHandlerCount(path, h.Exec != nil, h.HTTPGet != nil, h.TCPSocket != nil, h.Sleep != nil)
	errs = append(errs, validateExec(h.Exec, path)...)
	errs = append(errs, validateHTTPGet(h.HTTPGet, path)...)
	if h.TCPSocket != nil {
		errs = append(errs, validatePortNumOrName(h.TCPSocket.Port, path.Child("tcpSocket", "port"))...)
	}
	if s := h.Sleep; s != nil && (s.Seconds < 0 || s.Seconds > grace) {
		errs = append(errs, field.Invalid(path.Child("sleep", "seconds"), s.Seconds,
			fmt.Sprintf("must be non-negative and less than terminationGracePeriodSeconds (%d)", grace)))
	}
	return errs
}

func validateStopSignal(sig corev1.Signal, os *corev1.PodOS, path *field.Path) field.ErrorList {
	if os == nil || os.Name == "" {
		return field.ErrorList{field.Forbidden(path, "may not be set for containers with empty `spec.os.name`")}
	}
	allowed := linuxStopSignals
	if os.Name == corev1.Windows {
		allowed = windowsStopSignals
	}
	if !allowed.Has(string(sig)) {
		return field.ErrorList{notSupported(path, sig, allowed)}
	}
	return nil
}

// validateRestartPolicy: a container-level restartPolicy makes an init
// container a sidecar (Always is the only value); regular containers may
// not have one (nor restartPolicyRules) here, as without upstream's alpha
// ContainerRestartRules.
func validateRestartPolicy(c *corev1.Container, path *field.Path, init bool) field.ErrorList {
	var errs field.ErrorList
	if c.RestartPolicy != nil {
		switch {
		case !init:
			errs = append(errs, field.Forbidden(path.Child("restartPolicy"), "may not be set for non-init containers"))
		case *c.RestartPolicy != corev1.ContainerRestartPolicyAlways:
			errs = append(errs, field.NotSupported(path.Child("restartPolicy"), *c.RestartPolicy, []string{string(corev1.ContainerRestartPolicyAlways)}))
		}
	}
	if len(c.RestartPolicyRules) > 0 {
		errs = append(errs, field.Forbidden(path.Child("restartPolicyRules"), "restart rules are not supported by peapod yet"))
	}
	return errs
}
