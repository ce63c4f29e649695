package apiserver

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/peapod/peapod/internal/printers"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/storage"
)

func (s *Server) serveGet(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	obj, err := st.Get(r.Context(), info.Namespace, info.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeRead(w, r, st, obj)
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	opts, _, err := listOptions(r, st, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := st.List(r.Context(), info.Namespace, opts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeRead(w, r, st, list)
}

// writeRead answers a get or list in the representation the client asked
// for: a Table, PartialObjectMetadata(List) or the object itself.
func (s *Server) writeRead(w http.ResponseWriter, r *http.Request, st *registry.Store, obj runtime.Object) {
	tableV, partialV := tableVersion(r.Header.Get("Accept"))
	switch {
	case tableV != "":
		table, err := s.table(r, st, obj, false)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		table.APIVersion, table.Kind = "meta.k8s.io/"+tableV, "Table"
		s.writeJSON(w, http.StatusOK, table)
	case partialV != "":
		out, err := partialMetadata(obj, partialV)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, http.StatusOK, out)
	default:
		s.writeObject(w, r, http.StatusOK, obj)
	}
}

func (s *Server) table(r *http.Request, st *registry.Store, obj runtime.Object, noHeaders bool) (*metav1.Table, error) {
	policy := metav1.IncludeMetadata
	switch v := r.URL.Query().Get("includeObject"); v {
	case "", string(metav1.IncludeMetadata):
	case string(metav1.IncludeObject), string(metav1.IncludeNone):
		policy = metav1.IncludeObjectPolicy(v)
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unrecognized includeObject value: %q", v))
	}
	return s.printer.Table(st.Resource().Kind, obj, printers.Options{NoHeaders: noHeaders, IncludeObject: policy, Now: s.now()})
}

func partialMetadata(obj runtime.Object, version string) (runtime.Object, error) {
	one := func(o runtime.Object) (*metav1.PartialObjectMetadata, error) {
		om, err := printers.ObjectMeta(o)
		if err != nil {
			return nil, err
		}
		p := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/" + version, Kind: "PartialObjectMetadata"}}
		om.DeepCopyInto(&p.ObjectMeta)
		return p, nil
	}
	if !meta.IsListType(obj) {
		return one(obj)
	}
	items, err := meta.ExtractList(obj)
	if err != nil {
		return nil, err
	}
	la, _ := meta.ListAccessor(obj)
	list := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/" + version, Kind: "PartialObjectMetadataList"}}
	list.ResourceVersion = la.GetResourceVersion()
	for _, it := range items {
		p, err := one(it)
		if err != nil {
			return nil, err
		}
		list.Items = append(list.Items, *p)
	}
	return list, nil
}

// minRequestTimeout is kube-apiserver's --min-request-timeout default.
const minRequestTimeout = 1800 * time.Second

// serveWatch streams newline-delimited WatchEvents, the way
// k8s.io/apiserver/pkg/endpoints/handlers/watch.go does. A resourceVersion
// older than the kept history ends in one ERROR event with a 410 Status.
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	opts, timeoutSeconds, err := listOptions(r, st, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if info.Name != "" {
		// Legacy /watch/namespaces/{ns}/{resource}/{name}.
		opts.Fields = fields.OneTermEqualSelector("metadata.name", info.Name)
	}
	tableV, _ := tableVersion(r.Header.Get("Accept"))
	// As upstream's watch handler: timeoutSeconds as given (a negative
	// one ends the watch at once), else a random time between one and two
	// --min-request-timeout (1800 s), so that watches do not all end
	// together.
	var timeout time.Duration
	if timeoutSeconds != nil {
		timeout = time.Duration(*timeoutSeconds) * time.Second
	}
	if timeout == 0 {
		timeout = time.Duration(float64(minRequestTimeout) * (rand.Float64() + 1))
	}
	ctx, cancel := s.longRunning(r.Context())
	defer cancel()
	rc := http.NewResponseController(w)
	watcher, err := st.Watch(ctx, info.Namespace, opts)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	if err != nil {
		// Once the request is accepted, errors travel inside the stream.
		_ = enc.Encode(watchEvent(watch.Error, s.statusFor(r, err)))
		_ = rc.Flush()
		return
	}
	defer watcher.Stop()
	_ = rc.Flush()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	headerSent := false
	for {
		var e storage.Event
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case ev, ok := <-watcher.ResultChan():
			if !ok {
				if err := watcher.Err(); err != nil {
					_ = enc.Encode(watchEvent(watch.Error, s.statusFor(r, apierrors.NewTooManyRequests(err.Error(), 1))))
				}
				return
			}
			e = ev
		}
		var obj runtime.Object
		switch {
		case e.Type == watch.Bookmark:
			// The end of the initial events of a watch-list request.
			bm := st.Resource().New()
			a, _ := meta.Accessor(bm)
			a.SetResourceVersion(strconv.FormatUint(e.Revision, 10))
			a.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
			obj = withKind(s.scheme, bm)
		case tableV != "":
			table, err := s.table(r, st, e.Object, headerSent)
			if err != nil {
				s.logRequestError(r, "watch table", err)
				return
			}
			headerSent = true
			table.APIVersion, table.Kind = "meta.k8s.io/"+tableV, "Table"
			obj = table
		default:
			obj = withKind(s.scheme, e.Object)
		}
		if err := enc.Encode(watchEvent(e.Type, obj)); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// watchEvent is the wire form of one event.
func watchEvent(t watch.EventType, obj runtime.Object) *metav1.WatchEvent {
	return &metav1.WatchEvent{Type: string(t), Object: runtime.RawExtension{Object: obj}}
}
