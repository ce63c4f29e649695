package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/peapod/peapod/internal/storage"
)

// Store serves one resource over the shared object storage.
type Store struct {
	res     *Resource
	storage *storage.Store
	now     func() time.Time
	// admission are the plugins creates go through, in order.
	admission []AdmissionPlugin
}

// NewStore returns the REST store of res. now is the clock (time.Now in
// production).
func NewStore(res *Resource, s *storage.Store, now func() time.Time) *Store {
	return &Store{res: res, storage: s, now: now}
}

// UseAdmission makes creates go through plugins, in order (set up before
// the store serves).
func (s *Store) UseAdmission(plugins ...AdmissionPlugin) {
	s.admission = append(s.admission, plugins...)
}

// Resource returns the resource this store serves.
func (s *Store) Resource() *Resource { return s.res }

func (s *Store) key(ns, name string) string {
	if s.res.Namespaced {
		return "/" + s.res.Key() + "/" + ns + "/" + name
	}
	return "/" + s.res.Key() + "/" + name
}

func (s *Store) prefix(ns string) string {
	if s.res.Namespaced && ns != "" {
		return "/" + s.res.Key() + "/" + ns + "/"
	}
	return "/" + s.res.Key() + "/"
}

// ListOptions are parsed list and watch parameters.
type ListOptions struct {
	Labels          labels.Selector
	Fields          fields.Selector
	ResourceVersion string
	// ResourceVersionMatch is metav1.ResourceVersionMatchExact to list
	// exactly at ResourceVersion (NotOlderThan, or "", lists the latest).
	ResourceVersionMatch metav1.ResourceVersionMatch
	// Limit and Continue page a list (see List).
	Limit    int64
	Continue string
	// SendInitialEvents asks a watch for the current objects first (the
	// watch-list protocol); with AllowWatchBookmarks a bookmark marks
	// their end.
	SendInitialEvents   bool
	AllowWatchBookmarks bool
}

func (o ListOptions) matcher(s *Store) func(runtime.Object) bool {
	lsel, fsel := o.Labels, o.Fields
	if (lsel == nil || lsel.Empty()) && (fsel == nil || fsel.Empty()) {
		return nil
	}
	return func(obj runtime.Object) bool {
		if lsel != nil && !lsel.Empty() {
			a, err := meta.Accessor(obj)
			if err != nil || !lsel.Matches(labels.Set(a.GetLabels())) {
				return false
			}
		}
		if fsel != nil && !fsel.Empty() {
			return fsel.Matches(s.res.Strategy.SelectableFields(obj))
		}
		return true
	}
}

// Get returns the object; it is shared and must not be modified.
func (s *Store) Get(ctx context.Context, ns, name string) (runtime.Object, error) {
	obj, err := s.storage.Get(s.key(ns, name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, apierrors.NewNotFound(s.res.GroupResource(), name)
	}
	return obj, err
}

// Watch starts a watch of ns ("" = all).
func (s *Store) Watch(ctx context.Context, ns string, opts ListOptions) (*storage.Watcher, error) {
	rv, err := storage.ParseResourceVersion(opts.ResourceVersion)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	wopts := storage.WatchOptions{Prefix: s.prefix(ns), Revision: rv, Filter: opts.matcher(s)}
	// resourceVersion unset or "0": start with the current state, as the
	// watch cache does; sendInitialEvents asks for the same explicitly.
	if rv == 0 || opts.SendInitialEvents {
		wopts.SendInitial = true
	}
	wopts.InitialEventsEnd = opts.SendInitialEvents && opts.AllowWatchBookmarks
	w, err := s.storage.Watch(wopts)
	if errors.Is(err, storage.ErrTooOld) {
		return nil, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", rv, s.storage.OldestRevision()))
	}
	return w, err
}

// Create admits, validates and stores a new object in ns.
func (s *Store) Create(ctx context.Context, ns string, obj runtime.Object, dryRun bool) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if err := s.checkNamespace(m, ns); err != nil {
		return nil, err
	}
	if d, ok := s.res.Strategy.(DefaultStrategy); ok {
		d.Default(obj)
	}
	if s.res.Namespaced {
		if err := s.admitNamespace(ctx, ns, m.GetName(), m.GetGenerateName()); err != nil {
			return nil, err
		}
	}
	if a, ok := s.res.Strategy.(AdmitStrategy); ok {
		if err := a.AdmitCreate(ctx, obj); err != nil {
			return nil, err
		}
	}
	for _, p := range s.admission {
		if err := p.Mutate(ctx, s.res, ns, obj); err != nil {
			return nil, err
		}
	}
	if g, ok := s.res.Strategy.(CreateGuard); ok {
		defer g.GuardCreate()()
	}
	s.res.Strategy.PrepareForCreate(ctx, obj)
	s.fillSystemFields(m)
	generated := m.GetName() == "" && m.GetGenerateName() != ""
	if generated {
		m.SetName(generateName(m.GetGenerateName()))
	}
	if c, ok := s.res.Strategy.(CanonicalizeStrategy); ok {
		c.Canonicalize(obj)
	}
	if errs := s.res.Strategy.Validate(ctx, obj); len(errs) > 0 {
		return nil, apierrors.NewInvalid(s.res.GroupKind(), m.GetName(), errs)
	}
	if ws, ok := s.res.Strategy.(WarningStrategy); ok {
		for _, w := range ws.WarningsOnCreate(ctx, obj) {
			AddWarning(ctx, w)
		}
	}
	stored := false
	for _, p := range s.admission {
		release, err := p.Validate(ctx, s.res, ns, obj)
		if err != nil {
			return nil, err
		}
		if release != nil {
			defer func() { release(stored) }()
		}
	}
	if dryRun {
		if _, err := s.storage.Get(s.key(ns, m.GetName())); err == nil {
			return nil, apierrors.NewAlreadyExists(s.res.GroupResource(), m.GetName())
		}
		return obj, nil
	}
	// Like RetryGenerateName upstream: a generated name that collides is
	// generated again a few times before AlreadyExists is returned.
	for attempt := 0; ; attempt++ {
		out, err := s.storage.Create(s.key(ns, m.GetName()), obj)
		if errors.Is(err, storage.ErrExists) {
			if generated && attempt < 7 {
				m.SetName(generateName(m.GetGenerateName()))
				if c, ok := s.res.Strategy.(CanonicalizeStrategy); ok {
					c.Canonicalize(obj)
				}
				continue
			}
			return nil, apierrors.NewAlreadyExists(s.res.GroupResource(), m.GetName())
		}
		if err != nil {
			return nil, err
		}
		stored = true
		if h, ok := s.res.Strategy.(CreateHook); ok {
			h.AfterCreate(ctx, out)
		}
		return out, nil
	}
}

func (s *Store) checkNamespace(m metav1.Object, ns string) error {
	if !s.res.Namespaced {
		m.SetNamespace("")
		return nil
	}
	if m.GetNamespace() == "" {
		m.SetNamespace(ns)
	} else if m.GetNamespace() != ns {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	return nil
}

// admitNamespace is the NamespaceLifecycle admission plugin for creates.
func (s *Store) admitNamespace(ctx context.Context, ns, name, generateName string) error {
	obj, err := s.storage.Get("/namespaces/" + ns)
	if errors.Is(err, storage.ErrNotFound) {
		return apierrors.NewNotFound(corev1.Resource("namespaces"), ns)
	}
	if err != nil {
		return err
	}
	if nsObj, ok := obj.(*corev1.Namespace); ok && (nsObj.DeletionTimestamp != nil || nsObj.Status.Phase == corev1.NamespaceTerminating) {
		if name == "" {
			name = generateName
		}
		e := apierrors.NewForbidden(s.res.GroupResource(), name,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
		e.ErrStatus.Details.Causes = append(e.ErrStatus.Details.Causes, metav1.StatusCause{
			Type:    corev1.NamespaceTerminatingCause,
			Message: fmt.Sprintf("namespace %s is being terminated", ns),
			Field:   "metadata.namespace",
		})
		return e
	}
	return nil
}

func (s *Store) fillSystemFields(m metav1.Object) {
	m.SetUID(types.UID(uuid.NewUUID()))
	m.SetCreationTimestamp(metav1.NewTime(s.now().UTC().Truncate(time.Second)))
	m.SetResourceVersion("")
	m.SetSelfLink("")
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
}

// generateName follows k8s.io/apiserver/pkg/storage/names: the prefix cut to
// 58 characters plus five random characters.
func generateName(base string) string {
	const maxNameLength, randomLength = 63, 5
	if len(base) > maxNameLength-randomLength {
		base = base[:maxNameLength-randomLength]
	}
	return base + utilrand.String(randomLength)
}
