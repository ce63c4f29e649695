package kubelet

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/expansion"
)

// containerEnv resolves a container's environment (makeEnvironmentVariables
// upstream): envFrom first (ConfigMaps and Secrets, with their prefix;
// keys that are not valid variable names are skipped with an event), then
// env, literal values with $(VAR) expansion, the downward API (fieldRef,
// resourceFieldRef) and ConfigMap and Secret keys. A missing object or key
// fails the container with upstream's message, unless optional.
func (k *Kubelet) containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podIPs []string) ([]*runtimeapi.KeyValue, error) {
	vars := map[string]string{}
	var order []string
	set := func(name, value string) {
		if _, ok := vars[name]; !ok {
			order = append(order, name)
		}
		vars[name] = value
	}
	for _, kv := range k.masterServiceEnv(pod) {
		set(kv[0], kv[1])
	}
	for _, from := range c.EnvFrom {
		var data map[string]string
		var kind, name string
		switch {
		case from.ConfigMapRef != nil:
			kind, name = "configMap", from.ConfigMapRef.Name
			cm, err := k.configMap(ctx, pod.Namespace, name)
			if err != nil {
				if optional(from.ConfigMapRef.Optional) && apierrors.IsNotFound(err) {
					continue
				}
				return nil, err
			}
			data = cm.Data
		case from.SecretRef != nil:
			kind, name = "secret", from.SecretRef.Name
			sec, err := k.secret(ctx, pod.Namespace, name)
			if err != nil {
				if optional(from.SecretRef.Optional) && apierrors.IsNotFound(err) {
					continue
				}
				return nil, err
			}
			data = map[string]string{}
			for key, v := range sec.Data {
				data[key] = string(v)
			}
		}
		var invalid []string
		for _, key := range slices.Sorted(maps.Keys(data)) {
			name := from.Prefix + key
			if len(validation.IsEnvVarName(name)) > 0 {
				invalid = append(invalid, name)
				continue
			}
			set(name, data[key])
		}
		if len(invalid) > 0 {
			k.cfg.Recorder.Eventf(pod, "", events.Warning, "InvalidEnvironmentVariableNames",
				"Keys [%s] from the EnvFrom %s %s/%s were skipped since they are considered invalid environment variable names.",
				strings.Join(invalid, ", "), kind, pod.Namespace, name)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expansion.Expand(e.Value, vars))
			continue
		}
		vf := e.ValueFrom
		switch {
		case vf.FieldRef != nil:
			v, err := k.fieldRef(pod, vf.FieldRef.FieldPath, podIPs)
			if err != nil {
				return nil, err
			}
			set(e.Name, v)
		case vf.ResourceFieldRef != nil:
			v, err := k.resourceFieldRef(pod, c, vf.ResourceFieldRef)
			if err != nil {
				return nil, err
			}
			set(e.Name, v)
		case vf.ConfigMapKeyRef != nil:
			ref := vf.ConfigMapKeyRef
			cm, err := k.configMap(ctx, pod.Namespace, ref.Name)
			if err != nil {
				if optional(ref.Optional) && apierrors.IsNotFound(err) {
					continue
				}
				return nil, err
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				if optional(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			set(e.Name, v)
		case vf.SecretKeyRef != nil:
			ref := vf.SecretKeyRef
			sec, err := k.secret(ctx, pod.Namespace, ref.Name)
			if err != nil {
				if optional(ref.Optional) && apierrors.IsNotFound(err) {
					continue
				}
				return nil, err
			}
			v, ok := sec.Data[ref.Key]
			if !ok {
				if optional(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			set(e.Name, string(v))
		}
	}
	out := make([]*runtimeapi.KeyValue, 0, len(order))
	for _, name := range order {
		out = append(out, &runtimeapi.KeyValue{Key: name, Value: []byte(vars[name])})
	}
	return out, nil
}

// configMap reads a ConfigMap; not found reads as upstream's
// `configmap "x" not found`.
func (k *Kubelet) configMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	return getObject[*corev1.ConfigMap](ctx, k.cfg.ConfigMaps, "configmap", ns, name)
}

// secret reads a Secret; not found reads as `secret "x" not found`.
func (k *Kubelet) secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return getObject[*corev1.Secret](ctx, k.cfg.Secrets, "secret", ns, name)
}

// getObject reads an object the kubelet uses (a nil getter has none),
// naming a missing one as the kubelet's object caches do, by the
// singular resource.
func getObject[T runtime.Object](ctx context.Context, g Getter, resource, ns, name string) (T, error) {
	var zero T
	notFound := apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
	if g == nil {
		return zero, notFound
	}
	obj, err := g.Get(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return zero, notFound
	}
	if err != nil {
		return zero, err
	}
	out, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("%s %s/%s: unexpected %T", resource, ns, name, obj)
	}
	return out, nil
}

func optional(b *bool) bool { return b != nil && *b }

// fieldRef resolves a downward API field.
func (k *Kubelet) fieldRef(pod *corev1.Pod, path string, podIPs []string) (string, error) {
	if key, ok := strings.CutPrefix(path, "metadata.labels['"); ok {
		return pod.Labels[strings.TrimSuffix(key, "']")], nil
	}
	if key, ok := strings.CutPrefix(path, "metadata.annotations['"); ok {
		return pod.Annotations[strings.TrimSuffix(key, "']")], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return k.hostIP(), nil
	case "status.podIP":
		if len(podIPs) > 0 {
			return podIPs[0], nil
		}
		return "", nil
	case "status.podIPs":
		return strings.Join(podIPs, ","), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %s", path)
}

// resourceFieldRef resolves limits/requests of the container, falling back
// to the node's allocatable for unset limits, divided and rounded up.
func (k *Kubelet) resourceFieldRef(pod *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	var q resource.Quantity
	switch ref.Resource {
	case "limits.cpu", "limits.memory":
		name := corev1.ResourceName(strings.TrimPrefix(ref.Resource, "limits."))
		v, ok := c.Resources.Limits[name]
		if !ok {
			v = k.allocatable(name)
		}
		q = v
	case "requests.cpu", "requests.memory":
		q = c.Resources.Requests[corev1.ResourceName(strings.TrimPrefix(ref.Resource, "requests."))]
	default:
		return "", fmt.Errorf("unsupported container resource: %s", ref.Resource)
	}
	if strings.HasSuffix(ref.Resource, ".cpu") {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

// masterServiceEnv is what the kubelet gives every pod for the kubernetes
// service of the default namespace (getServiceEnvVarMap upstream), here
// pointing at peapod's API server: on the pod network's gateway address,
// or for host-network pods the address the node uses. The container's own
// env and envFrom win.
func (k *Kubelet) masterServiceEnv(pod *corev1.Pod) [][2]string {
	addr := k.cfg.APIServer
	if pod.Spec.HostNetwork {
		addr = k.cfg.HostAPIServer
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || addr == "" {
		return nil
	}
	url := "tcp://" + net.JoinHostPort(host, port)
	prefix := "KUBERNETES_PORT_" + port + "_TCP"
	return [][2]string{
		{"KUBERNETES_SERVICE_HOST", host}, {"KUBERNETES_SERVICE_PORT", port}, {"KUBERNETES_SERVICE_PORT_HTTPS", port},
		{"KUBERNETES_PORT", url}, {prefix, url}, {prefix + "_PROTO", "tcp"}, {prefix + "_PORT", port}, {prefix + "_ADDR", host},
	}
}
