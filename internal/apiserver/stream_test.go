package apiserver

import (
	"net/url"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStreamOptions(t *testing.T) {
	tests := []struct {
		name, query, subresource string
		want                     *corev1.PodExecOptions
		err                      string
	}{
		{name: "exec", query: "command=sh&command=-c&command=true&stdout=true&stderr=1&container=app", subresource: "exec",
			want: &corev1.PodExecOptions{Command: []string{"sh", "-c", "true"}, Stdout: true, Stderr: true, Container: "app"}},
		{name: "tty", query: "command=sh&stdin=true&stdout=true&tty=true", subresource: "exec",
			want: &corev1.PodExecOptions{Command: []string{"sh"}, Stdin: true, Stdout: true, TTY: true}},
		{name: "no command", query: "stdout=true", subresource: "exec", err: "you must specify at least one command for the container"},
		{name: "no stream", query: "command=true", subresource: "exec", err: "you must specify at least 1 of stdin, stdout, stderr"},
		{name: "bad bool", query: "command=true&stdin=maybe", subresource: "exec", err: `stdin: strconv.ParseBool: parsing "maybe": invalid syntax`},
		{name: "attach", query: "stdout=true", subresource: "attach", want: &corev1.PodExecOptions{Stdout: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := streamOptions(q, tt.subresource)
			if tt.err != "" {
				if !apierrors.IsBadRequest(err) || err.Error() != tt.err {
					t.Fatalf("err %v, want BadRequest %q", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v %v, want %+v", got, err, tt.want)
			}
		})
	}
}

func TestStreamContainer(t *testing.T) {
	pod := func(init, app, eph []string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
		for _, n := range init {
			p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: n})
		}
		for _, n := range app {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n})
		}
		for _, n := range eph {
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: n}})
		}
		return p
	}
	tests := []struct {
		name, container string
		pod             *corev1.Pod
		want, err       string
	}{
		{name: "only container", pod: pod(nil, []string{"app"}, nil), want: "app"},
		{name: "named", container: "b", pod: pod(nil, []string{"a", "b"}, nil), want: "b"},
		{name: "init", container: "i", pod: pod([]string{"i"}, []string{"a"}, nil), want: "i"},
		{name: "ephemeral", container: "debugger", pod: pod(nil, []string{"a"}, []string{"debugger"}), want: "debugger"},
		{name: "must choose", pod: pod([]string{"i"}, []string{"a", "b"}, []string{"e"}),
			err: "a container name must be specified for pod p, choose one of: [i a b e]"},
		{name: "unknown", container: "x", pod: pod(nil, []string{"a"}, nil), err: "container x is not valid for pod p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := streamContainer(tt.pod, tt.container)
			if tt.err != "" {
				if !apierrors.IsBadRequest(err) || err.Error() != tt.err {
					t.Fatalf("err %v, want BadRequest %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q %v, want %q", got, err, tt.want)
			}
		})
	}
}

func TestPortForwardPorts(t *testing.T) {
	tests := []struct {
		query string
		want  []int32
		err   bool
	}{
		{query: "ports=80", want: []int32{80}},
		{query: "ports=80,8080&ports=9000", want: []int32{80, 8080, 9000}},
		{query: "ports=0", err: true},
		{query: "ports=65536", err: true},
		{query: "ports=http", err: true},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		got, err := portForwardPorts(q)
		if tt.err {
			if !apierrors.IsBadRequest(err) {
				t.Errorf("%s: err %v, want BadRequest", tt.query, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %v %v, want %v", tt.query, got, err, tt.want)
		}
	}
}
