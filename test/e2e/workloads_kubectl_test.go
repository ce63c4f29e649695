package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TestWorkloadCommandsEachKubectl runs the workload commands whose
// requests differ between kubectl versions with both 1.27 and 1.33 (the
// longer tests alternate them): set image, rollout history/undo/restart/
// status, scale, get -o wide, explain and --validate=strict on apps kinds,
// create cronjob, the cj short name, create job --from=cronjob, logs
// job/x, and delete with each cascade.
func TestWorkloadCommandsEachKubectl(t *testing.T) {
	d := startDaemon(t)
	host := startRegistry(t, "e2e/busybox:2")
	d.mirror(t, "registry.k8s.io", host)
	ctx := context.Background()
	for _, v := range []string{"1.27", "1.33"} {
		name := "each" + strings.ReplaceAll(v, ".", "")
		d.mustKubectl(v, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, labels: {app: %[1]s}}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      containers:
      - name: app
        image: busybox
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", %[2]q]
`, name, webCommand), "apply", "-f", "-")
		rollout := func() {
			t.Helper()
			if out := d.mustKubectl(v, "", "rollout", "status", "deploy/"+name, "--timeout=120s"); !strings.Contains(out, "successfully rolled out") {
				t.Errorf("kubectl %s rollout status: %q", v, out)
			}
		}
		rollout()
		if out := d.mustKubectl(v, "", "set", "image", "deploy/"+name, "app=registry.k8s.io/e2e/busybox:2"); !strings.Contains(out, "image updated") {
			t.Errorf("kubectl %s set image: %q", v, out)
		}
		rollout()
		history := d.mustKubectl(v, "", "rollout", "history", "deploy/"+name)
		if !strings.Contains(history, "REVISION") || !strings.Contains(history, "\n1 ") || !strings.Contains(history, "\n2 ") {
			t.Errorf("kubectl %s rollout history:\n%s", v, history)
		}
		if out := d.mustKubectl(v, "", "rollout", "history", "deploy/"+name, "--revision=2"); !strings.Contains(out, "registry.k8s.io/e2e/busybox:2") {
			t.Errorf("kubectl %s rollout history --revision=2:\n%s", v, out)
		}
		if out := d.mustKubectl(v, "", "rollout", "undo", "deploy/"+name); !strings.Contains(out, "rolled back") {
			t.Errorf("kubectl %s rollout undo: %q", v, out)
		}
		rollout()
		if img := d.deployment(t, name).Spec.Template.Spec.Containers[0].Image; img != "busybox" {
			t.Errorf("kubectl %s: after undo the image is %q", v, img)
		}
		if out := d.mustKubectl(v, "", "rollout", "restart", "deploy/"+name); !strings.Contains(out, "restarted") {
			t.Errorf("kubectl %s rollout restart: %q", v, out)
		}
		rollout()
		if a := d.deployment(t, name).Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]; a == "" {
			t.Errorf("kubectl %s rollout restart set no restartedAt", v)
		}
		d.mustKubectl(v, "", "scale", "deploy/"+name, "--replicas=2")
		rollout()
		wide := d.mustKubectl(v, "", "get", "deploy,rs", "-l", "app="+name, "-o", "wide")
		for _, want := range []string{"CONTAINERS", "IMAGES", "SELECTOR", "deployment.apps/" + name, "app=" + name} {
			if !strings.Contains(wide, want) {
				t.Errorf("kubectl %s get deploy,rs -o wide lacks %q:\n%s", v, want, wide)
			}
		}
		if out := d.mustKubectl(v, "", "explain", "deployment.spec.strategy"); !strings.Contains(out, "rollingUpdate") {
			t.Errorf("kubectl %s explain deployment.spec.strategy:\n%s", v, out)
		}
		_, errOut, err := d.kubectl(v, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s-strict}
spec:
  replicas: 1
  selector: {matchLabels: {app: strict}}
  bogus: true
  template:
    metadata: {labels: {app: strict}}
    spec: {containers: [{name: app, image: busybox}]}
`, name), "apply", "--validate=strict", "-f", "-")
		if err == nil || !strings.Contains(errOut, `unknown field "spec.bogus"`) {
			t.Errorf("kubectl %s apply --validate=strict of an unknown Deployment field: %v\n%s", v, err, errOut)
		}

		// CronJob and Job.
		cj := "cj" + strings.ReplaceAll(v, ".", "")
		d.mustKubectl(v, "", "create", "cronjob", cj, "--image=busybox", "--schedule=*/5 * * * *", "--", "echo", "hello from "+cj)
		if out := d.mustKubectl(v, "", "get", "cj", cj, "--no-headers"); !strings.HasPrefix(out, cj+" ") || !strings.Contains(out, "*/5 * * * *") {
			t.Errorf("kubectl %s get cj: %q", v, out)
		}
		job := cj + "-now"
		if out := d.mustKubectl(v, "", "create", "job", job, "--from=cronjob/"+cj); !strings.Contains(out, "job.batch/"+job+" created") {
			t.Errorf("kubectl %s create job --from=cronjob: %q", v, out)
		}
		d.mustKubectl(v, "", "wait", "--for=condition=complete", "job/"+job, "--timeout=60s")
		if out := d.mustKubectl(v, "", "logs", "job/"+job); out != "hello from "+cj+"\n" {
			t.Errorf("kubectl %s logs job/%s: %q", v, job, out)
		}
		// The Job made from the CronJob is owned by it: deleting the
		// CronJob takes the Job and its pod along.
		j, err := d.client.BatchV1().Jobs("default").Get(ctx, job, metav1.GetOptions{})
		if err != nil || !slices.ContainsFunc(j.OwnerReferences, func(r metav1.OwnerReference) bool { return r.Kind == "CronJob" && r.Name == cj }) {
			t.Errorf("kubectl %s: the Job from cronjob/%s is not owned by it: %v", v, cj, err)
		}
		d.mustKubectl(v, "", "delete", "cj", cj, "--wait=true", "--timeout=60s")
		d.waitFor("the job and its pods to go", 30*time.Second, func() (bool, error) {
			_, err := d.client.BatchV1().Jobs("default").Get(ctx, job, metav1.GetOptions{})
			return apierrors.IsNotFound(err) && len(d.podsOf(t, "job-name="+job)) == 0, nil
		})

		// Cascades: orphan keeps the ReplicaSets (no owner), foreground
		// removes them with their pods before the call returns.
		if out := d.mustKubectl(v, "", "delete", "deploy/"+name, "--cascade=orphan"); !strings.Contains(out, "deleted") {
			t.Errorf("kubectl %s delete --cascade=orphan: %q", v, out)
		}
		rss, err := d.client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil || len(rss.Items) == 0 {
			t.Fatalf("kubectl %s: after an orphaning delete, ReplicaSets %v, %v", v, rss, err)
		}
		for _, rs := range rss.Items {
			if ref := metav1.GetControllerOf(&rs); ref != nil {
				t.Errorf("kubectl %s: orphaned ReplicaSet %s still has its owner %v", v, rs.Name, ref)
			}
		}
		d.mustKubectl(v, "", "delete", "rs", "-l", "app="+name, "--cascade=foreground", "--wait=true", "--timeout=90s")
		d.waitFor("the ReplicaSets' pods to go", 60*time.Second, func() (bool, error) {
			return len(d.podsOf(t, "app="+name)) == 0, nil
		})
	}
}

// TestWorkloadsProtobuf: apps/v1 and batch/v1 objects go both ways in
// protobuf, as client-go's controllers send them (kubectl and the other
// tests use JSON): a Deployment, a DaemonSet and a Job are created, read,
// listed, scaled and deleted by a client that speaks only protobuf.
func TestWorkloadsProtobuf(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	cfg, err := clientcmd.BuildConfigFromFlags("", d.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	warnings := &warningLog{}
	cfg.WarningHandler = warnings
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	zero, yes := int32(0), true
	tmpl := func(restart corev1.RestartPolicy) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "pb"}},
			Spec: corev1.PodSpec{RestartPolicy: restart, Containers: []corev1.Container{{Name: "app", Image: "busybox", Command: []string{"true"}}}}}
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pb"}}
	dep, err := c.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "pb"},
		Spec: appsv1.DeploymentSpec{Replicas: &zero, Selector: sel, Template: tmpl("")}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create a Deployment in protobuf: %v", err)
	}
	if dep.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || *dep.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("the Deployment read back in protobuf lacks its defaults: %+v", dep.Spec)
	}
	if _, err := c.AppsV1().DaemonSets("default").Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "pb"},
		Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl(""), UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}}},
		metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("create a DaemonSet (dry run) in protobuf: %v", err)
	}
	job, err := c.BatchV1().Jobs("default").Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pb"},
		Spec: batchv1.JobSpec{Suspend: &yes, Template: tmpl(corev1.RestartPolicyNever)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create a Job in protobuf: %v", err)
	}
	if job.Spec.Selector == nil || job.Spec.Template.Labels["batch.kubernetes.io/job-name"] != "pb" {
		t.Errorf("the Job read back in protobuf lacks its generated selector and labels: %+v", job.Spec)
	}
	if l, err := c.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 1 {
		t.Errorf("list Deployments in protobuf: %v, %v", l, err)
	}
	if l, err := c.BatchV1().Jobs("default").List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 1 {
		t.Errorf("list Jobs in protobuf: %v, %v", l, err)
	}
	scale, err := c.AppsV1().Deployments("default").GetScale(ctx, "pb", metav1.GetOptions{})
	if err != nil || scale.Spec.Replicas != 0 || scale.Status.Selector != "app=pb" {
		t.Errorf("the scale subresource in protobuf: %+v, %v", scale, err)
	}
	for _, del := range []func() error{
		func() error { return c.AppsV1().Deployments("default").Delete(ctx, "pb", metav1.DeleteOptions{}) },
		func() error { return c.BatchV1().Jobs("default").Delete(ctx, "pb", metav1.DeleteOptions{}) },
	} {
		if err := del(); err != nil {
			t.Errorf("delete in protobuf: %v", err)
		}
	}
	// A Job deleted without a propagation policy keeps its pods (batch/v1
	// defaults to orphan), and the server says so, as upstream.
	if want := "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning"; !slices.Contains(warnings.all(), want) {
		t.Errorf("warnings %q lack the Job deletion's %q", warnings.all(), want)
	}
}

// warningLog keeps the warnings a client-go client receives.
type warningLog struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningLog) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warningLog) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

// deployment reads a Deployment of the default namespace.
func (d *daemon) deployment(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	dep, err := d.client.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return dep
}
