package audit

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// HeaderAuditID is the request header a client may name its audit ID in
// and the response header that returns it.
const HeaderAuditID = "Audit-ID"

// maxUserAgent is the longest user agent recorded, as kube-apiserver.
const maxUserAgent = 1024

// Describer tells the audit filter what a request is: the policy's
// attributes (the authenticated user comes from the request context, so it
// is nil before authentication or when authentication refused the
// request) and, when the request impersonates, the user it acts as.
type Describer func(r *http.Request) (a Attributes, impersonated *authnv1.UserInfo)

type recordKey struct{}

// record is the event of one request while it is served.
type record struct {
	l        *Logger
	describe Describer
	// req is the request as WithAuditInit saw it (no user yet).
	req *http.Request

	mu sync.Mutex
	ev auditv1.Event
	// decision is valid once evaluated.
	decision  Decision
	evaluated bool
	// authenticated is set when WithAudit ran: authentication let the
	// request through.
	authenticated bool
	longRunning   bool
	started       bool
	// request and response are the bodies kept for the event, nil when
	// not needed.
	request, response *capture
	requestType       string
	// requestObject, responseObject and status are what the API server
	// logged (JSON); responseLogged is set once it logged its response.
	requestObject, responseObject []byte
	status                        *metav1.Status
	responseLogged                bool
}

// WithAuditInit is the outer half of the filter, placed outside
// authentication: it gives the request its audit ID (the client's
// Audit-ID header, else a new UUID) and returns it in the Audit-ID
// response header, even when l is nil (auditing off), as kube-apiserver
// does. With auditing on, it records the response and writes the events
// once the request is served; a request authentication refuses is audited
// here, with no user, at stage ResponseStarted, as kube-apiserver's
// failed-authentication audit does.
func (l *Logger) WithAuditInit(next http.Handler, describe Describer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderAuditID)
		if id == "" {
			id = uuid.NewString()
		}
		w.Header().Set(HeaderAuditID, id)
		if l == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := &record{l: l, describe: describe, req: r, ev: auditv1.Event{
			AuditID:                  types.UID(id),
			RequestURI:               r.URL.RequestURI(),
			SourceIPs:                sourceIPs(r),
			UserAgent:                userAgent(r),
			RequestReceivedTimestamp: metav1.NewMicroTime(l.now()),
		}}
		rw := &responseWriter{ResponseWriter: w, rec: rec}
		defer func() {
			if p := recover(); p != nil {
				rec.panicked(p)
				panic(p)
			}
			rec.finish()
		}()
		next.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), recordKey{}, rec)))
	})
}

// WithAudit is the inner half of the filter, placed inside
// authentication: it evaluates the policy for the authenticated user,
// writes the RequestReceived stage and keeps the request body when the
// event needs it.
func (l *Logger) WithAudit(next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, _ := r.Context().Value(recordKey{}).(*record)
		if rec == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec.mu.Lock()
		rec.authenticated = true
		rec.evaluate(r)
		// The body is kept for the request object of requests the API
		// server does not log a decoded object for (patches).
		if r.Body != nil && r.Body != http.NoBody && levelAbove(rec.decision.Level, auditv1.LevelMetadata) {
			rec.request = &capture{}
			rec.requestType = r.Header.Get("Content-Type")
			r.Body = &teeBody{ReadCloser: r.Body, c: rec.request}
		}
		rec.mu.Unlock()
		rec.emit(auditv1.StageRequestReceived)
		next.ServeHTTP(w, r)
	})
}

// evaluate fills the event's who and what and the policy's decision.
// Called with rec.mu held.
func (rec *record) evaluate(r *http.Request) {
	a, impersonated := rec.describe(r)
	rec.decision = rec.l.policy.Evaluate(a)
	rec.evaluated = true
	rec.ev.Level = rec.decision.Level
	rec.ev.Verb = a.Verb
	if a.User != nil {
		rec.ev.User = *a.User
	}
	rec.ev.ImpersonatedUser = impersonated
	if a.Resource != nil {
		ref := *a.Resource
		rec.ev.ObjectRef = &ref
	}
	rec.longRunning = longRunning(a)
}

// longRunning is kube-apiserver's BasicLongRunningRequestCheck: watches
// and proxies, and the attach, exec, log, portforward and proxy
// subresources.
func longRunning(a Attributes) bool {
	if a.Verb == "watch" || a.Verb == "proxy" {
		return true
	}
	if a.Resource == nil {
		return false
	}
	switch a.Resource.Subresource {
	case "attach", "exec", "log", "portforward", "proxy":
		return true
	}
	return false
}

// responseStarted records the response code when the handler writes the
// header (or the first body byte, or hijacks the connection), and writes
// the ResponseStarted stage of long-running requests and of requests
// authentication refused.
func (rec *record) responseStarted(code int) {
	rec.mu.Lock()
	if rec.started {
		rec.mu.Unlock()
		return
	}
	rec.started = true
	if !rec.evaluated {
		rec.evaluate(rec.req)
	}
	rec.ev.ResponseStatus = &metav1.Status{Code: int32(code)}
	if !rec.authenticated {
		rec.ev.ResponseStatus.Message = authMethods(rec.req)
	}
	level := rec.decision.Level
	if !rec.responseLogged && rec.authenticated &&
		(level != auditv1.LevelNone && code >= http.StatusBadRequest || level == auditv1.LevelRequestResponse && !rec.longRunning) {
		// A response the API server did not log: errors are kept for
		// their Status; RequestResponse keeps the body.
		rec.response = &capture{}
	}
	emit := rec.longRunning || !rec.authenticated
	rec.mu.Unlock()
	if emit {
		rec.emit(auditv1.StageResponseStarted)
	}
}

// finish writes the ResponseComplete stage.
func (rec *record) finish() {
	rec.mu.Lock()
	started, authenticated := rec.started, rec.authenticated
	rec.mu.Unlock()
	if !started {
		// Nothing was written: the connection closed early.
		rec.responseStarted(http.StatusOK)
		rec.mu.Lock()
		rec.ev.ResponseStatus.Status = metav1.StatusSuccess
		rec.ev.ResponseStatus.Message = "Connection closed early"
		rec.mu.Unlock()
	}
	if !authenticated {
		return // one ResponseStarted event, as kube-apiserver
	}
	rec.mu.Lock()
	rec.completeBodies()
	rec.mu.Unlock()
	rec.emit(auditv1.StageResponseComplete)
}

// panicked writes the Panic stage.
func (rec *record) panicked(p any) {
	rec.mu.Lock()
	if !rec.evaluated {
		rec.evaluate(rec.req)
	}
	rec.ev.ResponseStatus = &metav1.Status{
		Code: http.StatusInternalServerError, Status: metav1.StatusFailure, Reason: metav1.StatusReasonInternalError,
		Message: fmt.Sprintf("APIServer panic'd: %v", p),
	}
	rec.mu.Unlock()
	rec.emit(auditv1.StagePanic)
}

// emit writes the event at stage unless the level is None or the policy
// omits the stage.
func (rec *record) emit(stage auditv1.Stage) {
	rec.mu.Lock()
	if rec.decision.Level == auditv1.LevelNone || slices.Contains(rec.decision.OmitStages, stage) {
		rec.mu.Unlock()
		return
	}
	ev := rec.ev
	ev.Stage = stage
	ev.StageTimestamp = metav1.NewMicroTime(rec.l.now())
	if ev.Annotations != nil {
		ev.Annotations = maps.Clone(ev.Annotations)
	}
	// The copy is encoded without the lock: nothing of it may change.
	if ev.ResponseStatus != nil {
		st := *ev.ResponseStatus
		ev.ResponseStatus = &st
	}
	if ev.ObjectRef != nil {
		ref := *ev.ObjectRef
		ev.ObjectRef = &ref
	}
	rec.mu.Unlock()
	rec.l.write(&ev)
}

// responseWriter tells the record when the response starts and keeps the
// body when the record asks for it.
type responseWriter struct {
	http.ResponseWriter
	rec *record
}

func (w *responseWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.rec.responseStarted(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.rec.responseStarted(http.StatusOK)
	w.rec.mu.Lock()
	if c := w.rec.response; c != nil {
		c.Write(p)
	}
	w.rec.mu.Unlock()
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection to an upgraded stream: the response has
// started (101).
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.rec.responseStarted(http.StatusSwitchingProtocols)
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// sourceIPs are the client's addresses as kube-apiserver records them:
// X-Forwarded-For, X-Real-Ip, then the connection's peer.
func sourceIPs(r *http.Request) []string {
	var ips []string
	add := func(s string) {
		if ip := net.ParseIP(strings.TrimSpace(s)); ip != nil && !slices.Contains(ips, ip.String()) {
			ips = append(ips, ip.String())
		}
	}
	if fwd := r.Header.Get("X-Forwarded-For"); fwd != "" {
		for _, s := range strings.Split(fwd, ",") {
			add(s)
		}
	}
	add(r.Header.Get("X-Real-Ip"))
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	add(host)
	return ips
}

func userAgent(r *http.Request) string {
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent] + "...TRUNCATED"
	}
	return ua
}

// authMethods is the message of a request authentication refused: the
// credentials it tried, in kube-apiserver's words.
func authMethods(r *http.Request) string {
	var methods []string
	if _, _, ok := r.BasicAuth(); ok {
		methods = append(methods, "basic")
	}
	if f := strings.Fields(r.Header.Get("Authorization")); len(f) > 1 && strings.EqualFold(f[0], "bearer") {
		methods = append(methods, "bearer")
	}
	if r.URL.Query().Get("access_token") != "" {
		methods = append(methods, "access_token")
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		methods = append(methods, "x509")
	}
	if len(methods) == 0 {
		return "Authentication failed, no credentials provided"
	}
	return "Authentication failed, attempted: " + strings.Join(methods, ", ")
}
