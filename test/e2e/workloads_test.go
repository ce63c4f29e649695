package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// webCommand serves HTTP and leaves at SIGTERM (a busybox httpd as PID 1
// would ignore it and wait out the grace period).
const webCommand = `trap "exit 0" TERM; httpd -f -p 8080 & wait`

// TestDeployment drives a Deployment through its life with kubectl 1.27 and
// 1.33: create, the get columns, scale up and down (the pods removed are
// those upstream removes), set image rolling with maxSurge 1 and
// maxUnavailable 0 (never fewer than 3 ready pods, sampled throughout),
// rollout status/history/undo/restart/pause/resume, delete with each
// cascade, and no leak after.
func TestDeployment(t *testing.T) {
	d := startDaemon(t)
	host := startRegistry(t, "e2e/busybox:2")
	d.mirror(t, "registry.k8s.io", host)
	ctx := context.Background()
	fps := newFootprints(d, t)

	for _, v := range []string{"1.27", "1.33"} {
		name := "web" + strings.ReplaceAll(v, ".", "")
		out := d.mustKubectl(v, "", "create", "deployment", name, "--image=busybox", "--replicas=3", "--", "sh", "-c", webCommand)
		if want := "deployment.apps/" + name + " created"; !strings.Contains(out, want) {
			t.Errorf("kubectl %s create deployment: %q, want %q", v, out, want)
		}
		status := d.mustKubectl(v, "", "rollout", "status", "deploy/"+name, "--timeout=120s")
		if !strings.Contains(status, fmt.Sprintf("deployment %q successfully rolled out", name)) {
			t.Errorf("rollout status: %q", status)
		}
		rows := d.mustKubectl(v, "", "get", "deploy,rs,pods", "-l", "app="+name)
		for _, want := range []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "DESIRED", "CURRENT",
			"deployment.apps/" + name + "   3/3     3            3"} {
			if !strings.Contains(rows, want) {
				t.Errorf("kubectl %s get deploy,rs,pods lacks %q:\n%s", v, want, rows)
			}
		}
		pods := d.podsOf(t, "app="+name)
		if len(pods) != 3 {
			t.Fatalf("%d pods, want 3", len(pods))
		}
		for _, p := range pods {
			if p.Status.Phase != corev1.PodRunning {
				t.Errorf("pod %s is %s", p.Name, p.Status.Phase)
			}
			ref := metav1.GetControllerOf(&p)
			if ref == nil || ref.Kind != "ReplicaSet" || !strings.HasPrefix(p.Name, ref.Name+"-") || p.Labels["pod-template-hash"] == "" {
				t.Errorf("pod %s: owner %v, labels %v", p.Name, ref, p.Labels)
			}
			fps.add(p.Name)
		}
		// exec deploy/x runs in one of the Deployment's pods.
		host := strings.TrimSpace(d.mustKubectl(v, "", "exec", "deploy/"+name, "--", "hostname"))
		if !slices.Contains(names(pods), host) {
			t.Errorf("kubectl %s exec deploy/%s -- hostname: %q, not one of %v", v, name, host, names(pods))
		}
		// port-forward deploy/x reaches one of them too (busybox httpd
		// serves the root directory).
		port := freePorts(t, 1)[0]
		pf := startPortForward(t, d, v, "deploy/"+name, fmt.Sprintf("%d:8080", port))
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/etc/hostname", port))
		if err != nil {
			t.Errorf("kubectl %s port-forward deploy/%s: %v", v, name, err)
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !slices.Contains(names(pods), strings.TrimSpace(string(body))) {
				t.Errorf("kubectl %s port-forward deploy/%s: GET /etc/hostname = %d %q, not one of %v", v, name, resp.StatusCode, body, names(pods))
			}
		}
		pf.stop(t)
	}

	// Scale up to 5, then down to 2: the two pods the scale-up made (the
	// most recently ready) go, and one of the first three.
	first := names(d.podsOf(t, "app=web127"))
	d.mustKubectl("1.33", "", "scale", "deploy/web127", "--replicas=5")
	d.waitFor("5 ready", 90*time.Second, func() (bool, error) { return d.readyPods("app=web127") == 5, nil })
	var added []string
	for _, p := range d.podsOf(t, "app=web127") {
		fps.add(p.Name)
		if !slices.Contains(first, p.Name) {
			added = append(added, p.Name)
		}
	}
	// The ReplicaSet compares how long pods have been ready in log2
	// buckets of the time since (LogarithmicScaleDown), and the ready
	// time is stored to the second: pods ready 1 s and 2 s ago can tie,
	// and a tie goes by UID. The first three must have been ready for
	// 5 s (bucket 2^32 ns and above) so that the newest (ready under
	// 4.29 s) rank apart from them, as upstream's would.
	for _, p := range d.podsOf(t, "app=web127") {
		if !slices.Contains(first, p.Name) {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				time.Sleep(time.Until(c.LastTransitionTime.Add(5 * time.Second)))
			}
		}
	}
	d.mustKubectl("1.27", "", "scale", "deploy/web127", "--replicas=2")
	d.waitFor("2 pods left", 60*time.Second, func() (bool, error) { return len(d.podsOf(t, "app=web127")) == 2, nil })
	left := names(d.podsOf(t, "app=web127"))
	for _, n := range added {
		if slices.Contains(left, n) {
			t.Errorf("scale down kept %s, one of the newest pods (left: %v, first: %v)", n, left, first)
		}
	}

	// set image with maxSurge 1 / maxUnavailable 0 never has fewer than 3
	// ready pods.
	d.mustKubectl("1.33", "", "patch", "deploy/web133", "-p", `{"spec":{"strategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}}`)
	d.mustKubectl("1.33", "", "annotate", "deploy/web133", "kubernetes.io/change-cause=busybox 2")
	minReady, stop := d.sampleReady("app=web133")
	d.mustKubectl("1.33", "", "set", "image", "deploy/web133", "busybox=registry.k8s.io/e2e/busybox:2")
	status := d.mustKubectl("1.27", "", "rollout", "status", "deploy/web133", "--timeout=120s")
	stop()
	if !strings.Contains(status, `deployment "web133" successfully rolled out`) || !strings.Contains(status, "Waiting for deployment \"web133\" rollout to finish") {
		t.Errorf("rollout status: %q", status)
	}
	if m := minReady(); m < 3 {
		t.Errorf("the rollout went down to %d ready pods, maxUnavailable 0 allows none fewer than 3", m)
	}
	for _, p := range d.podsOf(t, "app=web133") {
		fps.add(p.Name)
		if p.Spec.Containers[0].Image != "registry.k8s.io/e2e/busybox:2" {
			t.Errorf("pod %s runs %s after set image", p.Name, p.Spec.Containers[0].Image)
		}
	}
	history := d.mustKubectl("1.33", "", "rollout", "history", "deploy/web133")
	if !strings.Contains(history, "REVISION  CHANGE-CAUSE") || !regexpLine(history, `^2\s+busybox 2$`) {
		t.Errorf("rollout history:\n%s", history)
	}
	if out := d.mustKubectl("1.27", "", "rollout", "undo", "deploy/web133"); !strings.Contains(out, "deployment.apps/web133 rolled back") {
		t.Errorf("rollout undo: %q", out)
	}
	d.mustKubectl("1.33", "", "rollout", "status", "deploy/web133", "--timeout=120s")
	for _, p := range d.podsOf(t, "app=web133") {
		fps.add(p.Name)
		if p.Spec.Containers[0].Image != "busybox" {
			t.Errorf("pod %s runs %s after undo", p.Name, p.Spec.Containers[0].Image)
		}
	}
	dep, err := d.client.AppsV1().Deployments("default").Get(ctx, "web133", metav1.GetOptions{})
	if err != nil || dep.Annotations["deployment.kubernetes.io/revision"] != "3" {
		t.Errorf("revision after undo: %v, %v", dep.GetAnnotations(), err)
	}

	// restart replaces every pod; a paused Deployment refuses it.
	before := names(d.podsOf(t, "app=web133"))
	d.mustKubectl("1.33", "", "rollout", "pause", "deploy/web133")
	if _, errOut, err := d.kubectl("1.33", "", "rollout", "restart", "deploy/web133"); err == nil || !strings.Contains(errOut, "can't restart paused deployment (run rollout resume first)") {
		t.Errorf("restart of a paused deployment: %v %q", err, errOut)
	}
	d.mustKubectl("1.27", "", "rollout", "resume", "deploy/web133")
	d.mustKubectl("1.27", "", "rollout", "restart", "deploy/web133")
	d.mustKubectl("1.33", "", "rollout", "status", "deploy/web133", "--timeout=120s")
	d.waitFor("the old pods to go", 60*time.Second, func() (bool, error) { return len(d.podsOf(t, "app=web133")) == 3, nil })
	for _, p := range d.podsOf(t, "app=web133") {
		fps.add(p.Name)
		if slices.Contains(before, p.Name) {
			t.Errorf("pod %s survived rollout restart", p.Name)
		}
	}
	dep, _ = d.client.AppsV1().Deployments("default").Get(ctx, "web133", metav1.GetOptions{})
	if cond := progressingCondition(dep); cond == nil || cond.Reason != "NewReplicaSetAvailable" {
		t.Errorf("Progressing condition: %+v", cond)
	}

	// Deletion: orphan leaves the pods without an owner, foreground holds
	// the Deployment until its pods are gone, background removes all.
	d.mustKubectl("1.33", "", "delete", "deploy/web127", "--cascade=orphan")
	d.waitFor("orphaned ReplicaSets", 30*time.Second, func() (bool, error) {
		rss, err := d.client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web127"})
		if err != nil || len(rss.Items) == 0 {
			return false, err
		}
		for _, rs := range rss.Items {
			if len(rs.OwnerReferences) > 0 {
				return false, nil
			}
		}
		return true, nil
	})
	if pods := d.podsOf(t, "app=web127"); len(pods) != 2 {
		t.Errorf("orphan deletion left %d pods, want 2", len(pods))
	}
	d.mustKubectl("1.27", "", "delete", "rs", "-l", "app=web127", "--cascade=foreground")
	if pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web127"}); err != nil || len(pods.Items) != 0 {
		t.Errorf("foreground deletion returned with pods left: %v", err)
	}
	// Foreground: the Deployment stays, deleting and with the
	// foregroundDeletion finalizer, until its ReplicaSets and pods are
	// gone. (Background deletion of a Deployment is
	// TestDeploymentProgressDeadline's.)
	d.mustKubectl("1.33", "", "delete", "deploy/web133", "--cascade=foreground", "--wait=false")
	held := 0
	d.waitFor("the Deployment to go after its pods", 90*time.Second, func() (bool, error) {
		pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web133"})
		if err != nil {
			return false, err
		}
		dep, err := d.client.AppsV1().Deployments("default").Get(ctx, "web133", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			// Pods listed before the Deployment was read: any still
			// there then were there when it went.
			if len(pods.Items) > 0 {
				t.Errorf("the Deployment went before its pods %v", names(pods.Items))
			}
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if dep.DeletionTimestamp == nil || !slices.Contains(dep.Finalizers, metav1.FinalizerDeleteDependents) {
			t.Errorf("Deployment under foreground deletion: deletionTimestamp %v, finalizers %v", dep.DeletionTimestamp, dep.Finalizers)
		}
		if len(pods.Items) > 0 {
			held++
		}
		return false, nil
	})
	if held == 0 {
		t.Error("the Deployment was never seen held while its pods were there")
	}
	d.waitFor("the ReplicaSets and pods to go", 60*time.Second, func() (bool, error) {
		rss, err := d.client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(rss.Items) == 0 && len(pods.Items) == 0, err
	})
	fps.check()
	fps.checkEmpty()
}

// TestDeploymentRecreateAndQuota: a Recreate rollout stops every old pod
// before a new one starts; a ReplicaSet a quota refuses reports the
// quota's message in ReplicaFailure and a FailedCreate event; deleting
// the namespace removes its workloads.
func TestDeploymentRecreateAndQuota(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	d.mustKubectl("1.33", "", "create", "namespace", "rc")
	d.mustKubectl("1.27", `apiVersion: apps/v1
kind: Deployment
metadata: {name: rec, namespace: rc}
spec:
  replicas: 2
  strategy: {type: Recreate}
  selector: {matchLabels: {app: rec}}
  template:
    metadata: {labels: {app: rec}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}]
`, "apply", "-f", "-")
	d.mustKubectl("1.33", "", "-n", "rc", "rollout", "status", "deploy/rec", "--timeout=120s")
	fps := newFootprints(d, t)
	stopWatch := fps.watch("rc")
	var mu sync.Mutex
	mixed := false
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			pods, err := d.client.CoreV1().Pods("rc").List(ctx, metav1.ListOptions{LabelSelector: "app=rec"})
			if err != nil {
				continue
			}
			hashes := map[string]bool{}
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodPending {
					hashes[p.Labels["pod-template-hash"]] = true
				}
			}
			if len(hashes) > 1 {
				mu.Lock()
				mixed = true
				mu.Unlock()
			}
		}
	}()
	d.mustKubectl("1.33", "", "-n", "rc", "set", "env", "deploy/rec", "V=2")
	d.mustKubectl("1.33", "", "-n", "rc", "rollout", "status", "deploy/rec", "--timeout=120s")
	close(done)
	mu.Lock()
	if mixed {
		t.Error("a Recreate rollout ran old and new pods at once")
	}
	mu.Unlock()

	// Quota refuses the third pod: the ReplicaSet says so.
	d.mustKubectl("1.33", "", "-n", "rc", "create", "quota", "pods", "--hard=pods=3")
	d.mustKubectl("1.33", "", "-n", "rc", "scale", "deploy/rec", "--replicas=4")
	d.waitFor("ReplicaFailure on the ReplicaSet", 60*time.Second, func() (bool, error) {
		rss, err := d.client.AppsV1().ReplicaSets("rc").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, rs := range rss.Items {
			for _, c := range rs.Status.Conditions {
				if c.Type == appsv1.ReplicaSetReplicaFailure && c.Reason == "FailedCreate" && strings.Contains(c.Message, "exceeded quota: pods") {
					return true, nil
				}
			}
		}
		return false, nil
	})
	events := d.mustKubectl("1.27", "", "-n", "rc", "get", "events", "--field-selector", "reason=FailedCreate", "-o", "jsonpath={.items[*].message}")
	if !strings.Contains(events, "Error creating: pods ") || !strings.Contains(events, "exceeded quota: pods") {
		t.Errorf("FailedCreate events: %q", events)
	}
	// Object count quotas of the apps group.
	d.mustKubectl("1.27", "", "-n", "rc", "create", "quota", "objects", "--hard=count/deployments.apps=1,count/replicasets.apps=10")
	_, errOut, err := d.kubectl("1.33", "", "-n", "rc", "create", "deployment", "second", "--image=busybox")
	if want := `deployments.apps "second" is forbidden: exceeded quota: objects, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1`; err == nil || !strings.Contains(errOut, want) {
		t.Errorf("a second deployment under count/deployments.apps=1: %v %q", err, errOut)
	}
	d.mustKubectl("1.33", "", "delete", "namespace", "rc", "--wait=true", "--timeout=120s")
	if _, err := d.client.AppsV1().Deployments("rc").Get(ctx, "rec", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Deployment outlived its namespace: %v", err)
	}
	stopWatch()
	fps.check()
	fps.checkEmpty()
}

// podsOf lists the default namespace's pods matching a selector, not being
// deleted, by name.
func (d *daemon) podsOf(t *testing.T, selector string) []corev1.Pod {
	t.Helper()
	list, err := d.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// readyPods counts the ready pods matching a selector.
func (d *daemon) readyPods(selector string) int {
	list, err := d.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return -1
	}
	n := 0
	for _, p := range list.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
				n++
			}
		}
	}
	return n
}

// sampleReady samples the ready pods every 50 ms until stopped and
// reports the fewest seen.
func (d *daemon) sampleReady(selector string) (minimum func() int, stop func()) {
	var mu sync.Mutex
	least := 1 << 30
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			if n := d.readyPods(selector); n >= 0 {
				mu.Lock()
				least = min(least, n)
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() int {
			mu.Lock()
			defer mu.Unlock()
			return least
		}, func() {
			close(done)
			<-finished
		}
}

func names(pods []corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	return out
}

func progressingCondition(d *appsv1.Deployment) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == appsv1.DeploymentProgressing {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// regexpLine: some line of s matches the pattern.
func regexpLine(s, pattern string) bool {
	re := regexp.MustCompile(pattern)
	for _, l := range strings.Split(s, "\n") {
		if re.MatchString(strings.TrimRight(l, " ")) {
			return true
		}
	}
	return false
}

// footprints collects the leak fingerprints of pods as they appear and
// checks them all once everything is deleted.
type footprints struct {
	d    *daemon
	t    *testing.T
	mu   sync.Mutex
	seen map[string]footprint // by namespace/name
}

func newFootprints(d *daemon, t *testing.T) *footprints {
	return &footprints{d: d, t: t, seen: map[string]footprint{}}
}

func (f *footprints) add(name string) { f.addIn("default", name) }

func (f *footprints) addIn(ns, name string) {
	f.mu.Lock()
	_, ok := f.seen[ns+"/"+name]
	f.mu.Unlock()
	if ok {
		return
	}
	fp := f.d.capture(f.t, ns, name)
	f.mu.Lock()
	f.seen[ns+"/"+name] = fp
	f.mu.Unlock()
}

// watch captures, until stopped, the footprint of every pod of ns seen
// Running, for pods that come and go by themselves (a Job's): one that
// runs for less than a poll is missed, and checkEmpty covers it.
func (f *footprints) watch(ns string) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			pods, err := f.d.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
			for _, p := range pods.Items {
				if err != nil || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
					continue
				}
				f.mu.Lock()
				_, ok := f.seen[ns+"/"+p.Name]
				f.mu.Unlock()
				if ok {
					continue
				}
				if fp, err := f.d.tryCapture(ns, p.Name); err == nil {
					f.mu.Lock()
					f.seen[ns+"/"+p.Name] = fp
					f.mu.Unlock()
				}
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// check fails the test for what any pod seen left behind, and when none
// was seen at all (a watch that saw nothing checks nothing). A finished
// pod leaves the API at once and the kubelet tears it down after (as
// upstream's), so what is left gets a few seconds to go.
func (f *footprints) check() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) == 0 {
		f.t.Error("no pod footprint was captured: the leak check checked nothing")
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, fp := range f.seen {
		for len(f.d.traces(fp)) > 0 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		f.d.check(f.t, fp)
	}
}

// checkEmpty fails the test for any sandbox or container the daemon's
// runtime still has (after a few seconds) once every pod is gone, for the
// pods no footprint was taken of.
func (f *footprints) checkEmpty() {
	f.t.Helper()
	left := func() []string {
		var out []string
		for _, id := range f.d.podSandboxes() {
			out = append(out, "data/runtime/sandboxes/"+id)
		}
		entries, _ := os.ReadDir(f.d.path("data/runtime/containers"))
		for _, e := range entries {
			out = append(out, "data/runtime/containers/"+e.Name())
		}
		return out
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(left()) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	for _, l := range left() {
		f.t.Errorf("%s is left with no pod", l)
	}
}

// TestDaemonSet: a DaemonSet runs exactly one pod on the node (bound by the
// node affinity term, with the daemon tolerations), replaces it on a
// template change, keeps its history as ControllerRevisions for rollout
// history and undo, and goes with its pods.
func TestDaemonSet(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	fps := newFootprints(d, t)
	d.mustKubectl("1.27", `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: a, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}]
`, "apply", "-f", "-")
	if out := d.mustKubectl("1.33", "", "rollout", "status", "ds/agent", "--timeout=60s"); !strings.Contains(out, `daemon set "agent" successfully rolled out`) {
		t.Errorf("rollout status: %q", out)
	}
	pods := d.podsOf(t, "app=agent")
	if len(pods) != 1 || pods[0].Spec.NodeName == "" || pods[0].Status.Phase != corev1.PodRunning {
		t.Fatalf("daemon pods: %v", names(pods))
	}
	first := pods[0]
	fps.add(first.Name)
	if first.Labels["controller-revision-hash"] == "" || first.Labels["pod-template-generation"] != "1" {
		t.Errorf("labels %v", first.Labels)
	}
	tolerated := map[string]bool{}
	for _, tol := range first.Spec.Tolerations {
		tolerated[tol.Key] = true
	}
	for _, k := range []string{"node.kubernetes.io/not-ready", "node.kubernetes.io/unschedulable", "node.kubernetes.io/memory-pressure"} {
		if !tolerated[k] {
			t.Errorf("the daemon pod does not tolerate %s", k)
		}
	}
	// Bound as upstream's DaemonSet controller binds: a required node
	// affinity term on the node's name (metadata.name In [node]).
	if a := first.Spec.Affinity; a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil ||
		!slices.ContainsFunc(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms, func(term corev1.NodeSelectorTerm) bool {
			return slices.ContainsFunc(term.MatchFields, func(r corev1.NodeSelectorRequirement) bool {
				return r.Key == "metadata.name" && r.Operator == corev1.NodeSelectorOpIn && slices.Equal(r.Values, []string{first.Spec.NodeName})
			})
		}) {
		t.Errorf("the daemon pod's affinity %+v lacks the metadata.name In [%s] term", first.Spec.Affinity, first.Spec.NodeName)
	}
	row := strings.Fields(d.mustKubectl("1.33", "", "get", "ds", "agent", "--no-headers"))
	if len(row) < 7 || strings.Join(row[1:7], " ") != "1 1 1 1 1 <none>" {
		t.Errorf("kubectl get ds: %v", row)
	}
	d.mustKubectl("1.33", "", "set", "env", "ds/agent", "V=2")
	d.mustKubectl("1.27", "", "rollout", "status", "ds/agent", "--timeout=60s")
	d.waitFor("one new daemon pod", 60*time.Second, func() (bool, error) {
		pods := d.podsOf(t, "app=agent")
		return len(pods) == 1 && pods[0].Name != first.Name && pods[0].Status.Phase == corev1.PodRunning, nil
	})
	second := d.podsOf(t, "app=agent")[0]
	fps.add(second.Name)
	if second.Labels["pod-template-generation"] != "2" || second.Labels["controller-revision-hash"] == first.Labels["controller-revision-hash"] {
		t.Errorf("replacement labels %v", second.Labels)
	}
	history := d.mustKubectl("1.33", "", "rollout", "history", "ds/agent")
	if !regexpLine(history, `^1\s+<none>$`) || !regexpLine(history, `^2\s+<none>$`) {
		t.Errorf("rollout history:\n%s", history)
	}
	if out := d.mustKubectl("1.33", "", "get", "controllerrevisions"); !strings.Contains(out, "daemonset.apps/agent") {
		t.Errorf("controllerrevisions:\n%s", out)
	}
	d.mustKubectl("1.27", "", "rollout", "undo", "ds/agent")
	d.mustKubectl("1.33", "", "rollout", "status", "ds/agent", "--timeout=60s")
	d.waitFor("the rolled-back pod", 60*time.Second, func() (bool, error) {
		pods := d.podsOf(t, "app=agent")
		return len(pods) == 1 && pods[0].Labels["controller-revision-hash"] == first.Labels["controller-revision-hash"] && pods[0].Status.Phase == corev1.PodRunning, nil
	})
	fps.add(d.podsOf(t, "app=agent")[0].Name)

	// With maxSurge 1 and maxUnavailable 0 the new pod starts next to
	// the old one: the node never lacks a ready daemon pod.
	d.mustKubectl("1.33", "", "patch", "ds", "agent", "-p", `{"spec":{"updateStrategy":{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}}`)
	d.mustKubectl("1.33", "", "rollout", "status", "ds/agent", "--timeout=60s")
	for _, p := range d.podsOf(t, "app=agent") {
		fps.add(p.Name)
	}
	minReady, stop := d.sampleReady("app=agent")
	d.mustKubectl("1.27", "", "set", "env", "ds/agent", "V=3")
	d.mustKubectl("1.27", "", "rollout", "status", "ds/agent", "--timeout=60s")
	d.waitFor("the surge to settle", 60*time.Second, func() (bool, error) { return len(d.podsOf(t, "app=agent")) == 1, nil })
	stop()
	if m := minReady(); m < 1 {
		t.Errorf("a surge update left the node without a ready daemon pod")
	}
	for _, p := range d.podsOf(t, "app=agent") {
		fps.add(p.Name)
	}
	d.mustKubectl("1.33", "", "delete", "ds", "agent")
	d.waitFor("the daemon pods and revisions to go", 60*time.Second, func() (bool, error) {
		pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		crs, err := d.client.AppsV1().ControllerRevisions("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0 && len(crs.Items) == 0, err
	})
	fps.check()
}

// TestStatefulSet: a StatefulSet of 3 under OrderedReady creates web-0,
// web-1, web-2 in order, each only once the one before is Ready, with
// stable hostnames; a rolling update goes from the highest ordinal down;
// scaling down removes the highest ordinals first; claims from
// volumeClaimTemplates are provisioned, survive the pod and are reclaimed
// once deleted.
func TestStatefulSet(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	fps := newFootprints(d, t)
	d.mustKubectl("1.33", `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  replicas: 3
  serviceName: web
  selector: {matchLabels: {app: sts}}
  template:
    metadata: {labels: {app: sts}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: w
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [sh, -c, "sleep 1; touch /tmp/ready; sleep 3600"]
        readinessProbe: {exec: {command: [cat, /tmp/ready]}, periodSeconds: 1}
`, "apply", "-f", "-")
	d.mustKubectl("1.27", "", "rollout", "status", "sts/web", "--timeout=120s")
	pods := d.podsOf(t, "app=sts")
	if got := names(pods); strings.Join(got, ",") != "web-0,web-1,web-2" {
		t.Fatalf("pods %v", got)
	}
	for i, p := range pods {
		fps.add(p.Name)
		if p.Spec.Hostname != p.Name || p.Spec.Subdomain != "web" || p.Labels["apps.kubernetes.io/pod-index"] != fmt.Sprint(i) {
			t.Errorf("%s: hostname %q subdomain %q labels %v", p.Name, p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
		}
		if i == 0 {
			continue
		}
		prevReady := readySince(&pods[i-1])
		if prevReady.IsZero() || p.CreationTimestamp.Time.Before(prevReady) {
			t.Errorf("%s was created at %s, before %s was ready at %s", p.Name, p.CreationTimestamp, pods[i-1].Name, prevReady)
		}
	}
	if out := d.mustKubectl("1.33", "", "exec", "web-1", "--", "hostname"); out != "web-1\n" {
		t.Errorf("hostname of web-1: %q", out)
	}
	if row := strings.Fields(d.mustKubectl("1.27", "", "get", "sts", "web", "--no-headers")); len(row) < 2 || row[1] != "3/3" {
		t.Errorf("kubectl get sts: %v", row)
	}

	// A rolling update replaces web-2, then web-1, then web-0.
	d.mustKubectl("1.33", "", "set", "env", "sts/web", "V=2")
	d.mustKubectl("1.33", "", "rollout", "status", "sts/web", "--timeout=120s")
	pods = d.podsOf(t, "app=sts")
	for _, p := range pods {
		fps.add(p.Name)
	}
	if len(pods) != 3 || !(pods[2].CreationTimestamp.Time.Before(pods[1].CreationTimestamp.Time) || pods[2].CreationTimestamp.Equal(&pods[1].CreationTimestamp)) ||
		pods[0].CreationTimestamp.Time.Before(pods[1].CreationTimestamp.Time) {
		t.Errorf("rolling update order: %v %v %v", pods[0].CreationTimestamp, pods[1].CreationTimestamp, pods[2].CreationTimestamp)
	}
	set, err := d.client.AppsV1().StatefulSets("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil || set.Status.CurrentRevision != set.Status.UpdateRevision || set.Status.UpdatedReplicas != 3 {
		t.Errorf("status after the update: %+v, %v", set.Status, err)
	}

	// Scale down: web-2 goes first, then web-1.
	d.mustKubectl("1.27", "", "scale", "sts/web", "--replicas=1")
	d.waitFor("one pod left", 60*time.Second, func() (bool, error) {
		pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=sts"})
		return err == nil && len(pods.Items) == 1 && pods.Items[0].Name == "web-0", err
	})
	evs, err := d.client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web,reason=SuccessfulDelete"})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(evs.Items, func(i, j int) bool { return evs.Items[i].LastTimestamp.Before(&evs.Items[j].LastTimestamp) })
	var deleted []string
	for _, e := range evs.Items {
		deleted = append(deleted, e.Message)
	}
	if n := len(deleted); n < 2 || !strings.Contains(deleted[n-2], "delete Pod web-2 ") || !strings.Contains(deleted[n-1], "delete Pod web-1 ") {
		t.Errorf("scale-down deletions: %v", deleted)
	}

	// Claims from volumeClaimTemplates: provisioned by the default
	// StorageClass when the pod is scheduled, kept across the pod's
	// deletion, and released (directory and volume gone) once deleted.
	d.mustKubectl("1.27", `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: d
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [sh, -c, "echo $HOSTNAME >> /data/log; sleep 3600"]
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates: [{metadata: {name: data}, spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}}]
`, "apply", "-f", "-")
	d.mustKubectl("1.33", "", "rollout", "status", "sts/db", "--timeout=120s")
	claims := d.mustKubectl("1.33", "", "get", "pvc", "--no-headers")
	if !regexp.MustCompile(`(?m)^data-db-1\s+Bound\s+pvc-\S+\s+1Gi\s+RWO\s+local-path`).MatchString(claims) {
		t.Errorf("kubectl get pvc:\n%s", claims)
	}
	if sc := d.mustKubectl("1.27", "", "get", "storageclass", "--no-headers"); !regexp.MustCompile(`^local-path \(default\)\s+peapod.io/local-path\s+Delete\s+WaitForFirstConsumer\s+true\s`).MatchString(sc) {
		t.Errorf("kubectl get storageclass: %q", sc)
	}
	// A bound claim grows (the local-path class allows it); none shrinks;
	// an unbound one keeps its spec.
	d.mustKubectl("1.27", "", "patch", "pvc", "data-db-0", "-p", `{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}`)
	d.waitFor("data-db-0 to grow", 30*time.Second, func() (bool, error) {
		out, _, err := d.kubectl("1.33", "", "get", "pvc", "data-db-0", "--no-headers")
		return regexp.MustCompile(`^data-db-0\s+Bound\s+pvc-\S+\s+2Gi\s`).MatchString(out), err
	})
	if _, errOut, err := d.kubectl("1.33", "", "patch", "pvc", "data-db-0", "-p", `{"spec":{"resources":{"requests":{"storage":"1Gi"}}}}`); err == nil ||
		!strings.Contains(errOut, `The PersistentVolumeClaim "data-db-0" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than previous value`) {
		t.Errorf("shrinking a claim: %v %q", err, errOut)
	}
	d.mustKubectl("1.33", `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: loose}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
`, "apply", "-f", "-")
	if _, errOut, err := d.kubectl("1.27", "", "patch", "pvc", "loose", "-p", `{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}`); err == nil ||
		!strings.Contains(errOut, `spec: Forbidden: spec is immutable after creation except resources.requests for bound claims`) {
		t.Errorf("growing an unbound claim: %v %q", err, errOut)
	}
	d.mustKubectl("1.33", "", "exec", "db-1", "--", "sh", "-c", "echo kept > /data/file")
	fps.add("db-1")
	d.mustKubectl("1.33", "", "delete", "pod", "db-1")
	d.waitFor("db-1 again", 60*time.Second, func() (bool, error) {
		out, _, err := d.kubectl("1.33", "", "exec", "db-1", "--", "cat", "/data/file", "/data/log")
		return err == nil && out == "kept\ndb-1\ndb-1\n", nil
	})
	for _, p := range d.podsOf(t, "app=db") {
		fps.add(p.Name)
	}
	d.mustKubectl("1.33", "", "delete", "sts", "db")
	d.mustKubectl("1.27", "", "delete", "pvc", "--all", "--wait=true", "--timeout=60s")
	d.waitFor("the volumes to be reclaimed", 60*time.Second, func() (bool, error) {
		pvs, err := d.client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err != nil || len(pvs.Items) > 0 {
			return false, err
		}
		entries, err := os.ReadDir(d.path("data/volumes"))
		return err == nil && len(entries) == 0, nil
	})
	// persistentVolumeClaimRetentionPolicy Delete: a scale down removes
	// the claims of the ordinals it removes, deleting the StatefulSet
	// removes the rest (through their owner references).
	d.mustKubectl("1.33", `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: tmp}
spec:
  replicas: 2
  serviceName: tmp
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Delete}
  selector: {matchLabels: {app: tmp}}
  template:
    metadata: {labels: {app: tmp}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: t, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, "3600"], volumeMounts: [{name: data, mountPath: /data}]}
  volumeClaimTemplates: [{metadata: {name: data}, spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}}]
`, "apply", "-f", "-")
	d.mustKubectl("1.27", "", "rollout", "status", "sts/tmp", "--timeout=120s")
	for _, p := range d.podsOf(t, "app=tmp") {
		fps.add(p.Name)
	}
	claimExists := func(name string) bool {
		_, err := d.client.CoreV1().PersistentVolumeClaims("default").Get(ctx, name, metav1.GetOptions{})
		return err == nil
	}
	if !claimExists("data-tmp-0") || !claimExists("data-tmp-1") {
		t.Fatalf("the claims of sts/tmp were not made")
	}
	d.mustKubectl("1.33", "", "scale", "sts/tmp", "--replicas=1")
	d.waitFor("data-tmp-1 to go with tmp-1 (whenScaled: Delete)", 60*time.Second, func() (bool, error) {
		return !claimExists("data-tmp-1"), nil
	})
	if !claimExists("data-tmp-0") {
		t.Errorf("the scale down to 1 removed data-tmp-0 too")
	}
	d.mustKubectl("1.27", "", "delete", "sts", "tmp")
	d.waitFor("the claims and volumes of sts/tmp to go (whenDeleted: Delete)", 60*time.Second, func() (bool, error) {
		pvs, err := d.client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		return err == nil && !claimExists("data-tmp-0") && len(pvs.Items) == 0, err
	})

	d.mustKubectl("1.33", "", "delete", "sts", "web")
	d.waitFor("the pods to go", 60*time.Second, func() (bool, error) {
		pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0, err
	})
	fps.check()
}

// readySince is when the pod last became Ready (zero: not Ready).
func readySince(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// TestDeploymentProgressDeadline: a rollout whose pods never become ready
// ends, after progressDeadlineSeconds, with Progressing False
// ProgressDeadlineExceeded, and kubectl rollout status says so and fails.
func TestDeploymentProgressDeadline(t *testing.T) {
	d := startDaemon(t)
	fps := newFootprints(d, t)
	d.mustKubectl("1.33", `apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck}
spec:
  progressDeadlineSeconds: 3
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: s
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [sleep, "300"]
        readinessProbe: {exec: {command: ["false"]}, periodSeconds: 1}
`, "apply", "-f", "-")
	_, errOut, err := d.kubectl("1.27", "", "rollout", "status", "deploy/stuck", "--timeout=60s")
	if err == nil || !strings.Contains(errOut, `deployment "stuck" exceeded its progress deadline`) {
		t.Errorf("rollout status: %v %q", err, errOut)
	}
	dep, err := d.client.AppsV1().Deployments("default").Get(context.Background(), "stuck", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := progressingCondition(dep)
	if c == nil || c.Status != corev1.ConditionFalse || c.Reason != "ProgressDeadlineExceeded" || !strings.HasSuffix(c.Message, "has timed out progressing.") {
		t.Errorf("Progressing: %+v", c)
	}
	d.waitFor("the stuck pod to run", 60*time.Second, func() (bool, error) {
		pods := d.podsOf(t, "app=stuck")
		return len(pods) == 1 && pods[0].Status.Phase == corev1.PodRunning, nil
	})
	for _, p := range d.podsOf(t, "app=stuck") {
		fps.add(p.Name)
	}
	// Background deletion (the default): the ReplicaSet and pods go after
	// the Deployment.
	d.mustKubectl("1.33", "", "delete", "deploy", "stuck")
	d.waitFor("the ReplicaSet and pods to go", 60*time.Second, func() (bool, error) {
		rss, err := d.client.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		pods, err := d.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
		return err == nil && len(rss.Items) == 0 && len(pods.Items) == 0, err
	})
	fps.check()
	fps.checkEmpty()
}
