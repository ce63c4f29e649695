package kubelet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestRunHook(t *testing.T) {
	tk := newTestKubelet(t)
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		http.Error(w, "nope", http.StatusInternalServerError)
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u1"}}
	c := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	tk.rt.exec = func(_ string, cmd []string) (*runtimeapi.ExecSyncResponse, error) {
		if cmd[0] == "fail" {
			return &runtimeapi.ExecSyncResponse{ExitCode: 2, Stdout: []byte("out"), Stderr: []byte("err")}, nil
		}
		return &runtimeapi.ExecSyncResponse{}, nil
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		desc    string
		ctx     context.Context
		handler corev1.LifecycleHandler
		msg     string
	}{
		{"exec", context.Background(), corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"ok"}}}, ""},
		{"exec fails", context.Background(), corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"fail", "now"}}},
			`Exec lifecycle hook ([fail now]) for Container "app" in Pod "web_default(u1)" failed - error: command 'fail now' exited with 2: err, message: "outerr"`},
		// The status code does not matter, only an answer.
		{"httpGet by port name", context.Background(), corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/hook", Port: intstr.FromString("http"), Scheme: "HTTP"}}, ""},
		{"httpGet refused", context.Background(), corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/hook", Port: intstr.FromInt32(int32(closed)), Scheme: "HTTP"}},
			fmt.Sprintf(`HTTP lifecycle hook (/hook) for Container "app" in Pod "web_default(u1)" failed - error: Get "http://127.0.0.1:%d/hook": dial tcp 127.0.0.1:%d: connect: connection refused`, closed, closed)},
		{"sleep", context.Background(), corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 0}}, ""},
		{"sleep cut short", canceled, corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}},
			`Sleep lifecycle hook (5) for Container "app" in Pod "web_default(u1)" failed - error: container terminated before sleep hook finished`},
		{"tcpSocket is no handler", context.Background(), corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(1)}}, "Cannot run handler: invalid handler: "},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			start := time.Now()
			msg, err := tk.runHook(tc.ctx, pod, c, "c1", &tc.handler, "127.0.0.1")
			if (err != nil) != (tc.msg != "") || !strings.HasPrefix(msg, tc.msg) {
				t.Errorf("got %q, %v; want %q", msg, err, tc.msg)
			}
			if time.Since(start) > 2*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
		})
	}
	if got == nil || got.Header.Get("User-Agent") != "kube-lifecycle/1.37" || got.URL.Path != "/hook" {
		t.Errorf("hook request %+v", got)
	}

	// No LifecycleHTTPFallback: an HTTPS hook answered in plain HTTP
	// fails, and is not tried again over HTTP.
	got = nil
	https := corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/hook", Port: intstr.FromString("http"), Scheme: "HTTPS"}}
	msg, err := tk.runHook(context.Background(), pod, c, "c1", &https, "127.0.0.1")
	if err == nil || !strings.Contains(msg, "http: server gave HTTP response to HTTPS client") {
		t.Errorf("HTTPS hook against a plain-HTTP server: %q, %v; want it failed", msg, err)
	}
	if got != nil {
		t.Errorf("the HTTPS hook was retried over HTTP: %+v", got)
	}
}
