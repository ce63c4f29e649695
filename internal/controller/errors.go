package controller

import (
	"errors"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// errGone stops an update whose object changed identity or owner.
var errGone = errors.New("object changed meanwhile")

func joinErrs(errs []error) error { return errors.Join(errs...) }

func asMeta(obj runtime.Object) (metav1.Object, error) { return meta.Accessor(obj) }
