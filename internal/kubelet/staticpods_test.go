package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestReadManifests(t *testing.T) {
	tk := newTestKubelet(t)
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const web = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: app\n    image: busybox\n"
	write("web.yaml", web)
	write(".hidden.yaml", web)
	write("db.json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"db","namespace":"data"},"spec":{"containers":[{"name":"db","image":"busybox"}]}}`)
	for name, content := range map[string]string{
		"typo.yaml":    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: typo\nspec:\n  containerz: []\n",
		"secret.yaml":  "apiVersion: v1\nkind: Pod\nmetadata:\n  name: s\nspec:\n  containers:\n  - name: a\n    image: busybox\n    envFrom:\n    - secretRef: {name: x}\n",
		"account.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: sa\nspec:\n  serviceAccountName: builder\n  containers:\n  - name: a\n    image: busybox\n",
		"invalid.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: A\n    image: busybox\n",
		"notpod.yaml":  "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n",
	} {
		write(name, content)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	pods := tk.readManifests(context.Background(), dir)
	names := map[string]*corev1.Pod{}
	for _, p := range pods {
		names[p.Namespace+"/"+p.Name] = p
	}
	if len(names) != 2 || names["default/web-node"] == nil || names["data/db-node"] == nil {
		t.Fatalf("pods %v", names)
	}
	p := names["default/web-node"]
	if p.Spec.NodeName != "node" || p.Annotations["kubernetes.io/config.source"] != "file" || p.Annotations["kubernetes.io/config.hash"] != string(p.UID) ||
		len(p.UID) != 32 || p.Spec.ServiceAccountName != "" || *p.Spec.TerminationGracePeriodSeconds != 30 {
		t.Errorf("static pod %+v", p.ObjectMeta)
	}
	// The same content gives the same UID; another content another.
	again := tk.readManifests(context.Background(), dir)
	if _, ok := again[p.UID]; !ok {
		t.Error("UID changed between reads")
	}
	write("web.yaml", strings.Replace(web, "busybox", "busybox:1", 1))
	if _, ok := tk.readManifests(context.Background(), dir)[p.UID]; ok {
		t.Error("UID kept across a change")
	}
	var warnings []string
	for _, e := range tk.eventsFor("*") {
		warnings = append(warnings, e)
	}
	all := strings.Join(warnings, "\n")
	for _, want := range []string{
		`unknown field "spec.containerz"`,
		"static pods may not reference secrets",
		"static pods may not reference serviceaccounts",
		`spec.containers[0].name: Invalid value: "A"`,
		"invalid pod: kind Namespace",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no event says %q:\n%s", want, all)
		}
	}
}
