package kubelet

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/events"
)

// DNS limits of pkg/kubelet/network/dns (ExpandedDNSConfig, GA in 1.28).
const (
	maxNameservers     = 3
	maxSearchDomains   = 32
	maxSearchLineChars = 2048
)

// podDNS computes the pod's resolv.conf (GetPodDNS upstream). peapod runs
// no cluster DNS, so ClusterFirst falls back to Default with the upstream
// MissingClusterDNS warning.
func (k *Kubelet) podDNS(w *podWorker, pod *corev1.Pod) (*runtimeapi.DNSConfig, error) {
	policy := pod.Spec.DNSPolicy
	if policy == corev1.DNSClusterFirstWithHostNet || (policy == corev1.DNSClusterFirst && !pod.Spec.HostNetwork) {
		if !w.warnedDNS {
			w.warnedDNS = true
			k.cfg.Recorder.Eventf(pod, "", events.Warning, "MissingClusterDNS",
				"pod: %q. kubelet does not have ClusterDNS IP configured and cannot create Pod using %q policy. Falling back to %q policy.",
				fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID), policy, corev1.DNSDefault)
		}
		policy = corev1.DNSDefault
	}
	cfg := &runtimeapi.DNSConfig{}
	if policy == corev1.DNSClusterFirst || policy == corev1.DNSDefault {
		host, err := parseResolvConf(k.cfg.ResolvConf)
		if err != nil {
			return nil, err
		}
		cfg = host
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		cfg.Servers = appendUnique(cfg.Servers, dc.Nameservers...)
		cfg.Searches = appendUnique(cfg.Searches, dc.Searches...)
		cfg.Options = mergeDNSOptions(cfg.Options, dc.Options)
	}
	if len(cfg.Servers) > maxNameservers {
		cfg.Servers = cfg.Servers[:maxNameservers]
		k.cfg.Recorder.Eventf(pod, "", events.Warning, "DNSConfigForming",
			"Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: %s", strings.Join(cfg.Servers, " "))
	}
	if trimmed := trimSearches(cfg.Searches); len(trimmed) != len(cfg.Searches) {
		cfg.Searches = trimmed
		k.cfg.Recorder.Eventf(pod, "", events.Warning, "DNSConfigForming",
			"Search Line limits were exceeded, some search paths have been omitted, the applied search line is: %s", strings.Join(trimmed, " "))
	}
	return cfg, nil
}

// parseResolvConf reads nameserver, search/domain and options lines.
func parseResolvConf(path string) (*runtimeapi.DNSConfig, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		// What the kubelet does with --resolv-conf="".
		return &runtimeapi.DNSConfig{Servers: []string{"127.0.0.1"}, Searches: []string{"."}}, nil
	}
	if err != nil {
		return nil, err
	}
	cfg := &runtimeapi.DNSConfig{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			cfg.Servers = append(cfg.Servers, f[1])
		case "search", "domain":
			cfg.Searches = f[1:]
		case "options":
			cfg.Options = append(cfg.Options, f[1:]...)
		}
	}
	return cfg, sc.Err()
}

func appendUnique(list []string, add ...string) []string {
	seen := map[string]bool{}
	for _, s := range list {
		seen[s] = true
	}
	for _, s := range add {
		if !seen[s] {
			seen[s] = true
			list = append(list, s)
		}
	}
	return list
}

// mergeDNSOptions merges options by name; the pod's win.
func mergeDNSOptions(base []string, pod []corev1.PodDNSConfigOption) []string {
	index := map[string]int{}
	out := []string{}
	for _, o := range base {
		name, _, _ := strings.Cut(o, ":")
		index[name] = len(out)
		out = append(out, o)
	}
	for _, o := range pod {
		v := o.Name
		if o.Value != nil {
			v += ":" + *o.Value
		}
		if i, ok := index[o.Name]; ok {
			out[i] = v
		} else {
			index[o.Name] = len(out)
			out = append(out, v)
		}
	}
	return out
}

func trimSearches(s []string) []string {
	var out []string
	chars := 0
	for _, d := range s {
		if len(d) > 253 {
			continue
		}
		if len(out) == maxSearchDomains || chars+len(d)+len(out) > maxSearchLineChars {
			break
		}
		chars += len(d)
		out = append(out, d)
	}
	return out
}
