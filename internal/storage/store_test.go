package storage

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/peapod/peapod/internal/scheme"
)

func pod(name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels}}
}

func openStore(t *testing.T, dir string, history int) *Store {
	t.Helper()
	s, err := Open(filepath.Join(dir, "db"), scheme.New(), Options{HistorySize: history, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func next(t *testing.T, w *Watcher) Event {
	t.Helper()
	select {
	case e, ok := <-w.ResultChan():
		if !ok {
			t.Fatalf("watch closed: %v", w.Err())
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}

func TestCreateGetUpdateDeleteAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 10)
	obj, err := s.Create("/pods/default/a", pod("a", nil))
	if err != nil {
		t.Fatal(err)
	}
	if rv := obj.(*corev1.Pod).ResourceVersion; rv != "1" {
		t.Fatalf("rv = %q, want 1", rv)
	}
	if _, err := s.Create("/pods/default/a", pod("a", nil)); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	upd, err := s.Update("/pods/default/a", func(cur runtime.Object) (runtime.Object, error) {
		p := cur.DeepCopyObject().(*corev1.Pod)
		p.Labels = map[string]string{"x": "y"}
		return p, nil
	})
	if err != nil || upd.(*corev1.Pod).ResourceVersion != "2" {
		t.Fatalf("update: %v %v", upd, err)
	}
	if _, err := s.Update("/pods/default/a", func(runtime.Object) (runtime.Object, error) { return nil, ErrNoChange }); err != nil {
		t.Fatal(err)
	}
	if s.Revision() != 2 {
		t.Fatalf("no-op update changed revision to %d", s.Revision())
	}
	if _, err := s.Create("/pods/default/b", pod("b", nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir, 10)
	defer s.Close()
	got, err := s.Get("/pods/default/a")
	if err != nil || got.(*corev1.Pod).Labels["x"] != "y" || got.(*corev1.Pod).ResourceVersion != "2" {
		t.Fatalf("after reopen: %#v %v", got, err)
	}
	list, rev := s.List("/pods/default/")
	if len(list) != 2 || rev != 3 {
		t.Fatalf("list = %d objects at %d, want 2 at 3", len(list), rev)
	}
	gone, err := s.Delete("/pods/default/a", nil)
	if err != nil || gone.(*corev1.Pod).ResourceVersion != "4" {
		t.Fatalf("delete: %v %v", gone, err)
	}
	if _, err := s.Get("/pods/default/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	checkErr := errors.New("refused")
	if _, err := s.Delete("/pods/default/b", func(runtime.Object) error { return checkErr }); !errors.Is(err, checkErr) {
		t.Fatalf("delete check: %v", err)
	}
}

func TestWatchFromRevisionAndTooOld(t *testing.T) {
	s := openStore(t, t.TempDir(), 3)
	defer s.Close()
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		if _, err := s.Create("/pods/default/"+n, pod(n, nil)); err != nil {
			t.Fatal(err)
		}
	}
	// History keeps revisions 3..5, so a watch may start at 2 or later.
	if _, err := s.Watch(WatchOptions{Prefix: "/pods/", Revision: 1}); !errors.Is(err, ErrTooOld) {
		t.Fatalf("watch from 1: %v, want ErrTooOld", err)
	}
	w, err := s.Watch(WatchOptions{Prefix: "/pods/", Revision: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, want := range []string{"d", "e"} {
		if e := next(t, w); e.Object.(*corev1.Pod).Name != want || e.Type != watch.Added {
			t.Fatalf("got %s %s, want ADDED %s", e.Type, e.Object.(*corev1.Pod).Name, want)
		}
	}
	if _, err := s.Create("/pods/default/f", pod("f", nil)); err != nil {
		t.Fatal(err)
	}
	if e := next(t, w); e.Object.(*corev1.Pod).Name != "f" || e.Revision != 6 {
		t.Fatalf("live event: %+v", e)
	}
}

func TestWatchFilterTransitions(t *testing.T) {
	s := openStore(t, t.TempDir(), 100)
	defer s.Close()
	match := func(o runtime.Object) bool { return o.(*corev1.Pod).Labels["app"] == "web" }
	w, err := s.Watch(WatchOptions{Prefix: "/pods/", SendInitial: true, Filter: match})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	setLabel := func(v string) {
		t.Helper()
		_, err := s.Update("/pods/default/a", func(cur runtime.Object) (runtime.Object, error) {
			p := cur.DeepCopyObject().(*corev1.Pod)
			p.Labels = map[string]string{"app": v}
			return p, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Create("/pods/default/a", pod("a", map[string]string{"app": "db"})); err != nil {
		t.Fatal(err)
	}
	setLabel("web")  // starts matching: ADDED
	setLabel("web")  // still matching: MODIFIED
	setLabel("db")   // stops matching: DELETED
	setLabel("none") // invisible: nothing
	if _, err := s.Delete("/pods/default/a", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("/pods/default/z", pod("z", map[string]string{"app": "web"})); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		typ  watch.EventType
		name string
		app  string
	}{{watch.Added, "a", "web"}, {watch.Modified, "a", "web"}, {watch.Deleted, "a", "web"}, {watch.Added, "z", "web"}} {
		e := next(t, w)
		p := e.Object.(*corev1.Pod)
		if e.Type != want.typ || p.Name != want.name || p.Labels["app"] != want.app {
			t.Fatalf("got %s %s app=%s, want %s %s app=%s", e.Type, p.Name, p.Labels["app"], want.typ, want.name, want.app)
		}
	}
}

func TestWatchStopClosesChannel(t *testing.T) {
	s := openStore(t, t.TempDir(), 10)
	defer s.Close()
	w, err := s.Watch(WatchOptions{Prefix: "/"})
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	w.Stop()
	select {
	case _, ok := <-w.ResultChan():
		if ok {
			t.Fatal("event after stop")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed")
	}
}
