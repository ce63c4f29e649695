package kubelet

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func running() corev1.ContainerStatus {
	return corev1.ContainerStatus{Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func exited(code int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
}

func waitingAfter(code int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}},
	}
}

func creating() corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
}

func named(name string, cs corev1.ContainerStatus) corev1.ContainerStatus {
	cs.Name = name
	return cs
}

func startedSidecar() corev1.ContainerStatus {
	cs := running()
	t := true
	cs.Started = &t
	return cs
}

func TestPodPhase(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		policy   corev1.RestartPolicy
		statuses []corev1.ContainerStatus
		terminal bool
		want     corev1.PodPhase
	}{
		{"creating", corev1.RestartPolicyAlways, []corev1.ContainerStatus{creating(), running()}, false, corev1.PodPending},
		{"all running", corev1.RestartPolicyAlways, []corev1.ContainerStatus{running(), running()}, false, corev1.PodRunning},
		{"missing status", corev1.RestartPolicyAlways, []corev1.ContainerStatus{running()}, false, corev1.PodPending},
		{"exit 0 always", corev1.RestartPolicyAlways, []corev1.ContainerStatus{exited(0), exited(0)}, false, corev1.PodRunning},
		{"exit 0 onfailure", corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{exited(0), exited(0)}, false, corev1.PodSucceeded},
		{"exit 1 onfailure", corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{exited(1), exited(0)}, false, corev1.PodRunning},
		{"exit 0 never", corev1.RestartPolicyNever, []corev1.ContainerStatus{exited(0), exited(0)}, false, corev1.PodSucceeded},
		{"exit 1 never", corev1.RestartPolicyNever, []corev1.ContainerStatus{exited(1), exited(0)}, false, corev1.PodFailed},
		{"crash loop counts as stopped", corev1.RestartPolicyAlways, []corev1.ContainerStatus{waitingAfter(1), waitingAfter(1)}, false, corev1.PodRunning},
		{"one still running", corev1.RestartPolicyNever, []corev1.ContainerStatus{exited(1), running()}, false, corev1.PodRunning},
		{"deleted, all exited 0", corev1.RestartPolicyAlways, []corev1.ContainerStatus{exited(0), exited(0)}, true, corev1.PodSucceeded},
		{"deleted, killed", corev1.RestartPolicyAlways, []corev1.ContainerStatus{exited(137), exited(0)}, true, corev1.PodFailed},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: tc.policy, Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}}}
			st := &corev1.PodStatus{}
			for i, cs := range tc.statuses {
				st.ContainerStatuses = append(st.ContainerStatuses, named(string(rune('a'+i)), cs))
			}
			if got := podPhase(pod, st, &runtimePod{}, tc.terminal); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestPodPhaseWithInitContainers is getPhase with an init container
// ("init") and a sidecar ("side") before the app container ("app").
func TestPodPhaseWithInitContainers(t *testing.T) {
	none := corev1.ContainerStatus{}
	for _, tc := range []struct {
		desc            string
		policy          corev1.RestartPolicy
		init, side, app corev1.ContainerStatus
		initialized     bool // an app instance in the current sandbox
		want            corev1.PodPhase
	}{
		{"init running", corev1.RestartPolicyAlways, running(), none, none, false, corev1.PodPending},
		{"init failed, Never", corev1.RestartPolicyNever, exited(1), none, none, false, corev1.PodFailed},
		{"init failed, Always: restarting", corev1.RestartPolicyAlways, waitingAfter(1), none, none, false, corev1.PodPending},
		{"init done, sidecar not started", corev1.RestartPolicyAlways, exited(0), running(), none, false, corev1.PodPending},
		{"initialized, app creating", corev1.RestartPolicyAlways, exited(0), startedSidecar(), creating(), false, corev1.PodPending},
		{"all running", corev1.RestartPolicyAlways, exited(0), startedSidecar(), running(), true, corev1.PodRunning},
		{"app done, sidecar running", corev1.RestartPolicyOnFailure, exited(0), startedSidecar(), exited(0), true, corev1.PodRunning},
		{"app done, sidecar stopped", corev1.RestartPolicyOnFailure, exited(0), exited(143), exited(0), true, corev1.PodSucceeded},
		{"app failed, Never, sidecar stopped", corev1.RestartPolicyNever, exited(0), exited(137), exited(2), true, corev1.PodFailed},
		{"sidecar restarting after init", corev1.RestartPolicyAlways, exited(0), waitingAfter(1), running(), true, corev1.PodRunning},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			always := corev1.ContainerRestartPolicyAlways
			pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: tc.policy,
				InitContainers: []corev1.Container{{Name: "init"}, {Name: "side", RestartPolicy: &always}},
				Containers:     []corev1.Container{{Name: "app"}}}}
			st := &corev1.PodStatus{}
			for _, c := range []struct {
				name string
				cs   corev1.ContainerStatus
				list *[]corev1.ContainerStatus
			}{{"init", tc.init, &st.InitContainerStatuses}, {"side", tc.side, &st.InitContainerStatuses}, {"app", tc.app, &st.ContainerStatuses}} {
				if c.cs.State != (corev1.ContainerState{}) {
					*c.list = append(*c.list, named(c.name, c.cs))
				}
			}
			rp := &runtimePod{sandboxOf: map[string]string{}}
			rp.sandboxes = []*runtimeapi.PodSandboxStatus{{Id: "sb"}}
			if tc.initialized {
				rp.containers = []*runtimeapi.ContainerStatus{{Id: "c", Labels: map[string]string{labelContainerName: "app"}}}
				rp.sandboxOf["c"] = "sb"
			}
			if got := podPhase(pod, st, rp, false); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestContainersReadyCondition(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}, {Name: "b"}, {Name: "c"}}}}
	st := &corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
		{Name: "a", Ready: true}, {Name: "b"},
	}}
	c := containersReadyCondition(pod, st)
	if c.Status != corev1.ConditionFalse || c.Reason != "ContainersNotReady" ||
		c.Message != "containers with unknown status: [c], containers with unready status: [b]" {
		t.Errorf("got %+v", c)
	}
	st.Phase = corev1.PodSucceeded
	if c := containersReadyCondition(pod, st); c.Reason != "PodCompleted" || c.Status != corev1.ConditionFalse {
		t.Errorf("succeeded: %+v", c)
	}
}

func TestConditionsKeepTransitionTimes(t *testing.T) {
	k := &Kubelet{}
	old := metav1.NewTime(metav1.Now().Add(-3600e9))
	now := metav1.Now()
	pod := &corev1.Pod{
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: "example.com/gate", Status: corev1.ConditionTrue},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: old},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: old},
		}},
	}
	st := &corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "a", Ready: true}}}
	conds := k.conditions(pod, st, &runtimePod{}, false, now)
	var types []string
	for _, c := range conds {
		types = append(types, string(c.Type))
		switch c.Type {
		case corev1.ContainersReady:
			if !c.LastTransitionTime.Equal(&old) {
				t.Errorf("unchanged ContainersReady got a new transition time")
			}
		case corev1.PodReady:
			if !c.LastTransitionTime.Equal(&now) {
				t.Errorf("Ready flipped but kept its transition time")
			}
		}
	}
	if got := strings.Join(types, ","); got != "example.com/gate,PodReadyToStartContainers,Initialized,Ready,ContainersReady,PodScheduled" {
		t.Errorf("order %s", got)
	}
}

func TestPodHostname(t *testing.T) {
	long := strings.Repeat("a", 62) + "-b"
	fqdn := true
	for _, tc := range []struct {
		desc string
		pod  corev1.Pod
		want string
	}{
		{"pod name", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, "web"},
		{"spec.hostname", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{Hostname: "h"}}, "h"},
		{"truncated", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: long}}, strings.Repeat("a", 62)},
		{"fqdn", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: corev1.PodSpec{Subdomain: "sub", SetHostnameAsFQDN: &fqdn}}, "web.sub.ns.svc.cluster.local"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got, err := podHostname(&tc.pod); err != nil || got != tc.want {
				t.Fatalf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}
}

func TestManagedHostsContent(t *testing.T) {
	got := string(managedHostsContent([]string{"10.244.0.12"}, "web", "", "default"))
	want := "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n10.244.0.12\tweb\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	sub := string(managedHostsContent([]string{"10.0.0.1"}, "web", "sub", "ns"))
	if !strings.HasSuffix(sub, "10.0.0.1\tweb.sub.ns.svc.cluster.local\tweb\n") {
		t.Errorf("subdomain entry: %q", sub)
	}
	aliases := string(hostAliasesContent([]corev1.HostAlias{{IP: "1.2.3.4", Hostnames: []string{"a", "b"}}}))
	if aliases != "\n# Entries added by HostAliases.\n1.2.3.4\ta\tb\n" {
		t.Errorf("aliases %q", aliases)
	}
}

func TestDNSMerging(t *testing.T) {
	v := "2"
	opts := mergeDNSOptions([]string{"ndots:5", "edns0"}, []corev1.PodDNSConfigOption{{Name: "ndots", Value: &v}, {Name: "rotate"}})
	if strings.Join(opts, " ") != "ndots:2 edns0 rotate" {
		t.Errorf("options %v", opts)
	}
	if got := appendUnique([]string{"a", "b"}, "b", "c"); strings.Join(got, ",") != "a,b,c" {
		t.Errorf("appendUnique %v", got)
	}
	many := make([]string, 40)
	for i := range many {
		many[i] = "d" + strings.Repeat("x", i%3)
	}
	if got := trimSearches(many); len(got) != maxSearchDomains {
		t.Errorf("search domains kept: %d", len(got))
	}
}
