// Package serviceaccounts is kube-controller-manager's serviceaccounts and
// root-ca-cert-publisher controllers: every active namespace has a
// ServiceAccount named default and the kube-root-ca.crt ConfigMap with the
// cluster CA, made when the namespace appears and again if deleted.
package serviceaccounts

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/serviceaccount"
	"github.com/peapod/peapod/internal/storage"
)

// Store is what the controller needs of a REST store.
type Store interface {
	Get(ctx context.Context, ns, name string) (runtime.Object, error)
	Create(ctx context.Context, ns string, obj runtime.Object, dryRun bool) (runtime.Object, error)
	Watch(ctx context.Context, ns string, opts registry.ListOptions) (*storage.Watcher, error)
	Update(ctx context.Context, ns, name string, fn registry.UpdateFunc, opts registry.UpdateOptions) (runtime.Object, error)
}

// Controller keeps the default service accounts and the CA ConfigMaps.
type Controller struct {
	Namespaces, ServiceAccounts Store
	// ConfigMaps, if set with RootCA, get kube-root-ca.crt.
	ConfigMaps Store
	RootCA     []byte
	Log        *slog.Logger
}

// RootCAConfigMap is the name of the CA ConfigMap.
const RootCAConfigMap = "kube-root-ca.crt"

// rootCADescription is the annotation upstream's publisher sets.
const rootCADescription = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	nsw, err := c.Namespaces.Watch(ctx, "", registry.ListOptions{SendInitialEvents: true})
	if err != nil {
		return fmt.Errorf("watching namespaces: %w", err)
	}
	defer func() { nsw.Stop() }()
	saw, err := c.ServiceAccounts.Watch(ctx, "", registry.ListOptions{})
	if err != nil {
		return fmt.Errorf("watching service accounts: %w", err)
	}
	defer func() { saw.Stop() }()
	var cmEvents <-chan storage.Event
	var cmw *storage.Watcher
	if c.ConfigMaps != nil {
		if cmw, err = c.ConfigMaps.Watch(ctx, "", registry.ListOptions{}); err != nil {
			return fmt.Errorf("watching config maps: %w", err)
		}
		defer func() { cmw.Stop() }()
		cmEvents = cmw.ResultChan()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-nsw.ResultChan():
			if !ok {
				if nsw, err = c.Namespaces.Watch(ctx, "", registry.ListOptions{SendInitialEvents: true}); err != nil {
					return fmt.Errorf("watching namespaces: %w", err)
				}
				continue
			}
			if ns, ok := e.Object.(*corev1.Namespace); ok && e.Type != watch.Deleted {
				c.ensure(ctx, ns.Name)
			}
		case e, ok := <-saw.ResultChan():
			if !ok {
				if saw, err = c.ServiceAccounts.Watch(ctx, "", registry.ListOptions{}); err != nil {
					return fmt.Errorf("watching service accounts: %w", err)
				}
				continue
			}
			if sa, ok := e.Object.(*corev1.ServiceAccount); ok && e.Type == watch.Deleted && sa.Name == serviceaccount.DefaultName {
				c.ensure(ctx, sa.Namespace)
			}
		case e, ok := <-cmEvents:
			if !ok {
				if cmw, err = c.ConfigMaps.Watch(ctx, "", registry.ListOptions{}); err != nil {
					return fmt.Errorf("watching config maps: %w", err)
				}
				cmEvents = cmw.ResultChan()
				continue
			}
			if cm, ok := e.Object.(*corev1.ConfigMap); ok && cm.Name == RootCAConfigMap && (e.Type == watch.Deleted || cm.Data["ca.crt"] != string(c.RootCA)) {
				c.ensureRootCA(ctx, cm.Namespace)
			}
		}
	}
}

// ensure makes what every namespace holds; the CA first, so that a pod
// admitted once its service account exists finds it.
func (c *Controller) ensure(ctx context.Context, ns string) {
	c.ensureRootCA(ctx, ns)
	c.ensureDefault(ctx, ns)
}

// EnsureNamespace makes the default service account and the CA ConfigMap
// of ns unless they exist or ns is going away. The ServiceAccount
// admission of pods calls it, so that a pod created right after its
// namespace does not race this controller (upstream refuses such a pod
// until the account exists).
func (c *Controller) EnsureNamespace(ctx context.Context, ns string) { c.ensure(ctx, ns) }

// active reports whether ns exists and is not going away.
func (c *Controller) active(ctx context.Context, ns string) bool {
	obj, err := c.Namespaces.Get(ctx, "", ns)
	if err != nil {
		return false
	}
	n := obj.(*corev1.Namespace)
	return n.DeletionTimestamp == nil && n.Status.Phase != corev1.NamespaceTerminating
}

// ensureRootCA creates or corrects the kube-root-ca.crt ConfigMap of ns.
func (c *Controller) ensureRootCA(ctx context.Context, ns string) {
	if c.ConfigMaps == nil || len(c.RootCA) == 0 || !c.active(ctx, ns) {
		return
	}
	want := map[string]string{"ca.crt": string(c.RootCA)}
	obj, err := c.ConfigMaps.Get(ctx, ns, RootCAConfigMap)
	if err == nil {
		cm := obj.(*corev1.ConfigMap)
		if cm.Data["ca.crt"] == want["ca.crt"] {
			return
		}
		// Another writer changed it: put it back, as upstream does.
		_, err := c.ConfigMaps.Update(ctx, ns, RootCAConfigMap, func(cur runtime.Object) (runtime.Object, error) {
			cm := cur.DeepCopyObject().(*corev1.ConfigMap)
			cm.Data, cm.BinaryData = want, nil
			return cm, nil
		}, registry.UpdateOptions{})
		if err != nil {
			c.Log.Warn("restoring the root CA config map", "namespace", ns, "err", err)
		}
		return
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: RootCAConfigMap, Namespace: ns,
		Annotations: map[string]string{"kubernetes.io/description": rootCADescription}}, Data: want}
	if _, err := c.ConfigMaps.Create(ctx, ns, cm, false); err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
		c.Log.Warn("creating the root CA config map", "namespace", ns, "err", err)
	}
}

// ensureDefault creates the default service account of ns unless it
// exists or ns is going away.
func (c *Controller) ensureDefault(ctx context.Context, ns string) {
	if !c.active(ctx, ns) {
		return
	}
	if _, err := c.ServiceAccounts.Get(ctx, ns, serviceaccount.DefaultName); err == nil {
		return
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: serviceaccount.DefaultName, Namespace: ns}}
	if _, err := c.ServiceAccounts.Create(ctx, ns, sa, false); err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
		c.Log.Warn("creating the default service account", "namespace", ns, "err", err)
	}
}
