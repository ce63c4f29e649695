package e2e

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// TestNodeNamespacesAndAccess checks what a fresh daemon serves: the node
// with its capacity and Ready condition, the system namespaces, a private
// kubeconfig, and no anonymous access.
func TestNodeNamespacesAndAccess(t *testing.T) {
	d := startDaemon(t)
	fi, err := os.Stat(d.kubeconfig)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	cfg, err := clientcmd.LoadFromFile(d.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	server := cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster].Server
	anon := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := anon.Get(server + "/api/v1/namespaces/default/pods")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"reason":"Unauthorized"`) {
		t.Errorf("anonymous request: %d %s", resp.StatusCode, body)
	}

	nodes, err := d.client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	n := nodes.Items[0]
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
		if q, ok := n.Status.Capacity[r]; !ok || q.Sign() <= 0 {
			t.Errorf("capacity %s = %v", r, n.Status.Capacity)
		}
		if q, ok := n.Status.Allocatable[r]; !ok || q.Sign() <= 0 {
			t.Errorf("allocatable %s = %v", r, n.Status.Allocatable)
		}
	}
	for _, version := range []string{"1.27", "1.33"} {
		out := d.mustKubectl(version, "", "get", "nodes", "-o", "wide", "--no-headers")
		if f := strings.Fields(out); len(f) < 6 || f[0] != n.Name || f[1] != "Ready" || f[5] == "<none>" {
			t.Errorf("kubectl %s get nodes -o wide: %q", version, out)
		}
		out = d.mustKubectl(version, "", "get", "namespaces", "--no-headers")
		for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			if !strings.Contains(out, ns+" ") || !strings.Contains(out, "Active") {
				t.Errorf("kubectl %s get ns lacks %s:\n%s", version, ns, out)
			}
		}
	}
}
