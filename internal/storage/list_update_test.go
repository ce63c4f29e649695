package storage

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func names(kvs []KeyedObject) []string {
	var out []string
	for _, kv := range kvs {
		out = append(out, kv.Object.(*corev1.Pod).Name+"="+kv.Object.(*corev1.Pod).Labels["v"])
	}
	return out
}

func setLabel(v string) UpdateFunc {
	return func(cur runtime.Object) (runtime.Object, error) {
		p := cur.DeepCopyObject().(*corev1.Pod)
		p.Labels = map[string]string{"v": v}
		return p, nil
	}
}

// TestListAt rebuilds past states from the history: creations, updates
// and deletions after the revision are undone.
func TestListAt(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, 100)
	defer func() { s.Close() }()
	mustCreate := func(name, v string) {
		if _, err := s.Create("/pods/default/"+name, pod(name, map[string]string{"v": v})); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate("a", "1")
	mustCreate("b", "1")
	at := s.Revision()
	mustCreate("c", "1")
	if _, err := s.Update("/pods/default/a", setLabel("2")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete("/pods/default/b", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("/namespaces/x", &corev1.Namespace{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rev  uint64
		want []string
	}{
		{0, []string{"a=2", "c=1"}},
		{s.Revision() + 5, []string{"a=2", "c=1"}},
		{at, []string{"a=1", "b=1"}},
		{at + 1, []string{"a=1", "b=1", "c=1"}},
		{at + 2, []string{"a=2", "b=1", "c=1"}},
	} {
		kvs, rev, err := s.ListAt("/pods/", tc.rev)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(kvs); !equal(got, tc.want) {
			t.Errorf("ListAt(%d) = %v at %d, want %v", tc.rev, got, rev, tc.want)
		}
	}
	// Beyond the history: a reopened store keeps none.
	s.Close()
	s = openStore(t, dir, 100)
	if _, _, err := s.ListAt("/pods/", at); !errors.Is(err, ErrTooOld) {
		t.Errorf("ListAt before the history: %v, want ErrTooOld", err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestUpdateRetriesOnConcurrentWrite runs the update function again on the
// newer object when another write lands while it runs, so neither write is
// lost.
func TestUpdateRetriesOnConcurrentWrite(t *testing.T) {
	s := openStore(t, t.TempDir(), 100)
	defer s.Close()
	if _, err := s.Create("/pods/default/a", pod("a", map[string]string{"v": "0"})); err != nil {
		t.Fatal(err)
	}
	calls := 0
	out, err := s.Update("/pods/default/a", func(cur runtime.Object) (runtime.Object, error) {
		calls++
		if calls == 1 {
			// Another writer gets in while this one computes.
			if _, err := s.Update("/pods/default/a", setLabel("other")); err != nil {
				t.Fatal(err)
			}
		}
		p := cur.DeepCopyObject().(*corev1.Pod)
		p.Annotations = map[string]string{"seen": p.Labels["v"]}
		return p, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p := out.(*corev1.Pod)
	if calls != 2 || p.Annotations["seen"] != "other" || p.Labels["v"] != "other" {
		t.Errorf("calls=%d, result %v %v: want the second run on the other writer's object", calls, p.Labels, p.Annotations)
	}
}
