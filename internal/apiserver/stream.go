package apiserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/peapod/peapod/internal/registry"
)

// PodStreams locates the node side of pods/exec, pods/attach and
// pods/portforward: the kubelet asks the runtime for a session and answers
// with the URL of its streaming server.
type PodStreams interface {
	ExecURL(ctx context.Context, pod *corev1.Pod, container string, cmd []string, stdin, stdout, stderr, tty bool) (*url.URL, error)
	AttachURL(ctx context.Context, pod *corev1.Pod, container string, stdin, stdout, stderr, tty bool) (*url.URL, error)
	PortForwardURL(ctx context.Context, pod *corev1.Pod, ports []int32) (*url.URL, error)
}

// serveStream answers pods/{name}/exec, attach and portforward as
// kube-apiserver's connecters do: it resolves the session's location, then
// proxies the upgraded connection there. SPDY clients (kubectl before 1.30)
// are proxied as they are; WebSocket clients speaking v5.channel.k8s.io
// are translated to SPDY, and port-forward tunnelled in WebSocket is
// unwrapped (streamws.go).
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	if info.Verb != "get" && info.Verb != "create" {
		s.methodNotAllowed(w, r)
		return
	}
	if s.streams == nil {
		s.writeError(w, r, apierrors.NewServiceUnavailable("no kubelet serves streams"))
		return
	}
	obj, err := st.Get(r.Context(), info.Namespace, info.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pod := obj.(*corev1.Pod)
	q := r.URL.Query()
	switch info.Subresource {
	case "exec", "attach":
		opts, err := streamOptions(q, info.Subresource)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		opts.Container, err = streamContainer(pod, opts.Container)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var location *url.URL
		if info.Subresource == "exec" {
			location, err = s.streams.ExecURL(r.Context(), pod, opts.Container, opts.Command, opts.Stdin, opts.Stdout, opts.Stderr, opts.TTY)
		} else {
			location, err = s.streams.AttachURL(r.Context(), pod, opts.Container, opts.Stdin, opts.Stdout, opts.Stderr, opts.TTY)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if wsstream.IsWebSocketRequestWithStreamCloseProtocol(r) {
			s.serveWebSocketStream(w, r, location, streamOpts{stdin: opts.Stdin, stdout: opts.Stdout, stderr: opts.Stderr, tty: opts.TTY})
			return
		}
		s.upgradeHandler(location).ServeHTTP(w, r)
	case "portforward":
		ports, err := portForwardPorts(q)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		location, err := s.streams.PortForwardURL(r.Context(), pod, ports)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if wsstream.IsWebSocketRequestWithTunnelingProtocol(r) {
			s.servePortForwardTunnel(w, r, location)
			return
		}
		s.upgradeHandler(location).ServeHTTP(w, r)
	}
}

// upgradeHandler proxies an upgrade request to location.
func (s *Server) upgradeHandler(location *url.URL) *proxy.UpgradeAwareHandler {
	return proxy.NewUpgradeAwareHandler(location, s.streamTransport, false, true, streamResponder{s})
}

// newStreamTransport reaches the runtime's streaming server, which listens
// on 127.0.0.1 with plain HTTP: each URL carries its own single-use token.
func newStreamTransport() *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
	}
}

type streamResponder struct{ s *Server }

func (r streamResponder) Error(w http.ResponseWriter, req *http.Request, err error) {
	r.s.writeError(w, req, apierrors.NewInternalError(err))
}

// streamOptions reads PodExecOptions (or PodAttachOptions) from the query
// string and checks them as the API server and kubelet do.
func streamOptions(q url.Values, subresource string) (*corev1.PodExecOptions, error) {
	opts := &corev1.PodExecOptions{Container: q.Get("container"), Command: q["command"]}
	for name, field := range map[string]*bool{"stdin": &opts.Stdin, "stdout": &opts.Stdout, "stderr": &opts.Stderr, "tty": &opts.TTY} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("%s: %v", name, err))
		}
		*field = b
	}
	if subresource == "exec" && len(opts.Command) == 0 {
		return nil, apierrors.NewBadRequest("you must specify at least one command for the container")
	}
	if !opts.Stdin && !opts.Stdout && !opts.Stderr {
		return nil, apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
	}
	return opts, nil
}

// streamContainer names the container of a stream as the API server's
// streamLocation does: the only one, or one that exists in the pod.
func streamContainer(pod *corev1.Pod, name string) (string, error) {
	if name == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
		}
		names := containerNames(pod.Spec.InitContainers)
		names = append(names, containerNames(pod.Spec.Containers)...)
		for _, c := range pod.Spec.EphemeralContainers {
			names = append(names, c.Name)
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", pod.Name, names)
		return "", apierrors.NewBadRequest(msg)
	}
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range cs {
			if c.Name == name {
				return name, nil
			}
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

func containerNames(cs []corev1.Container) []string {
	names := make([]string, 0, len(cs))
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

// portForwardPorts reads the ports query parameters (SPDY clients name
// their ports per stream instead and may send none).
func portForwardPorts(q url.Values) ([]int32, error) {
	var ports []int32
	for _, v := range q["ports"] {
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 16)
			if err != nil || n == 0 {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid port %q: port must be in the range 1 to 65535", p))
			}
			ports = append(ports, int32(n))
		}
	}
	return ports, nil
}
