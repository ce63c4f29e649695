// Package scheme holds the one runtime.Scheme peapod serves: the core/v1
// kinds (Pod, Namespace, Node, Event, PersistentVolumeClaim,
// PersistentVolume, ...), authentication.k8s.io/v1 (TokenRequest,
// TokenReview, SelfSubjectReview; v1beta1 SelfSubjectReview),
// authorization.k8s.io/v1 (the access reviews),
// rbac.authorization.k8s.io/v1, certificates.k8s.io/v1
// (CertificateSigningRequest), node.k8s.io/v1 (RuntimeClass),
// scheduling.k8s.io/v1 (PriorityClass), apps/v1
// (Deployment, ReplicaSet, DaemonSet, StatefulSet, ControllerRevision),
// batch/v1 (Job, CronJob), storage.k8s.io/v1 (StorageClass) and
// autoscaling/v1 (Scale), plus the meta/v1 kinds the API machinery speaks
// (Status, Table, WatchEvent, DeleteOptions, ...), and the codecs built
// from it. Every layer that turns objects into bytes gets its scheme here,
// so there is exactly one place that decides which kinds exist.
package scheme

import (
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authenticationv1beta1 "k8s.io/api/authentication/v1beta1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1beta1 "k8s.io/apimachinery/pkg/apis/meta/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
)

// Scheme is an immutable-after-construction registry of kinds; New builds a
// fresh one so that nothing here is package-level mutable state.
type Scheme struct {
	*runtime.Scheme
	Codecs serializer.CodecFactory
	// JSON encodes and decodes objects as JSON (non-strict decoding).
	JSON runtime.Serializer
	// StrictJSON decodes JSON and fails on unknown or duplicate fields,
	// the way fieldValidation=Strict does upstream.
	StrictJSON runtime.Serializer
	// YAML decodes YAML request bodies.
	YAML runtime.Serializer
	// StrictYAML decodes YAML strictly.
	StrictYAML runtime.Serializer
}

// New returns a scheme with core/v1 and meta/v1 registered.
func New() *Scheme {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		panic(err) // static registration; cannot fail at runtime
	}
	if err := authenticationv1.AddToScheme(s); err != nil {
		panic(err)
	}
	for _, add := range []func(*runtime.Scheme) error{authenticationv1beta1.AddToScheme, authorizationv1.AddToScheme, rbacv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	if err := nodev1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := schedulingv1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := appsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := batchv1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := storagev1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := certificatesv1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := autoscalingv1.AddToScheme(s); err != nil {
		panic(err)
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	metaGV := schema.GroupVersion{Group: "meta.k8s.io", Version: "v1"}
	s.AddKnownTypes(metaGV, &metav1.Table{}, &metav1.PartialObjectMetadata{}, &metav1.PartialObjectMetadataList{},
		&metav1.Status{}, &metav1.DeleteOptions{}, &metav1.ListOptions{}, &metav1.WatchEvent{})
	metaV1beta1 := schema.GroupVersion{Group: "meta.k8s.io", Version: "v1beta1"}
	s.AddKnownTypes(metaV1beta1, &metav1beta1.Table{}, &metav1beta1.PartialObjectMetadata{}, &metav1beta1.PartialObjectMetadataList{})
	metav1.AddToGroupVersion(s, metaGV)

	return &Scheme{
		Scheme:     s,
		Codecs:     serializer.NewCodecFactory(s),
		JSON:       json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{}),
		StrictJSON: json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Strict: true}),
		YAML:       json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true}),
		StrictYAML: json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true, Strict: true}),
	}
}

// Encode returns obj as JSON with apiVersion and kind set.
func (s *Scheme) Encode(obj runtime.Object) ([]byte, error) {
	if err := s.SetKind(obj); err != nil {
		return nil, err
	}
	return runtime.Encode(s.JSON, obj)
}

// SetKind fills TypeMeta of obj from the scheme.
func (s *Scheme) SetKind(obj runtime.Object) error {
	gvks, _, err := s.ObjectKinds(obj)
	if err != nil {
		return err
	}
	obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	return nil
}

// Decode decodes a JSON object whose apiVersion and kind are set.
func (s *Scheme) Decode(data []byte) (runtime.Object, error) {
	return runtime.Decode(s.JSON, data)
}
