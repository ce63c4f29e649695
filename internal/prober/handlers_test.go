package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func hostPort(t *testing.T, rawURL string) (string, int) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	return u.Hostname(), port
}

func TestHTTPProbe(t *testing.T) {
	var seen http.Header
	var seenHost string
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		seen, seenHost = r.Header.Clone(), r.Host
		fmt.Fprint(w, "fine")
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "broken", http.StatusServiceUnavailable) })
	mux.HandleFunc("/local", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://elsewhere.invalid/")
		w.WriteHeader(http.StatusMovedPermanently)
		fmt.Fprint(w, "moved")
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	host, port := hostPort(t, srv.URL)
	c := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}
	closed := closedPort(t)
	for _, tc := range []struct {
		desc    string
		action  corev1.HTTPGetAction
		want    outcome
		output  string
		wantErr string
	}{
		{"2xx", corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(port))}, outcomeSuccess, "fine", ""},
		{"named port", corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromString("web")}, outcomeSuccess, "fine", ""},
		{"port number as a string", corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromString(strconv.Itoa(port))}, outcomeSuccess, "fine", ""},
		{"5xx", corev1.HTTPGetAction{Path: "/fail", Port: intstr.FromInt32(int32(port))}, outcomeFailure, "HTTP probe failed with statuscode: 503", ""},
		{"same-host redirect followed", corev1.HTTPGetAction{Path: "/local", Port: intstr.FromInt32(int32(port))}, outcomeSuccess, "fine", ""},
		{"redirect elsewhere is a warning", corev1.HTTPGetAction{Path: "/away", Port: intstr.FromInt32(int32(port))}, outcomeWarning, "Probe terminated redirects, Response body: moved", ""},
		// Go names the redirect's Location in the error, as upstream's
		// probes show it.
		{"redirect loop", corev1.HTTPGetAction{Path: "/loop", Port: intstr.FromInt32(int32(port))}, outcomeFailure, `Get "/loop": stopped after 10 redirects`, ""},
		{"refused", corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(int32(closed))}, outcomeFailure,
			fmt.Sprintf("Get \"http://%s:%d/\": dial tcp %s:%d: connect: connection refused", host, closed, host, closed), ""},
		{"unknown port name", corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}, outcomeUnknown, "", `strconv.Atoi: parsing "http": invalid syntax`},
		{"port out of range", corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(70000)}, outcomeUnknown, "", "invalid port number: 70000"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			req, err := NewHTTPRequest(&tc.action, c, host, "kube-probe/1.37")
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out, output, err := probeHTTP(context.Background(), req, time.Second)
			if err != nil || out != tc.want || output != tc.output {
				t.Errorf("got %s %q %v, want %s %q", out, output, err, tc.want, tc.output)
			}
		})
	}
	t.Run("headers", func(t *testing.T) {
		action := corev1.HTTPGetAction{Path: "/ok?x=1", Port: intstr.FromInt32(int32(port)), HTTPHeaders: []corev1.HTTPHeader{
			{Name: "X-Custom", Value: "a"}, {Name: "x-custom", Value: "b"}, {Name: "Host", Value: "example.test"},
		}}
		req, err := NewHTTPRequest(&action, c, host, "kube-probe/1.37")
		if err != nil {
			t.Fatal(err)
		}
		if out, _, _ := probeHTTP(context.Background(), req, time.Second); out != outcomeSuccess {
			t.Fatal(out)
		}
		if seen.Get("User-Agent") != "kube-probe/1.37" || seen.Get("Accept") != "*/*" || strings.Join(seen.Values("X-Custom"), ",") != "a,b" || seenHost != "example.test" {
			t.Errorf("headers %v, host %s", seen, seenHost)
		}
		action.HTTPHeaders = []corev1.HTTPHeader{{Name: "User-Agent", Value: "mine"}, {Name: "Accept", Value: ""}}
		req, _ = NewHTTPRequest(&action, c, host, "kube-probe/1.37")
		probeHTTP(context.Background(), req, time.Second)
		if seen.Get("User-Agent") != "mine" || len(seen.Values("Accept")) != 0 {
			t.Errorf("headers %v", seen)
		}
	})
}

// closedPort returns a local port nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if out, output, err := probeTCP(context.Background(), "127.0.0.1", l.Addr().(*net.TCPAddr).Port, time.Second); out != outcomeSuccess || output != "" || err != nil {
		t.Errorf("open port: %s %q %v", out, output, err)
	}
	closed := closedPort(t)
	want := fmt.Sprintf("dial tcp 127.0.0.1:%d: connect: connection refused", closed)
	if out, output, err := probeTCP(context.Background(), "127.0.0.1", closed, time.Second); out != outcomeFailure || output != want || err != nil {
		t.Errorf("closed port: %s %q %v", out, output, err)
	}
}

func TestGRPCProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(l)
	defer srv.Stop()
	port := l.Addr().(*net.TCPAddr).Port
	closed := closedPort(t)
	for _, tc := range []struct {
		desc, service string
		port          int
		want          outcome
		output        string
	}{
		{"serving", "", port, outcomeSuccess, "service healthy"},
		{"not serving", "db", port, outcomeFailure, `service unhealthy (responded with "NOT_SERVING")`},
		{"unknown service", "nope", port, outcomeFailure, "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"},
		{"refused", "", closed, outcomeFailure, fmt.Sprintf("timeout: failed to connect service \"127.0.0.1:%d\" within 1s: context deadline exceeded", closed)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			out, output, err := probeGRPC(context.Background(), "127.0.0.1", tc.port, tc.service, time.Second, "kube-probe/1.37")
			if err != nil || out != tc.want || output != tc.output {
				t.Errorf("got %s %q %v, want %s %q", out, output, err, tc.want, tc.output)
			}
		})
	}
}

// fakeExec answers ExecSync from a function, counting calls.
type fakeExec struct {
	calls int
	fn    func(*runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error)
}

func (f *fakeExec) ExecSync(_ context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	f.calls++
	return f.fn(req)
}

func TestExecProbe(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		resp    *runtimeapi.ExecSyncResponse
		err     error
		want    outcome
		output  string
		wantErr bool
	}{
		{"exit 0", &runtimeapi.ExecSyncResponse{Stdout: []byte("ok\n")}, nil, outcomeSuccess, "ok\n", false},
		{"exit 1, stdout then stderr", &runtimeapi.ExecSyncResponse{ExitCode: 1, Stdout: []byte("out\n"), Stderr: []byte("err\n")}, nil, outcomeFailure, "out\nerr\n", false},
		{"output capped at 10 KiB", &runtimeapi.ExecSyncResponse{ExitCode: 2, Stdout: []byte(strings.Repeat("x", 20000))}, nil, outcomeFailure, strings.Repeat("x", 10240), false},
		{"timeout", nil, fmt.Errorf("timeout 1s exceeded: %w", context.DeadlineExceeded), outcomeFailure, `command timed out: "cat /tmp/healthy" timed out after 1s`, false},
		{"runtime error", nil, errors.New("container is not running"), outcomeUnknown, "", true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			rt := &fakeExec{fn: func(req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
				if req.Timeout != 1 || req.ContainerId != "abc" {
					t.Errorf("request %+v", req)
				}
				return tc.resp, tc.err
			}}
			out, output, err := probeExec(context.Background(), rt, "abc", []string{"cat", "/tmp/healthy"}, time.Second)
			if out != tc.want || output != tc.output || (err != nil) != tc.wantErr {
				t.Errorf("got %s %q %v, want %s %q", out, output, err, tc.want, tc.output)
			}
		})
	}
}

// TestHTTPSProbe: scheme HTTPS probes over TLS without verifying the
// server's certificate (a pod's is self-signed), as the kubelet does; the
// same port spoken to over plain HTTP fails.
func TestHTTPSProbe(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secure") }))
	defer srv.Close()
	host, port := hostPort(t, srv.URL)
	c := &corev1.Container{Name: "app"}
	for _, tc := range []struct {
		scheme corev1.URIScheme
		want   outcome
	}{
		{corev1.URISchemeHTTPS, outcomeSuccess},
		{corev1.URISchemeHTTP, outcomeFailure},
	} {
		req, err := NewHTTPRequest(&corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(int32(port)), Scheme: tc.scheme}, c, host, "kube-probe/1.37")
		if err != nil {
			t.Fatal(err)
		}
		out, output, err := probeHTTP(context.Background(), req, time.Second)
		if err != nil || out != tc.want || (tc.want == outcomeSuccess && output != "secure") {
			t.Errorf("%s: got %s %q %v, want %s", tc.scheme, out, output, err, tc.want)
		}
	}
}
