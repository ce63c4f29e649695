package apiserver

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/registry"
)

// serveLog answers GET pods/{name}/log: it checks the pod and options here
// and lets the kubelet stream the container's log.
func (s *Server) serveLog(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	obj, err := st.Get(r.Context(), info.Namespace, info.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pod := obj.(*corev1.Pod)
	opts, err := podLogOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if opts.Container == "" {
		if len(pod.Spec.Containers) != 1 {
			names := make([]string, 0, len(pod.Spec.Containers))
			for _, c := range pod.Spec.Containers {
				names = append(names, c.Name)
			}
			s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", pod.Name, names)))
			return
		}
		opts.Container = pod.Spec.Containers[0].Name
	}
	if s.logs == nil {
		s.writeError(w, r, apierrors.NewServiceUnavailable("no kubelet serves logs"))
		return
	}
	fw := &flushWriter{w: w, rc: http.NewResponseController(w), follow: opts.Follow, header: func() {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Transfer-Encoding", "chunked")
	}}
	ctx, cancel := s.longRunning(r.Context())
	defer cancel()
	if err := s.logs.Logs(ctx, pod, opts, fw); err != nil {
		if fw.started {
			return // the body is under way; the stream just ends
		}
		s.writeError(w, r, err)
		return
	}
	if !fw.started {
		fw.header()
		w.WriteHeader(http.StatusOK)
	}
}

// flushWriter sends the header on first write and flushes every write of a
// followed log.
type flushWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	follow  bool
	started bool
	header  func()
}

func (f *flushWriter) Write(p []byte) (int, error) {
	if !f.started {
		f.started = true
		f.header()
		f.w.WriteHeader(http.StatusOK)
	}
	n, err := f.w.Write(p)
	if err == nil && f.follow {
		err = f.rc.Flush()
	}
	return n, err
}

func podLogOptions(r *http.Request) (*corev1.PodLogOptions, error) {
	q := r.URL.Query()
	opts := &corev1.PodLogOptions{Container: q.Get("container")}
	var err error
	parseBool := func(name string) bool {
		v := q.Get(name)
		if v == "" || err != nil {
			return false
		}
		b, perr := strconv.ParseBool(v)
		if perr != nil {
			err = apierrors.NewBadRequest(fmt.Sprintf("%s: %v", name, perr))
		}
		return b
	}
	parseInt := func(name string) *int64 {
		v := q.Get(name)
		if v == "" || err != nil {
			return nil
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil {
			err = apierrors.NewBadRequest(fmt.Sprintf("%s: %v", name, perr))
			return nil
		}
		return &n
	}
	opts.Follow = parseBool("follow")
	opts.Previous = parseBool("previous")
	opts.Timestamps = parseBool("timestamps")
	opts.TailLines = parseInt("tailLines")
	opts.LimitBytes = parseInt("limitBytes")
	opts.SinceSeconds = parseInt("sinceSeconds")
	if v := q.Get("sinceTime"); v != "" && err == nil {
		t, perr := time.Parse(time.RFC3339, v)
		if perr != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("sinceTime: %v", perr))
		}
		mt := metav1.NewTime(t)
		opts.SinceTime = &mt
	}
	if v := q.Get("stream"); v != "" {
		opts.Stream = &v
	}
	return opts, err
}
