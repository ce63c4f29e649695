package kubelet

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// etcHostsFile is the kubelet-managed /etc/hosts of a pod.
func (k *Kubelet) etcHostsFile(uid string) string {
	return filepath.Join(k.cfg.RootDir, "pods", uid, "etc-hosts")
}

// writeEtcHosts writes the pod's /etc/hosts (ensureHostsFile upstream).
func (k *Kubelet) writeEtcHosts(pod *corev1.Pod, podIPs []string, hostname string) error {
	var content []byte
	if pod.Spec.HostNetwork {
		host, err := os.ReadFile("/etc/hosts")
		if err != nil {
			return err
		}
		content = append([]byte("# Kubernetes-managed hosts file (host network).\n"), host...)
	} else {
		content = managedHostsContent(podIPs, hostname, pod.Spec.Subdomain, pod.Namespace)
	}
	content = append(content, hostAliasesContent(pod.Spec.HostAliases)...)
	return os.WriteFile(k.etcHostsFile(string(pod.UID)), content, 0o644)
}

// managedHostsContent is managedHostsFileContent upstream, quirks included.
func managedHostsContent(podIPs []string, hostname, subdomain, namespace string) []byte {
	var b bytes.Buffer
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	for _, ip := range podIPs {
		if subdomain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", ip, hostname, subdomain, namespace, clusterDomain, hostname)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
		}
	}
	return b.Bytes()
}

func hostAliasesContent(aliases []corev1.HostAlias) []byte {
	if len(aliases) == 0 {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("\n# Entries added by HostAliases.\n")
	for _, a := range aliases {
		b.WriteString(a.IP)
		for _, h := range a.Hostnames {
			b.WriteString("\t" + h)
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}
