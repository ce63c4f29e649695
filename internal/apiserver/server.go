// Package apiserver is the HTTP face of peapod's Kubernetes API: discovery,
// OpenAPI, authentication, content negotiation (JSON, YAML input, server-side
// Tables), and the REST verbs get, list, watch, create, update, patch, delete
// and deletecollection, plus pods/log. Behaviour behind the verbs lives in
// package registry; this package only translates HTTP to it and errors back
// into metav1.Status, once, at the edge.
package apiserver

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/peapod/peapod/internal/audit"
	"github.com/peapod/peapod/internal/printers"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/scheme"
)

// PodLogs serves pods/log; the kubelet implements it.
type PodLogs interface {
	// Logs writes the log of a container of pod to w, following it while
	// opts.Follow is set and ctx is alive.
	Logs(ctx context.Context, pod *corev1.Pod, opts *corev1.PodLogOptions, w io.Writer) error
}

// Config wires a Server.
type Config struct {
	Scheme  *scheme.Scheme
	Stores  []*registry.Store
	Printer *printers.Printer
	Logs    PodLogs
	Version version.Info
	Log     *slog.Logger
	Now     func() time.Time
	// ServerAddress is host:port advertised in /api.
	ServerAddress string
	// RequireClientCert: refuse requests without a verified client
	// certificate (401). Off only for in-process tests.
	RequireClientCert bool
	// Metrics, if set, serves the metrics.k8s.io API.
	Metrics ResourceMetrics
	// Exporter, if set, serves /metrics.
	Exporter MetricsExporter
	// Tokens, if set, authenticates service-account bearer tokens.
	Tokens TokenAuthenticator
	// TokenRequests, if set, serves serviceaccounts/token.
	TokenRequests TokenRequester
	// Streams, if set, serves pods/exec, pods/attach and pods/portforward.
	Streams PodStreams
	// Authorizer, if set, decides every request of an authenticated user.
	Authorizer Authorizer
	// Anonymous: requests without credentials are system:anonymous
	// (whom RBAC lets read only the public health and version paths)
	// instead of refused with 401.
	Anonymous bool
	// Audit, if set, writes the audit log.
	Audit *audit.Logger
}

// Server serves the Kubernetes API over a registry.
type Server struct {
	scheme *scheme.Scheme
	// stores are the resources by Resource.Key (pods, runtimeclasses.node.k8s.io).
	stores map[string]*registry.Store
	order  []*registry.Store
	// groups are the API group versions besides core/v1, in order.
	groups      []schema.GroupVersion
	printer     *printers.Printer
	logs        PodLogs
	version     version.Info
	log         *slog.Logger
	now         func() time.Time
	address     string
	requireCert bool
	openapi     *openAPIDocs
	metrics     ResourceMetrics
	exporter    MetricsExporter
	tokens      TokenAuthenticator
	tokenReqs   TokenRequester
	streams     PodStreams
	authorizer  Authorizer
	anonymous   bool
	audit       *audit.Logger
	// streamTransport reaches the runtime's streaming server (shared, so
	// that idle connections are pooled once).
	streamTransport *http.Transport
	// stopping ends long-running requests (watches, followed logs) when
	// the server stops; see Stop.
	stopping context.Context
	stop     context.CancelFunc
}

// New returns a Server.
func New(cfg Config) *Server {
	s := &Server{
		scheme: cfg.Scheme, stores: map[string]*registry.Store{}, order: cfg.Stores, printer: cfg.Printer,
		logs: cfg.Logs, version: cfg.Version, log: cfg.Log, now: cfg.Now, address: cfg.ServerAddress,
		requireCert: cfg.RequireClientCert, metrics: cfg.Metrics, exporter: cfg.Exporter,
		tokens: cfg.Tokens, tokenReqs: cfg.TokenRequests, streams: cfg.Streams, streamTransport: newStreamTransport(),
		authorizer: cfg.Authorizer, anonymous: cfg.Anonymous,
		audit: cfg.Audit,
	}
	for _, st := range cfg.Stores {
		res := st.Resource()
		s.stores[res.Key()] = st
		if gv := res.GroupVersion(); gv.Group != "" && !slices.Contains(s.groups, gv) {
			s.groups = append(s.groups, gv)
		}
	}
	s.stopping, s.stop = context.WithCancel(context.Background())
	limitJSONPatchCopies()
	s.openapi = buildOpenAPI(cfg.Stores, cfg.Version)
	return s
}

// Stop ends every watch and followed log, so that an HTTP server's
// Shutdown need not wait for them; later ones end at once.
func (s *Server) Stop() { s.stop() }

// longRunning is the context of a watch or followed log: it ends with the
// request or when the server stops.
func (s *Server) longRunning(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	unregister := context.AfterFunc(s.stopping, cancel)
	return ctx, func() { unregister(); cancel() }
}

// Handler returns the root handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/version", s.serveVersion)
	mux.HandleFunc("/healthz", serveOK)
	mux.HandleFunc("/livez", serveOK)
	mux.HandleFunc("/readyz", serveOK)
	mux.HandleFunc("/api", s.serveAPIVersions)
	mux.HandleFunc("/api/v1", s.serveResourceList)
	mux.HandleFunc("/apis", s.serveGroupList)
	mux.HandleFunc("/openapi/v2", s.serveOpenAPIV2)
	mux.HandleFunc("/openapi/v3", s.serveOpenAPIV3Root)
	mux.HandleFunc("/openapi/v3/api/v1", s.serveOpenAPIV3)
	mux.HandleFunc("/api/v1/", s.serveResource)
	for _, gv := range s.groups {
		mux.HandleFunc("/apis/"+gv.Group, s.serveGroup(gv))
		mux.HandleFunc("/apis/"+gv.String(), s.serveGroupResourceList(gv))
		mux.HandleFunc("/apis/"+gv.String()+"/", s.serveResource)
		mux.HandleFunc("/openapi/v3/apis/"+gv.String(), s.serveOpenAPIV3)
	}
	if s.metrics != nil {
		mux.HandleFunc("/apis/metrics.k8s.io", s.serveMetricsGroup)
		mux.HandleFunc("/apis/metrics.k8s.io/v1beta1", s.serveMetricsResources)
		mux.HandleFunc("/apis/metrics.k8s.io/v1beta1/", s.serveMetricsAPI)
	}
	if s.exporter != nil {
		mux.HandleFunc("/metrics", s.servePrometheus)
	}
	s.handleReviews(mux)
	mux.HandleFunc("/", s.serveNotFound)
	// kube-apiserver's filter order: the audit filter's halves around
	// authentication (requests it refuses are audited too),
	// impersonation, authorization, then the handlers.
	return s.audit.WithAuditInit(s.authenticate(s.audit.WithAudit(s.logRequests(s.impersonate(s.authorize(mux))))), s.describeForAudit)
}

func serveOK(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok")
}

func (s *Server) serveNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, apierrors.NewGenericServerResponse(http.StatusNotFound, "", corev1.Resource(""), "", "", 0, false))
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack hands the connection to an upgraded stream (exec, attach,
// port-forward), whose proxies look for http.Hijacker.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	r.code = http.StatusSwitchingProtocols
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.log.Debug("request", "method", r.Method, "uri", r.URL.RequestURI(), "code", rec.code, "duration", time.Since(start))
	})
}
