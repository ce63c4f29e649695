// Package secret holds the API behaviour of core/v1 Secrets
// (pkg/registry/core/secret and ValidateSecret in
// pkg/apis/core/validation): stringData merged into data, the type
// defaulted to Opaque and checked for the keys it needs, size limits and
// immutability. Secret values never reach an error message or a log.
package secret

import (
	"context"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/configmap"
)

// Strategy implements registry strategies for secrets.
type Strategy struct{}

// Resource returns the secrets resource.
func Resource() *registry.Resource {
	return &registry.Resource{
		Name: "secrets", SingularName: "secret", Kind: "Secret", Namespaced: true,
		New:      func() runtime.Object { return &corev1.Secret{} },
		NewList:  func() runtime.Object { return &corev1.SecretList{} },
		Strategy: Strategy{},
	}
}

// mergeStringData moves stringData into data, as the conversion to the
// internal type does upstream: stringData wins, and is never stored.
func mergeStringData(s *corev1.Secret) {
	if len(s.StringData) > 0 && s.Data == nil {
		s.Data = map[string][]byte{}
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}

// PrepareForCreate merges stringData and defaults the type.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	s := obj.(*corev1.Secret)
	mergeStringData(s)
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
}

// redacted stands for a secret value in an error.
const redacted = "<secret contents redacted>"

// Validate checks a new secret.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	s := obj.(*corev1.Secret)
	errs := apimachineryvalidation.ValidateObjectMeta(&s.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	data := field.NewPath("data")
	size := 0
	for key, value := range s.Data {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(data.Key(key), key, msg))
		}
		size += len(value)
	}
	if size > configmap.MaxSize {
		errs = append(errs, field.TooLong(data, "", configmap.MaxSize))
	}
	require := func(keys ...string) {
		for _, k := range keys {
			if _, ok := s.Data[k]; !ok {
				errs = append(errs, field.Required(data.Key(k), ""))
			}
		}
	}
	validJSON := func(key string) {
		if v, ok := s.Data[key]; ok {
			var out map[string]any
			if err := json.Unmarshal(v, &out); err != nil {
				errs = append(errs, field.Invalid(data.Key(key), redacted, err.Error()))
			}
		} else {
			require(key)
		}
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		validJSON(corev1.DockerConfigKey)
	case corev1.SecretTypeDockerConfigJson:
		validJSON(corev1.DockerConfigJsonKey)
	case corev1.SecretTypeBasicAuth:
		_, user := s.Data[corev1.BasicAuthUsernameKey]
		_, pass := s.Data[corev1.BasicAuthPasswordKey]
		if !user && !pass {
			require(corev1.BasicAuthUsernameKey, corev1.BasicAuthPasswordKey)
		}
	case corev1.SecretTypeSSHAuth:
		require(corev1.SSHAuthPrivateKey)
	case corev1.SecretTypeTLS:
		require(corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	return errs
}

// PrepareForUpdate merges stringData and defaults the type, as on create
// (upstream defaults every decoded secret).
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	s := obj.(*corev1.Secret)
	mergeStringData(s)
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
}

// ValidateUpdate checks an update: the type never changes, and an
// immutable secret keeps its data and stays immutable.
func (st Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	s, prev := obj.(*corev1.Secret), old.(*corev1.Secret)
	errs := apimachineryvalidation.ValidateObjectMetaUpdate(&s.ObjectMeta, &prev.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(s.Type, prev.Type, field.NewPath("type"))...)
	if prev.Immutable != nil && *prev.Immutable {
		if s.Immutable == nil || !*s.Immutable {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), configmap.ImmutableMessage))
		}
		if !apiequality.Semantic.DeepEqual(s.Data, prev.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), configmap.ImmutableMessage))
		}
	}
	return append(errs, st.Validate(ctx, obj)...)
}

// SelectableFields are the metadata fields and the type.
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	s := obj.(*corev1.Secret)
	return fields.Set{"metadata.name": s.Name, "metadata.namespace": s.Namespace, "type": string(s.Type)}
}
