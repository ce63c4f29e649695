// Package nscontroller deletes what is in a namespace being deleted, as
// kube-controller-manager's namespace controller does: once a namespace is
// Terminating, it deletes every namespaced object in it (pods gracefully,
// with their own grace periods), waits until they are gone, then removes the
// "kubernetes" finalizer through the finalize subresource, and the API
// server removes the namespace. Pods go first, as with upstream's
// OrderedNamespaceDeletion (on by default since 1.33): the rest is deleted
// once no pod is left. While it works, it keeps the namespace's deletion
// conditions (NamespaceDeletionDiscoveryFailure, …ContentFailure,
// NamespaceContentRemaining, NamespaceFinalizersRemaining) as upstream.
package nscontroller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/storage"
)

// Store is the API the controller uses; *registry.Store implements it.
type Store interface {
	Resource() *registry.Resource
	List(ctx context.Context, ns string, opts registry.ListOptions) (runtime.Object, error)
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions, dryRun bool) (runtime.Object, bool, error)
	Update(ctx context.Context, ns, name string, fn registry.UpdateFunc, opts registry.UpdateOptions) (runtime.Object, error)
	Watch(ctx context.Context, ns string, opts registry.ListOptions) (*storage.Watcher, error)
}

// Controller finalizes deleted namespaces.
type Controller struct {
	Namespaces Store
	// Content are the namespaced resources to empty, pods first (the
	// rest is deleted once the pods are gone).
	Content []Store
	Log     *slog.Logger
	// Retry is how often a namespace with content left is looked at again.
	Retry time.Duration
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if c.Retry == 0 {
		c.Retry = time.Second
	}
	w, err := c.Namespaces.Watch(ctx, "", registry.ListOptions{})
	if err != nil {
		return fmt.Errorf("watching namespaces: %w", err)
	}
	defer func() { w.Stop() }()
	terminating := map[string]bool{}
	tick := time.NewTicker(c.Retry)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.ResultChan():
			if !ok {
				if w, err = c.Namespaces.Watch(ctx, "", registry.ListOptions{}); err != nil {
					return fmt.Errorf("watching namespaces: %w", err)
				}
				continue
			}
			ns, isNS := e.Object.(*corev1.Namespace)
			if !isNS || ns.DeletionTimestamp == nil {
				continue
			}
			terminating[ns.Name] = true
		case <-tick.C:
		}
		for name := range terminating {
			done, err := c.sync(ctx, name)
			if err != nil {
				c.Log.Warn("deleting namespace content", "namespace", name, "err", err)
			}
			if done {
				delete(terminating, name)
			}
		}
	}
}

// sync deletes what is left in ns and finalizes it when nothing is left.
// Pods go first; everything else once they are gone.
func (c *Controller) sync(ctx context.Context, ns string) (bool, error) {
	var failures []string
	remaining := map[string]int{}  // resource -> objects left
	finalizers := map[string]int{} // finalizer -> objects it holds
	podsLeft := false
	for i, st := range c.Content {
		if i > 0 && podsLeft {
			break // pods first
		}
		list, err := st.List(ctx, ns, registry.ListOptions{})
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", st.Resource().Name, err))
			continue
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return false, err
		}
		for _, it := range items {
			a, _ := meta.Accessor(it)
			// <resource>.<group>, as upstream: "configmaps." for the
			// core group.
			remaining[st.Resource().Name+"."+st.Resource().Group]++
			for _, f := range a.GetFinalizers() {
				finalizers[f]++
			}
			if i == 0 {
				podsLeft = true
			}
			if a.GetDeletionTimestamp() != nil {
				continue // being deleted (a pod in its grace period)
			}
			if _, _, err := st.Delete(ctx, ns, a.GetName(), &metav1.DeleteOptions{}, false); err != nil && !apierrors.IsNotFound(err) {
				failures = append(failures, fmt.Sprintf("%s %q: %v", st.Resource().Name, a.GetName(), err))
			}
		}
	}
	if podsLeft {
		// As upstream, what remains is only reckoned once the pods
		// are gone.
		remaining, finalizers = nil, nil
	}
	if err := c.writeConditions(ctx, ns, failures, remaining, finalizers); err != nil {
		return false, err
	}
	if podsLeft || len(remaining) > 0 || len(failures) > 0 {
		return false, nil
	}
	_, err := c.Namespaces.Update(ctx, "", ns, func(cur runtime.Object) (runtime.Object, error) {
		n := cur.(*corev1.Namespace).DeepCopy()
		n.ResourceVersion = ""
		n.Spec.Finalizers = slices.DeleteFunc(n.Spec.Finalizers, func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
		return n, nil
	}, registry.UpdateOptions{Finalize: true})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return err == nil, err
}

// writeConditions sets the five deletion conditions of the namespace
// (status_condition_utils.go): each False with its all-is-well reason
// unless a problem makes it True; a condition's lastTransitionTime changes
// only when its status does.
func (c *Controller) writeConditions(ctx context.Context, ns string, failures []string, remaining, finalizers map[string]int) error {
	want := []corev1.NamespaceCondition{
		{Type: corev1.NamespaceDeletionDiscoveryFailure, Status: corev1.ConditionFalse, Reason: "ResourcesDiscovered", Message: "All resources successfully discovered"},
		{Type: corev1.NamespaceDeletionGVParsingFailure, Status: corev1.ConditionFalse, Reason: "ParsedGroupVersions", Message: "All legacy kube types successfully parsed"},
		{Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionFalse, Reason: "ContentDeleted", Message: "All content successfully deleted, may be waiting on finalization"},
		{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionFalse, Reason: "ContentRemoved", Message: "All content successfully removed"},
		{Type: corev1.NamespaceFinalizersRemaining, Status: corev1.ConditionFalse, Reason: "ContentHasNoFinalizers", Message: "All content-preserving finalizers finished"},
	}
	if len(failures) > 0 {
		sort.Strings(failures)
		want[2].Status, want[2].Reason = corev1.ConditionTrue, "ContentDeletionFailed"
		want[2].Message = fmt.Sprintf("Failed to delete all resource types, %d remaining: %s", len(failures), strings.Join(failures, ", "))
	}
	if len(remaining) > 0 {
		var items []string
		for res, n := range remaining {
			items = append(items, fmt.Sprintf("%s has %d resource instances", res, n))
		}
		sort.Strings(items)
		want[3].Status, want[3].Reason = corev1.ConditionTrue, "SomeResourcesRemain"
		want[3].Message = "Some resources are remaining: " + strings.Join(items, ", ")
	}
	if len(finalizers) > 0 {
		var items []string
		for f, n := range finalizers {
			items = append(items, fmt.Sprintf("%s in %d resource instances", f, n))
		}
		sort.Strings(items)
		want[4].Status, want[4].Reason = corev1.ConditionTrue, "SomeFinalizersRemain"
		want[4].Message = "Some content in the namespace has finalizers remaining: " + strings.Join(items, ", ")
	}
	now := metav1.Now()
	_, err := c.Namespaces.Update(ctx, "", ns, func(cur runtime.Object) (runtime.Object, error) {
		n := cur.(*corev1.Namespace)
		old := map[corev1.NamespaceConditionType]corev1.NamespaceCondition{}
		for _, cond := range n.Status.Conditions {
			old[cond.Type] = cond
		}
		conds := make([]corev1.NamespaceCondition, 0, len(want))
		for _, cond := range n.Status.Conditions {
			if !isDeletionCondition(cond.Type) {
				conds = append(conds, cond)
			}
		}
		changed := false
		for _, w := range want {
			prev, had := old[w.Type]
			w.LastTransitionTime = now
			if had && prev.Status == w.Status {
				w.LastTransitionTime = prev.LastTransitionTime
			}
			changed = changed || !had || prev.Status != w.Status || prev.Reason != w.Reason || prev.Message != w.Message
			conds = append(conds, w)
		}
		if !changed {
			return nil, storage.ErrNoChange
		}
		n = n.DeepCopy()
		n.ResourceVersion = ""
		n.Status.Conditions = conds
		return n, nil
	}, registry.UpdateOptions{Status: true})
	if apierrors.IsNotFound(err) || errors.Is(err, storage.ErrNoChange) {
		return nil
	}
	return err
}

func isDeletionCondition(t corev1.NamespaceConditionType) bool {
	switch t {
	case corev1.NamespaceDeletionDiscoveryFailure, corev1.NamespaceDeletionGVParsingFailure, corev1.NamespaceDeletionContentFailure,
		corev1.NamespaceContentRemaining, corev1.NamespaceFinalizersRemaining:
		return true
	}
	return false
}
