package apiserver

import (
	"context"
	"io"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// ResourceMetrics serve the metrics.k8s.io API, which metrics-server
// serves in a cluster; the kubelet implements it.
type ResourceMetrics interface {
	PodMetrics(ctx context.Context, ns string, sel labels.Selector) []metricsv1beta1.PodMetrics
	NodeMetrics(ctx context.Context) []metricsv1beta1.NodeMetrics
}

// MetricsExporter writes the Prometheus text exposition of /metrics.
type MetricsExporter interface {
	WriteMetrics(w io.Writer)
}

const metricsGroupVersion = "metrics.k8s.io/v1beta1"

var metricsGroup = metav1.APIGroup{
	TypeMeta:         metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
	Name:             "metrics.k8s.io",
	Versions:         []metav1.GroupVersionForDiscovery{{GroupVersion: metricsGroupVersion, Version: "v1beta1"}},
	PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: metricsGroupVersion, Version: "v1beta1"},
}

func (s *Server) serveMetricsGroup(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, &metricsGroup)
}

func (s *Server) serveMetricsResources(w http.ResponseWriter, r *http.Request) {
	verbs := metav1.Verbs{"get", "list"}
	s.writeJSON(w, http.StatusOK, &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: metricsGroupVersion,
		APIResources: []metav1.APIResource{
			{Name: "nodes", SingularName: "", Namespaced: false, Kind: "NodeMetrics", Verbs: verbs},
			{Name: "pods", SingularName: "", Namespaced: true, Kind: "PodMetrics", Verbs: verbs},
		},
	})
}

// serveMetricsAPI serves /apis/metrics.k8s.io/v1beta1/{nodes,pods}, with
// namespaces, names and label selectors, read-only.
func (s *Server) serveMetricsAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		s.methodNotAllowed(w, r)
		return
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/apis/"+metricsGroupVersion), "/"), "/")
	var ns string
	if len(parts) >= 2 && parts[0] == "namespaces" {
		ns, parts = parts[1], parts[2:]
	}
	if len(parts) == 0 || len(parts) > 2 || (parts[0] != "pods" && parts[0] != "nodes") || (parts[0] == "nodes" && ns != "") {
		s.serveNotFound(w, r)
		return
	}
	sel := labels.Everything()
	if ls := r.URL.Query().Get("labelSelector"); ls != "" {
		parsed, err := labels.Parse(ls)
		if err != nil {
			s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
			return
		}
		sel = parsed
	}
	ctx := r.Context()
	gr := schema.GroupResource{Group: "metrics.k8s.io", Resource: parts[0]}
	if parts[0] == "nodes" {
		items := s.metrics.NodeMetrics(ctx)
		if len(parts) == 2 {
			for i := range items {
				if items[i].Name == parts[1] {
					items[i].TypeMeta = metav1.TypeMeta{Kind: "NodeMetrics", APIVersion: metricsGroupVersion}
					s.writeJSON(w, http.StatusOK, &items[i])
					return
				}
			}
			s.writeError(w, r, apierrors.NewNotFound(gr, parts[1]))
			return
		}
		var kept []metricsv1beta1.NodeMetrics
		for _, it := range items {
			if sel.Matches(labels.Set(it.Labels)) {
				kept = append(kept, it)
			}
		}
		s.writeJSON(w, http.StatusOK, &metricsv1beta1.NodeMetricsList{
			TypeMeta: metav1.TypeMeta{Kind: "NodeMetricsList", APIVersion: metricsGroupVersion}, Items: nonNil(kept),
		})
		return
	}
	items := s.metrics.PodMetrics(ctx, ns, sel)
	if len(parts) == 2 {
		for i := range items {
			if items[i].Name == parts[1] {
				items[i].TypeMeta = metav1.TypeMeta{Kind: "PodMetrics", APIVersion: metricsGroupVersion}
				s.writeJSON(w, http.StatusOK, &items[i])
				return
			}
		}
		s.writeError(w, r, apierrors.NewNotFound(gr, parts[1]))
		return
	}
	s.writeJSON(w, http.StatusOK, &metricsv1beta1.PodMetricsList{
		TypeMeta: metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: metricsGroupVersion}, Items: nonNil(items),
	})
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// servePrometheus serves /metrics in the Prometheus text format.
func (s *Server) servePrometheus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.exporter.WriteMetrics(w)
}
