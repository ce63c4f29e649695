// Package controller holds what peapod's in-process workload controllers
// share, as kube-controller-manager's pkg/controller does: a watch of a
// registry store that outlives the watcher closing, keys for the
// rate-limited work queue (client-go's workqueue), and the pod helpers
// (active, ready, available, made from a template, owned).
//
// The controllers read the registry stores directly, so what they read is
// never behind what they wrote: upstream's expectations, which guard a
// controller against its informer cache lagging its own creates and
// deletes, have nothing to guard here.
package controller

import (
	"context"
	"log/slog"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/storage"
)

// Store is the part of *registry.Store the controllers use.
type Store interface {
	Resource() *registry.Resource
	Get(ctx context.Context, ns, name string) (runtime.Object, error)
	List(ctx context.Context, ns string, opts registry.ListOptions) (runtime.Object, error)
	Create(ctx context.Context, ns string, obj runtime.Object, dryRun bool) (runtime.Object, error)
	Update(ctx context.Context, ns, name string, fn registry.UpdateFunc, opts registry.UpdateOptions) (runtime.Object, error)
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions, dryRun bool) (runtime.Object, bool, error)
	Watch(ctx context.Context, ns string, opts registry.ListOptions) (*storage.Watcher, error)
}

// Event is one change a watch delivers: the object now (for a deletion,
// its last state) and before (nil when it was added).
type Event struct {
	Type     watch.EventType
	Object   runtime.Object
	Previous runtime.Object
}

// Watch hands every change of st's objects to fn, starting with every
// object as it is (as Added), until ctx ends. When the watcher closes (a
// slow consumer), it starts again from the current state, so fn sees every
// object again: handlers must be idempotent, as informer handlers are
// after a relist.
func Watch(ctx context.Context, st Store, log *slog.Logger, fn func(Event)) {
	for ctx.Err() == nil {
		w, err := st.Watch(ctx, "", registry.ListOptions{SendInitialEvents: true})
		if err != nil {
			log.Warn("watching", "resource", st.Resource().Key(), "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		func() {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case e, ok := <-w.ResultChan():
					if !ok {
						return
					}
					if e.Type == watch.Bookmark || e.Object == nil {
						continue
					}
					fn(Event{Type: e.Type, Object: e.Object, Previous: e.Prev})
				}
			}
		}()
	}
}

// Key is the work queue key of a namespaced object.
func Key(ns, name string) string { return ns + "/" + name }

// SplitKey splits a Key.
func SplitKey(key string) (ns, name string) {
	ns, name, _ = strings.Cut(key, "/")
	return ns, name
}

// ObjectKey is the Key of obj.
func ObjectKey(obj metav1.Object) string { return Key(obj.GetNamespace(), obj.GetName()) }

// NewControllerRef is the owner reference a controller puts on what it
// makes: controller and blockOwnerDeletion true.
func NewControllerRef(owner metav1.Object, apiVersion, kind string) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: owner.GetName(), UID: owner.GetUID(),
		Controller: &t, BlockOwnerDeletion: &t}
}

// ControllerOf is obj's controller reference (nil: none).
func ControllerOf(obj metav1.Object) *metav1.OwnerReference { return metav1.GetControllerOf(obj) }
