package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

const computeResources = `apiVersion: v1
kind: ResourceQuota
metadata:
  name: compute-resources
spec:
  hard:
    requests.cpu: "1"
    requests.memory: 1Gi
    limits.cpu: "2"
    limits.memory: 2Gi
`

// TestSeed003Transcript runs seed 003's session command for command with
// kubectl 1.27 and 1.33 and compares the output line by line (AGE aside;
// a server of 1.33 or later prints REQUEST and LIMIT before AGE).
func TestSeed003Transcript(t *testing.T) {
	for _, v := range []string{"1.27", "1.33"} {
		t.Run(v, func(t *testing.T) {
			d := startDaemon(t)
			file := filepath.Join(t.TempDir(), "compute-resources.yaml")
			if err := os.WriteFile(file, []byte(computeResources), 0o644); err != nil {
				t.Fatal(err)
			}
			age := regexp.MustCompile(`\s+[0-9]+s$`)
			for _, step := range []struct {
				args []string
				want []string
			}{
				{[]string{"create", "namespace", "demo"}, []string{"namespace/demo created"}},
				{[]string{"create", "-f", file, "--namespace=demo"}, []string{"resourcequota/compute-resources created"}},
				{[]string{"get", "quota", "--namespace=demo"}, []string{
					"NAME                REQUEST                                     LIMIT                                   AGE",
					"compute-resources   requests.cpu: 0/1, requests.memory: 0/1Gi   limits.cpu: 0/2, limits.memory: 0/2Gi",
				}},
				{[]string{"label", "namespace", "demo", "env=dev"}, []string{"namespace/demo labeled"}},
				{[]string{"get", "namespace", "-l", "env=dev"}, []string{"NAME   STATUS   AGE", "demo   Active"}},
			} {
				var out string
				// The quota's status is computed right after it is
				// made; the printer shows nothing before.
				d.waitFor("kubectl "+strings.Join(step.args, " "), 10*time.Second, func() (bool, error) {
					var err error
					if out, _, err = d.kubectl(v, "", step.args...); err != nil && step.args[0] == "create" {
						return false, fmt.Errorf("kubectl %s: %v", strings.Join(step.args, " "), err)
					}
					return !strings.Contains(out, "compute-resources                                                           "), nil
				})
				lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
				if len(lines) != len(step.want) {
					t.Fatalf("kubectl %s %s:\n%s", v, strings.Join(step.args, " "), out)
				}
				for i, line := range lines {
					if i > 0 || len(step.want) == 1 {
						line = age.ReplaceAllString(line, "")
					}
					if strings.TrimRight(line, " ") != strings.TrimRight(step.want[i], " ") {
						t.Errorf("kubectl %s %s, line %d:\ngot  %q\nwant %q", v, strings.Join(step.args, " "), i+1, line, step.want[i])
					}
				}
			}
		})
	}
}

// quotaPod is a pod whose one container asks cpu and memory (limits twice
// the requests), and whose init container asks a little.
func quotaPod(name, cpu, memory string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - {name: init, image: busybox, imagePullPolicy: IfNotPresent, command: ["true"], resources: {requests: {cpu: 10m, memory: 8Mi}, limits: {cpu: 20m, memory: 16Mi}}}
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
    resources:
      requests: {cpu: %s, memory: %s}
      limits: {cpu: %s, memory: %s}
`, name, cpu, memory, double(cpu), double(memory))
}

func double(q string) string {
	v := resource.MustParse(q)
	v.Add(v)
	return v.String()
}

// quotaRow is the REQUEST and LIMIT cells of `kubectl get quota`.
func (d *daemon) quotaUsed(ns, name string) corev1.ResourceList {
	d.t.Helper()
	q, err := d.client.CoreV1().ResourceQuotas(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		d.t.Fatal(err)
	}
	return q.Status.Used
}

// TestResourceQuota: in a namespace with a compute quota, a pod without
// requests and limits is refused (must specify), pods that fit are
// admitted and counted, one that would exceed is refused (exceeded quota),
// deleting a pod or its finishing frees its share at once; a LimitRange's
// defaults make a pod without requests admissible; 50 pods created at once
// against pods: 10 admit exactly 10.
func TestResourceQuota(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	d.mustKubectl("1.33", "", "create", "namespace", "demo")
	d.mustKubectl("1.33", computeResources, "create", "-f", "-", "--namespace=demo")

	for _, v := range []string{"1.27", "1.33"} {
		_, stderr, err := d.kubectl(v, "", "run", "bare", "-n", "demo", "--image=busybox", "--image-pull-policy=IfNotPresent", "--", "sleep", "60")
		want := `Error from server (Forbidden): pods "bare" is forbidden: failed quota: compute-resources: must specify limits.cpu for: bare; limits.memory for: bare; requests.cpu for: bare; requests.memory for: bare`
		if err == nil || strings.TrimSpace(stderr) != want {
			t.Errorf("kubectl %s: a pod without requests: %v\n%s", v, err, stderr)
		}
	}
	d.mustKubectl("1.33", quotaPod("first", "490m", "256Mi"), "apply", "-n", "demo", "-f", "-")
	d.mustKubectl("1.33", quotaPod("second", "400m", "256Mi"), "apply", "-n", "demo", "-f", "-")
	for _, v := range []string{"1.27", "1.33"} {
		out := d.mustKubectl(v, "", "get", "quota", "-n", "demo", "--no-headers")
		// A pod counts the larger of its init and its regular
		// containers: the app's.
		if !strings.Contains(out, "requests.cpu: 890m/1, requests.memory: 512Mi/1Gi") || !strings.Contains(out, "limits.cpu: 1780m/2, limits.memory: 1Gi/2Gi") {
			t.Errorf("kubectl %s get quota:\n%s", v, out)
		}
	}
	for _, v := range []string{"1.27", "1.33"} {
		_, stderr, err := d.kubectl(v, quotaPod("third", "200m", "64Mi"), "apply", "-n", "demo", "-f", "-")
		want := `pods "third" is forbidden: exceeded quota: compute-resources, requested: limits.cpu=400m,requests.cpu=200m, used: limits.cpu=1780m,requests.cpu=890m, limited: limits.cpu=2,requests.cpu=1`
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("kubectl %s: a pod over the quota: %v\n%s", v, err, stderr)
		}
		out := d.mustKubectl(v, "", "describe", "quota", "compute-resources", "-n", "demo")
		for _, line := range []string{"Name:            compute-resources", "Namespace:       demo", "requests.cpu     890m   1"} {
			if !strings.Contains(out, line) {
				t.Errorf("kubectl %s describe quota lacks %q:\n%s", v, line, out)
			}
		}
	}

	// Deleting frees the share at once.
	d.mustKubectl("1.33", "", "delete", "pod", "second", "-n", "demo")
	start := time.Now()
	d.waitFor("the quota to drop the deleted pod", 10*time.Second, func() (bool, error) {
		cpu := d.quotaUsed("demo", "compute-resources")[corev1.ResourceRequestsCPU]
		return cpu.String() == "490m", nil
	})
	if took := time.Since(start); took > time.Second {
		t.Errorf("the quota took %s to free a deleted pod's share", took)
	}
	// A pod that finishes stops counting.
	d.mustKubectl("1.33", strings.Replace(strings.Replace(quotaPod("job", "300m", "64Mi"), `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]`, `["true"]`, 1),
		"spec:\n", "spec:\n  restartPolicy: Never\n", 1), "apply", "-n", "demo", "-f", "-")
	d.waitFor("the job to succeed and stop counting", 60*time.Second, func() (bool, error) {
		cpu := d.quotaUsed("demo", "compute-resources")[corev1.ResourceRequestsCPU]
		return d.pod("demo", "job").Status.Phase == corev1.PodSucceeded && cpu.String() == "490m", nil
	})

	// A LimitRange's defaults make a pod without requests admissible.
	d.mustKubectl("1.33", `apiVersion: v1
kind: LimitRange
metadata: {name: defaults}
spec:
  limits:
  - type: Container
    default: {cpu: 200m, memory: 128Mi}
    defaultRequest: {cpu: 100m, memory: 64Mi}
`, "apply", "-n", "demo", "-f", "-")
	d.mustKubectl("1.33", "", "run", "bare", "-n", "demo", "--image=busybox", "--image-pull-policy=IfNotPresent", "--", "sleep", "60")
	bare := d.pod("demo", "bare")
	r := bare.Spec.Containers[0].Resources
	if r.Requests.Cpu().String() != "100m" || r.Limits.Memory().String() != "128Mi" ||
		bare.Annotations["kubernetes.io/limit-ranger"] != "LimitRanger plugin set: cpu, memory request for container bare; cpu, memory limit for container bare" {
		t.Errorf("defaulted pod: %+v %v", r, bare.Annotations)
	}
	for _, v := range []string{"1.27", "1.33"} {
		out := d.mustKubectl(v, "", "describe", "namespace", "demo")
		for _, line := range []string{"Resource Quotas", "  Name:            compute-resources", "Resource Limits", " Container  cpu       -    -    100m             200m           -"} {
			if !strings.Contains(out, line) {
				t.Errorf("kubectl %s describe namespace lacks %q:\n%s", v, line, out)
			}
		}
	}

	// 50 pods at once against pods: 10.
	d.mustKubectl("1.33", "", "create", "namespace", "burst")
	d.mustKubectl("1.33", "", "create", "quota", "pod-count", "-n", "burst", "--hard=pods=10")
	var mu sync.Mutex
	admitted, refused := 0, 0
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			zero := int64(0)
			_, err := d.client.CoreV1().Pods("burst").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i)},
				Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &zero, Containers: []corev1.Container{{Name: "app", Image: "busybox",
					ImagePullPolicy: corev1.PullIfNotPresent, Command: []string{"sleep", "60"}}}}}, metav1.CreateOptions{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				admitted++
			case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota: pod-count, requested: pods=1, used: pods=10, limited: pods=10"):
				refused++
			default:
				t.Errorf("pod %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if admitted != 10 || refused != 40 {
		t.Errorf("admitted %d, refused %d", admitted, refused)
	}
	if pods := d.quotaUsed("burst", "pod-count")[corev1.ResourcePods]; pods.Value() != 10 {
		t.Errorf("status.used.pods %s", pods.String())
	}
}

// TestNamespaceDeletionWithContent: deleting a namespace with running
// pods (one waiting out its grace period), a quota, a limit range, a
// config map, a secret, a service account and a Deployment shows
// Terminating (and Terminating pods) with upstream's conditions, then
// everything is gone and nothing of the pods stays on the node; the
// system namespaces refuse deletion.
func TestNamespaceDeletionWithContent(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", "", "create", "namespace", "demo")
	d.mustKubectl("1.33", computeResources, "create", "-f", "-", "-n", "demo")
	d.mustKubectl("1.33", "apiVersion: v1\nkind: LimitRange\nmetadata: {name: lr}\nspec:\n  limits:\n  - type: Container\n    default: {cpu: 100m, memory: 32Mi}\n", "apply", "-n", "demo", "-f", "-")
	d.mustKubectl("1.33", "", "create", "configmap", "cfg", "-n", "demo", "--from-literal=a=b")
	d.mustKubectl("1.27", "", "create", "secret", "generic", "pw", "-n", "demo", "--from-literal=p=hunter3")
	d.mustKubectl("1.27", "", "create", "serviceaccount", "robot", "-n", "demo")
	d.mustKubectl("1.33", "", "create", "deployment", "dep", "-n", "demo", "--image=busybox", "--replicas=0")
	for _, name := range []string{"one", "two"} {
		d.mustKubectl("1.33", quotaPod(name, "100m", "32Mi"), "apply", "-n", "demo", "-f", "-")
	}
	// One pod ignores SIGTERM for its 4 s grace: the namespace waits for
	// it (as upstream, what else remains is reckoned once the pods are
	// gone, so the conditions stay False meanwhile).
	d.mustKubectl("1.33", strings.Replace(strings.Replace(quotaPod("slow", "100m", "32Mi"), "trap 'exit 0' TERM", "trap '' TERM", 1),
		"terminationGracePeriodSeconds: 1", "terminationGracePeriodSeconds: 4", 1), "apply", "-n", "demo", "-f", "-")
	d.waitRunning("1.33", "demo", "one", "1/1")
	d.waitRunning("1.33", "demo", "two", "1/1")
	d.waitRunning("1.33", "demo", "slow", "1/1")
	prints := []footprint{d.capture(t, "demo", "one"), d.capture(t, "demo", "two"), d.capture(t, "demo", "slow")}
	// The pods go gracefully: each shows Terminating on its way out.
	watchers := []*statusWatch{d.watchRows("1.27", "demo", "one"), d.watchRows("1.33", "demo", "two")}
	d.mustKubectl("1.33", "", "delete", "namespace", "demo", "--wait=false")
	for _, v := range []string{"1.27", "1.33"} {
		if out := d.mustKubectl(v, "", "get", "namespace", "demo", "--no-headers"); !strings.Contains(out, "Terminating") {
			t.Errorf("kubectl %s: %s", v, out)
		}
	}
	d.waitFor("the namespace's conditions", 15*time.Second, func() (bool, error) {
		ns, err := d.client.CoreV1().Namespaces().Get(context.Background(), "demo", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		var types []string
		for _, c := range ns.Status.Conditions {
			types = append(types, string(c.Type)+"="+string(c.Status)+"/"+c.Reason)
		}
		sort.Strings(types)
		return strings.Join(types, " ") == "NamespaceContentRemaining=False/ContentRemoved NamespaceDeletionContentFailure=False/ContentDeleted "+
			"NamespaceDeletionDiscoveryFailure=False/ResourcesDiscovered NamespaceDeletionGroupVersionParsingFailure=False/ParsedGroupVersions "+
			"NamespaceFinalizersRemaining=False/ContentHasNoFinalizers", nil
	})
	d.waitFor("the namespace to go", 60*time.Second, func() (bool, error) {
		_, err := d.client.CoreV1().Namespaces().Get(context.Background(), "demo", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	// Its content went with it: nothing of it is left to list.
	ctx := context.Background()
	core := d.client.CoreV1()
	left := map[string]func() (int, error){
		"quotas": func() (int, error) {
			l, err := core.ResourceQuotas("demo").List(ctx, metav1.ListOptions{})
			return len(l.Items), err
		},
		"config maps": func() (int, error) {
			l, err := core.ConfigMaps("demo").List(ctx, metav1.ListOptions{})
			return len(l.Items), err
		},
		"limit ranges": func() (int, error) {
			l, err := core.LimitRanges("demo").List(ctx, metav1.ListOptions{})
			return len(l.Items), err
		},
		"pods": func() (int, error) {
			l, err := core.Pods("demo").List(ctx, metav1.ListOptions{})
			return len(l.Items), err
		},
		"secrets": func() (int, error) {
			l, err := core.Secrets("demo").List(ctx, metav1.ListOptions{})
			return len(l.Items), err
		},
		"service accounts": func() (int, error) {
			l, err := core.ServiceAccounts("demo").List(ctx, metav1.ListOptions{})
			return len(l.Items), err
		},
		"deployments": func() (int, error) {
			l, err := d.client.AppsV1().Deployments("demo").List(ctx, metav1.ListOptions{})
			return len(l.Items), err
		},
	}
	for what, count := range left {
		if n, err := count(); err != nil || n != 0 {
			t.Errorf("%s left in the deleted namespace: %d %v", what, n, err)
		}
	}
	for _, fp := range prints {
		d.check(t, fp)
	}
	for _, w := range watchers {
		if statuses := w.stop(); !slices.Contains(statuses, "Terminating") {
			t.Errorf("a pod of the namespace never showed Terminating: %q", statuses)
		}
	}
	for _, v := range []string{"1.27", "1.33"} {
		for _, ns := range []string{"default", "kube-system", "kube-public"} {
			if _, stderr, err := d.kubectl(v, "", "delete", "namespace", ns); err == nil ||
				!strings.Contains(stderr, fmt.Sprintf(`namespaces "%s" is forbidden: this namespace may not be deleted`, ns)) {
				t.Errorf("kubectl %s deleting %s: %v %s", v, ns, err, stderr)
			}
		}
	}
}

// TestSelectors: equality and set-based label selectors on namespaces and
// pods, under both kubectls.
func TestSelectors(t *testing.T) {
	d := startDaemon(t)
	for ns, env := range map[string]string{"dev-a": "dev", "dev-b": "dev", "prod": "prod", "plain": ""} {
		d.mustKubectl("1.33", "", "create", "namespace", ns)
		if env != "" {
			d.mustKubectl("1.33", "", "label", "namespace", ns, "env="+env)
		}
	}
	for name, labels := range map[string]string{"web": "tier=web,app=shop", "db": "tier=db,app=shop", "cache": "tier=cache", "lone": ""} {
		args := []string{"run", name, "--image=busybox", "--image-pull-policy=IfNotPresent", "--restart=Never"}
		if labels != "" {
			args = append(args, "--labels="+labels)
		}
		d.mustKubectl("1.33", "", append(args, "--", "true")...)
	}
	names := func(v, kind, sel string) string {
		out := d.mustKubectl(v, "", "get", kind, "-l", sel, "-o", "name")
		var got []string
		for _, l := range strings.Fields(out) {
			got = append(got, l[strings.Index(l, "/")+1:])
		}
		sort.Strings(got)
		return strings.Join(got, ",")
	}
	for _, v := range []string{"1.27", "1.33"} {
		for _, tc := range []struct{ kind, sel, want string }{
			{"namespaces", "env=dev", "dev-a,dev-b"},
			{"namespaces", "env in (dev,prod)", "dev-a,dev-b,prod"},
			{"namespaces", "env notin (dev),env", "prod"},
			{"namespaces", "env!=dev,kubernetes.io/metadata.name in (prod,plain)", "plain,prod"},
			{"pods", "tier in (web,cache)", "cache,web"},
			{"pods", "app=shop,tier!=db", "web"},
			{"pods", "!tier", "lone"},
			{"pods", "tier,tier notin (web)", "cache,db"},
		} {
			if got := names(v, tc.kind, tc.sel); got != tc.want {
				t.Errorf("kubectl %s get %s -l %q: %s, want %s", v, tc.kind, tc.sel, got, tc.want)
			}
		}
		if _, stderr, err := d.kubectl(v, "", "get", "pods", "--field-selector", "spec.nope=x"); err == nil ||
			!strings.Contains(stderr, `field label not supported: spec.nope`) {
			t.Errorf("kubectl %s, an unsupported field: %v %s", v, err, stderr)
		}
		// Namespaces keep upstream's legacy "name" field next to
		// metadata.name.
		for _, sel := range []string{"name=prod", "metadata.name=prod", "status.phase=Active,metadata.name=prod"} {
			if got := d.mustKubectl(v, "", "get", "namespaces", "--field-selector", sel, "-o", "name"); strings.TrimSpace(got) != "namespace/prod" {
				t.Errorf("kubectl %s get namespaces --field-selector %s: %q", v, sel, got)
			}
		}
	}

	// A watch with a set-based selector sees a pod enter the selection
	// when a label change makes it match (ADDED) and leave it (DELETED).
	ctx := context.Background()
	w, err := d.client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "tier in (web,cache),app"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	next := func() (watch.EventType, string) {
		select {
		case ev := <-w.ResultChan():
			p, _ := ev.Object.(*corev1.Pod)
			if p == nil {
				return ev.Type, ""
			}
			return ev.Type, p.Name
		case <-time.After(10 * time.Second):
			return "", "nothing in 10 s"
		}
	}
	if typ, name := next(); typ != watch.Added || name != "web" {
		t.Errorf("first event %s %s, want ADDED web", typ, name)
	}

	// kubectl label: --overwrite to change a value, key- to remove it;
	// kubectl annotate the same way; -L and --show-labels print them.
	for _, v := range []string{"1.27", "1.33"} {
		if _, stderr, err := d.kubectl(v, "", "label", "pod", "db", "tier=web"); err == nil || !strings.Contains(stderr, "already has a value (db), and --overwrite is false") {
			t.Errorf("kubectl %s label without --overwrite: %v %s", v, err, stderr)
		}
		d.mustKubectl(v, "", "label", "pod", "db", "tier=cache", "--overwrite")
		if typ, name := next(); typ != watch.Added || name != "db" {
			t.Errorf("kubectl %s label tier=cache: watch event %s %s, want ADDED db", v, typ, name)
		}
		out := d.mustKubectl(v, "", "get", "pod", "db", "-L", "tier,app", "--no-headers")
		if f := strings.Fields(out); len(f) < 2 || f[len(f)-2] != "cache" || f[len(f)-1] != "shop" {
			t.Errorf("kubectl %s get -L tier,app: %q", v, out)
		}
		d.mustKubectl(v, "", "label", "pod", "db", "tier-")
		if typ, name := next(); typ != watch.Deleted || name != "db" {
			t.Errorf("kubectl %s label tier-: watch event %s %s, want DELETED db", v, typ, name)
		}
		if out := d.mustKubectl(v, "", "get", "pod", "db", "--show-labels", "--no-headers"); !strings.HasSuffix(strings.TrimSpace(out), " app=shop") {
			t.Errorf("kubectl %s get --show-labels after tier-: %q", v, out)
		}
		d.mustKubectl(v, "", "label", "pod", "db", "tier=db")

		d.mustKubectl(v, "", "annotate", "pod", "db", "owner=alice")
		if _, stderr, err := d.kubectl(v, "", "annotate", "pod", "db", "owner=bob"); err == nil || !strings.Contains(stderr, "--overwrite is false") {
			t.Errorf("kubectl %s annotate without --overwrite: %v %s", v, err, stderr)
		}
		d.mustKubectl(v, "", "annotate", "pod", "db", "owner=bob", "--overwrite")
		if got := d.pod("default", "db").Annotations["owner"]; got != "bob" {
			t.Errorf("kubectl %s annotate --overwrite: owner=%q", v, got)
		}
		d.mustKubectl(v, "", "annotate", "pod", "db", "owner-")
		if _, ok := d.pod("default", "db").Annotations["owner"]; ok {
			t.Errorf("kubectl %s annotate owner-: the annotation stays", v)
		}
	}
}

// TestStorageRBACQuotasAndDefaultOrder: a LimitRange's
// PersistentVolumeClaim min refuses a too small claim and a quota's
// requests.storage a too big one, with upstream's 403s, under both
// kubectls; Roles and RoleBindings count against their count/ quotas; a
// container with a cpu limit and no request gets its request from its
// limit (the API's defaulting comes before LimitRanger), so it stays
// Guaranteed.
func TestStorageRBACQuotasAndDefaultOrder(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", "", "create", "namespace", "demo")
	d.mustKubectl("1.33", `apiVersion: v1
kind: LimitRange
metadata: {name: limits}
spec:
  limits:
  - type: PersistentVolumeClaim
    min: {storage: 1Gi}
  - type: Container
    default: {cpu: 500m, memory: 64Mi}
    defaultRequest: {cpu: 100m, memory: 64Mi}
`, "apply", "-n", "demo", "-f", "-")
	d.mustKubectl("1.33", "", "create", "quota", "storage", "-n", "demo", "--hard=requests.storage=1Gi")
	claim := func(name, size string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: %s}\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: %s}}\n", name, size)
	}
	for _, v := range []string{"1.27", "1.33"} {
		_, stderr, err := d.kubectl(v, claim("small", "500Mi"), "create", "-n", "demo", "-f", "-")
		if want := `Error from server (Forbidden): error when creating "STDIN": persistentvolumeclaims "small" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi`; err == nil || strings.TrimSpace(stderr) != want {
			t.Errorf("kubectl %s, a claim under the minimum: %v %q\nwant %q", v, err, stderr, want)
		}
		_, stderr, err = d.kubectl(v, claim("big", "2Gi"), "create", "-n", "demo", "-f", "-")
		if want := `Error from server (Forbidden): error when creating "STDIN": persistentvolumeclaims "big" is forbidden: exceeded quota: storage, requested: requests.storage=2Gi, used: requests.storage=0, limited: requests.storage=1Gi`; err == nil || strings.TrimSpace(stderr) != want {
			t.Errorf("kubectl %s, a claim over the quota: %v %q\nwant %q", v, err, stderr, want)
		}
	}
	d.mustKubectl("1.27", claim("fits", "1Gi"), "create", "-n", "demo", "-f", "-")
	if used := d.quotaUsed("demo", "storage")[corev1.ResourceRequestsStorage]; used.String() != "1Gi" {
		t.Errorf("status.used requests.storage %s, want 1Gi", used.String())
	}
	if out := d.mustKubectl("1.33", "", "get", "quota", "storage", "-n", "demo", "--no-headers"); !strings.Contains(out, "requests.storage: 1Gi/1Gi") {
		t.Errorf("kubectl get quota: %s", out)
	}
	d.mustKubectl("1.33", "", "delete", "pvc", "fits", "-n", "demo", "--wait=true")
	d.waitFor("the claim's share to be freed", 10*time.Second, func() (bool, error) {
		used := d.quotaUsed("demo", "storage")[corev1.ResourceRequestsStorage]
		return used.IsZero(), nil
	})

	d.mustKubectl("1.33", "", "create", "quota", "rbac", "-n", "demo", "--hard=count/roles.rbac.authorization.k8s.io=1,count/rolebindings.rbac.authorization.k8s.io=1")
	d.mustKubectl("1.33", "", "create", "role", "r1", "-n", "demo", "--verb=get", "--resource=pods")
	d.mustKubectl("1.33", "", "create", "rolebinding", "b1", "-n", "demo", "--role=r1", "--user=jane")
	for _, v := range []string{"1.27", "1.33"} {
		_, stderr, err := d.kubectl(v, "", "create", "role", "r2", "-n", "demo", "--verb=get", "--resource=pods")
		if want := `Error from server (Forbidden): roles.rbac.authorization.k8s.io "r2" is forbidden: exceeded quota: rbac, requested: count/roles.rbac.authorization.k8s.io=1, used: count/roles.rbac.authorization.k8s.io=1, limited: count/roles.rbac.authorization.k8s.io=1`; err == nil || strings.TrimSpace(stderr) != want {
			t.Errorf("kubectl %s, a second role: %v %q\nwant %q", v, err, stderr, want)
		}
		_, stderr, err = d.kubectl(v, "", "create", "rolebinding", "b2", "-n", "demo", "--role=r1", "--user=jane")
		if want := `rolebindings.rbac.authorization.k8s.io "b2" is forbidden: exceeded quota: rbac`; err == nil || !strings.Contains(stderr, want) {
			t.Errorf("kubectl %s, a second binding: %v %q\nwant %q", v, err, stderr, want)
		}
	}

	d.mustKubectl("1.33", `apiVersion: v1
kind: Pod
metadata: {name: limited}
spec:
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["sleep", "60"], resources: {limits: {cpu: "1"}}}
`, "create", "-n", "demo", "-f", "-")
	pod := d.pod("demo", "limited")
	r := pod.Spec.Containers[0].Resources
	if r.Requests.Cpu().String() != "1" || r.Limits.Cpu().String() != "1" || r.Requests.Memory().String() != "64Mi" || r.Limits.Memory().String() != "64Mi" {
		t.Errorf("resources %+v", r)
	}
	if pod.Status.QOSClass != corev1.PodQOSGuaranteed {
		t.Errorf("QoS class %s, want Guaranteed", pod.Status.QOSClass)
	}
	if got, want := pod.Annotations["kubernetes.io/limit-ranger"], "LimitRanger plugin set: memory request for container app; memory limit for container app"; got != want {
		t.Errorf("annotation %q, want %q", got, want)
	}
	for _, v := range []string{"1.27", "1.33"} {
		if out := d.mustKubectl(v, "", "get", "pod", "limited", "-n", "demo", "-o", "jsonpath={.status.qosClass}"); out != "Guaranteed" {
			t.Errorf("kubectl %s: qosClass %q", v, out)
		}
	}
}
