package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// deployment reads a Deployment of the default namespace.
func (d *daemon) deployment(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	dep, err := d.client.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return dep
}
