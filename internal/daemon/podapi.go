package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/serviceaccount"
	"github.com/peapod/peapod/internal/serviceaccounts"
)

// gatewayIP is the pod network's gateway, the bridge's own address: the
// first address of the pod CIDR, as the bridge plugin with host-local
// IPAM takes it.
func gatewayIP(cidr string) (netip.Addr, error) {
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("pod CIDR %q: %w", cidr, err)
	}
	return prefix.Masked().Addr().Next(), nil
}

// listenFreebind listens on addr even before the address exists: the
// bridge gets the gateway address when the first pod joins it, and the
// API is reachable from pods from then on.
func listenFreebind(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_FREEBIND, 1)
		})
		return errors.Join(err, serr)
	}}
	return lc.Listen(ctx, "tcp", addr)
}

// objectGetter reads what service-account tokens are bound to, and is the
// pod admission's service-account lookup.
type objectGetter struct {
	pods, serviceAccounts, secrets *registry.Store
	controller                     *serviceaccounts.Controller
}

func get[T any](ctx context.Context, st *registry.Store, ns, name string) (T, error) {
	var zero T
	obj, err := st.Get(ctx, ns, name)
	if err != nil {
		return zero, err
	}
	out, ok := any(obj).(T)
	if !ok {
		return zero, fmt.Errorf("%s/%s: unexpected type %T", ns, name, obj)
	}
	return out, nil
}

func (g *objectGetter) ServiceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	return get[*corev1.ServiceAccount](ctx, g.serviceAccounts, ns, name)
}

func (g *objectGetter) Pod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return get[*corev1.Pod](ctx, g.pods, ns, name)
}

func (g *objectGetter) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return get[*corev1.Secret](ctx, g.secrets, ns, name)
}

// admissionServiceAccount is the pod admission's lookup: a missing default
// service account is made on the spot rather than refusing a pod created
// right after its namespace.
func (g *objectGetter) admissionServiceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	sa, err := g.ServiceAccount(ctx, ns, name)
	if apierrors.IsNotFound(err) && name == serviceaccount.DefaultName {
		g.controller.EnsureNamespace(ctx, ns)
		sa, err = g.ServiceAccount(ctx, ns, name)
	}
	return sa, err
}
