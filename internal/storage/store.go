// Package storage is peapod's etcd: a versioned key-value store of API objects
// kept in an embedded bbolt database, with an in-memory copy for reads and a
// bounded event history for watches.
//
// Every write takes the next value of one monotonic counter as the object's
// resourceVersion, exactly as etcd's revision does for kube-apiserver. Objects
// handed out by the store are shared and must be treated as read-only; callers
// DeepCopy before they change anything.
package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketObjects = []byte("objects")
	bucketMeta    = []byte("meta")
	keyRevision   = []byte("revision")
)

// Codec turns objects into bytes and back; *scheme.Scheme satisfies it.
type Codec interface {
	Encode(obj runtime.Object) ([]byte, error)
	Decode(data []byte) (runtime.Object, error)
}

// Options tune a Store.
type Options struct {
	// HistorySize is how many past events are kept for watches that start at
	// an older resourceVersion. Older starting points get ErrTooOld.
	HistorySize int
	// NoSync skips fsync on commit. Only for tests and benchmarks that do not
	// care about surviving a power cut.
	NoSync bool
}

// Store is a versioned object store. It is safe for concurrent use.
type Store struct {
	db    *bolt.DB
	codec Codec

	mu       sync.RWMutex
	rev      uint64
	objects  map[string]runtime.Object
	history  *history
	watchers map[*Watcher]struct{}
}

// Open opens (or creates) the database at path and loads it into memory.
func Open(path string, codec Codec, opts Options) (*Store, error) {
	if opts.HistorySize <= 0 {
		opts.HistorySize = 10000
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: opts.NoSync, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	s := &Store{db: db, codec: codec, objects: map[string]runtime.Object{}, watchers: map[*Watcher]struct{}{}}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	s.history = newHistory(opts.HistorySize, s.rev)
	return s, nil
}

func (s *Store) load() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		objs, err := tx.CreateBucketIfNotExists(bucketObjects)
		if err != nil {
			return err
		}
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := m.Get(keyRevision); len(v) == 8 {
			s.rev = binary.BigEndian.Uint64(v)
		}
		return objs.ForEach(func(k, v []byte) error {
			obj, err := s.codec.Decode(v)
			if err != nil {
				return fmt.Errorf("decoding %s: %w", k, err)
			}
			s.objects[string(k)] = obj
			return nil
		})
	})
}

// Close stops all watches and closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	for w := range s.watchers {
		w.stopLocked(nil)
	}
	s.mu.Unlock()
	return s.db.Close()
}

// Revision returns the current (latest written) resourceVersion.
func (s *Store) Revision() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// Get returns the object at key, or ErrNotFound.
func (s *Store) Get(key string) (runtime.Object, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	obj, ok := s.objects[key]
	if !ok {
		return nil, ErrNotFound
	}
	return obj, nil
}

// List returns the objects whose key starts with prefix, sorted by key, and
// the revision the list reflects.
func (s *Store) List(prefix string) ([]runtime.Object, uint64) {
	kvs, rev, _ := s.ListAt(prefix, 0)
	out := make([]runtime.Object, len(kvs))
	for i, kv := range kvs {
		out[i] = kv.Object
	}
	return out, rev
}

// KeyedObject is one object of a list with its key.
type KeyedObject struct {
	Key    string
	Object runtime.Object
}

// ListAt returns the objects whose key starts with prefix as they were at
// revision rev (0, or anything not older than now: as they are now),
// sorted by key, with the revision the list reflects. A past state is
// rebuilt from the current one by undoing the kept events newer than rev,
// which is what etcd's MVCC read at a revision gives kube-apiserver for
// paginated lists; ErrTooOld when the history no longer reaches back.
func (s *Store) ListAt(prefix string, rev uint64) ([]KeyedObject, uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	state := map[string]runtime.Object{}
	for k, obj := range s.objects {
		if strings.HasPrefix(k, prefix) {
			state[k] = obj
		}
	}
	at := s.rev
	if rev != 0 && rev < s.rev {
		evs, err := s.history.after(rev)
		if err != nil {
			return nil, 0, err
		}
		for i := len(evs) - 1; i >= 0; i-- {
			e := evs[i]
			if !strings.HasPrefix(e.Key, prefix) {
				continue
			}
			if e.Type == watch.Added {
				delete(state, e.Key)
			} else {
				state[e.Key] = e.Prev
			}
		}
		at = rev
	}
	out := make([]KeyedObject, 0, len(state))
	for k, obj := range state {
		out = append(out, KeyedObject{Key: k, Object: obj})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, at, nil
}

// Create stores obj under key; it fails with ErrExists if key is taken. The
// stored object (with its resourceVersion set) is returned.
func (s *Store) Create(key string, obj runtime.Object) (runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[key]; ok {
		return nil, ErrExists
	}
	return s.commitLocked(key, obj, nil, watch.Added)
}

// UpdateFunc receives the current object (read-only) and returns the new
// object to store. Returning ErrNoChange leaves the object as it is.
type UpdateFunc func(current runtime.Object) (runtime.Object, error)

// ErrNoChange may be returned by an UpdateFunc to skip the write.
var ErrNoChange = errors.New("no change")

// Update stores what fn makes of the object at key, the way etcd3's
// GuaranteedUpdate does: fn runs on the current object without any lock
// held, and the result is committed only if the object is still the one
// fn saw; otherwise fn runs again on the newer one. So fn may run more
// than once and must have no side effects, and a slow fn (a large patch)
// delays no other request. The new object keeps no resourceVersion of its
// own: the store assigns the next one.
func (s *Store) Update(key string, fn UpdateFunc) (runtime.Object, error) {
	for {
		s.mu.RLock()
		cur, ok := s.objects[key]
		s.mu.RUnlock()
		if !ok {
			return nil, ErrNotFound
		}
		next, err := fn(cur)
		if errors.Is(err, ErrNoChange) {
			return cur, nil
		}
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		// Stored objects are never changed in place, so identity tells
		// whether anything was written since fn read cur.
		if now, ok := s.objects[key]; !ok || now != cur {
			s.mu.Unlock()
			continue
		}
		out, err := s.commitLocked(key, next, cur, watch.Modified)
		s.mu.Unlock()
		return out, err
	}
}

// Delete removes the object at key after check (if not nil) approves the
// current object. It returns the deleted object.
func (s *Store) Delete(key string, check func(current runtime.Object) error) (runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.objects[key]
	if !ok {
		return nil, ErrNotFound
	}
	if check != nil {
		if err := check(cur); err != nil {
			return nil, err
		}
	}
	rev := s.rev + 1
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketObjects).Delete([]byte(key)); err != nil {
			return err
		}
		return putRevision(tx, rev)
	})
	if err != nil {
		return nil, fmt.Errorf("deleting %s: %w", key, err)
	}
	s.rev = rev
	delete(s.objects, key)
	// The DELETED event carries the last state with the deletion's revision,
	// as etcd-backed watches do.
	gone := cur.DeepCopyObject()
	setResourceVersion(gone, rev)
	s.publishLocked(Event{Type: watch.Deleted, Key: key, Object: gone, Prev: cur, Revision: rev})
	return gone, nil
}

func (s *Store) commitLocked(key string, obj, prev runtime.Object, typ watch.EventType) (runtime.Object, error) {
	rev := s.rev + 1
	setResourceVersion(obj, rev)
	data, err := s.codec.Encode(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", key, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketObjects).Put([]byte(key), data); err != nil {
			return err
		}
		return putRevision(tx, rev)
	})
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", key, err)
	}
	s.rev = rev
	s.objects[key] = obj
	s.publishLocked(Event{Type: typ, Key: key, Object: obj, Prev: prev, Revision: rev})
	return obj, nil
}

func putRevision(tx *bolt.Tx, rev uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], rev)
	return tx.Bucket(bucketMeta).Put(keyRevision, b[:])
}

func setResourceVersion(obj runtime.Object, rev uint64) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetResourceVersion(strconv.FormatUint(rev, 10))
	}
}

// ParseResourceVersion parses a resourceVersion string from a request; the
// empty string is 0.
func ParseResourceVersion(rv string) (uint64, error) {
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrInvalidResourceVersion, rv)
	}
	return n, nil
}
