package apiserver

import (
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// schemaBuilder derives OpenAPI v3 component schemas from the Go API types
// by reflection, with the field descriptions the types carry in their
// generated SwaggerDoc methods. That is enough for `kubectl explain`;
// kube-apiserver ships schemas generated at build time instead.
type schemaBuilder struct {
	schemas map[string]any
}

var (
	timeType     = reflect.TypeOf(metav1.Time{})
	microType    = reflect.TypeOf(metav1.MicroTime{})
	durationType = reflect.TypeOf(metav1.Duration{})
	quantityType = reflect.TypeOf(resource.Quantity{})
	intstrType   = reflect.TypeOf(intstr.IntOrString{})
	rawType      = reflect.TypeOf(runtime.RawExtension{})
)

// schemaName follows the upstream naming: the Go package path turned
// around to a reverse domain, e.g. io.k8s.api.core.v1.Pod.
func schemaName(t reflect.Type) string {
	path := t.PkgPath()
	if rest, ok := strings.CutPrefix(path, "k8s.io/"); ok {
		path = "io.k8s." + rest
	}
	return strings.ReplaceAll(path, "/", ".") + "." + t.Name()
}

// kind registers the schema of a top-level kind with its
// x-kubernetes-group-version-kind.
func (b *schemaBuilder) kind(obj runtime.Object, gvk schema.GroupVersionKind) {
	t := reflect.TypeOf(obj).Elem()
	b.ref(t)
	if s, ok := b.schemas[schemaName(t)].(map[string]any); ok {
		s["x-kubernetes-group-version-kind"] = []map[string]string{{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind}}
	}
}

// ref returns the schema to use where a value of type t appears.
func (b *schemaBuilder) ref(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case timeType, microType:
		return map[string]any{"type": "string", "format": "date-time"}
	case durationType:
		return map[string]any{"type": "string"}
	case quantityType, intstrType:
		return map[string]any{"x-kubernetes-int-or-string": true, "anyOf": []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}}}
	case rawType:
		return map[string]any{"type": "object"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int32, reflect.Uint32, reflect.Int16, reflect.Uint16, reflect.Int8, reflect.Uint8:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number", "format": "double"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": b.ref(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": b.ref(t.Elem())}
	case reflect.Struct:
		name := schemaName(t)
		if _, done := b.schemas[name]; !done {
			b.schemas[name] = nil // break cycles before recursing
			b.schemas[name] = b.object(t)
		}
		return map[string]any{"allOf": []any{map[string]any{"$ref": "#/components/schemas/" + name}}}
	}
	return map[string]any{}
}

// object builds the schema of a struct type.
func (b *schemaBuilder) object(t reflect.Type) map[string]any {
	docs := swaggerDoc(t)
	props := map[string]any{}
	var required []string
	b.fields(t, props, &required, docs)
	s := map[string]any{"type": "object", "properties": props}
	if d := docs[""]; d != "" {
		s["description"] = d
	}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func (b *schemaBuilder) fields(t reflect.Type, props map[string]any, required *[]string, docs map[string]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if name == "" && strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			b.fields(ft, props, required, swaggerDoc(ft))
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := b.ref(f.Type)
		if d := docs[name]; d != "" {
			s["description"] = d
		}
		if ps := f.Tag.Get("patchStrategy"); ps != "" {
			s["x-kubernetes-patch-strategy"] = ps
		}
		if mk := f.Tag.Get("patchMergeKey"); mk != "" {
			s["x-kubernetes-patch-merge-key"] = mk
		}
		props[name] = s
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
			*required = append(*required, name)
		}
	}
}

// swaggerDoc calls the type's generated SwaggerDoc method, if any.
func swaggerDoc(t reflect.Type) map[string]string {
	type documented interface{ SwaggerDoc() map[string]string }
	if d, ok := reflect.New(t).Elem().Interface().(documented); ok {
		return d.SwaggerDoc()
	}
	if d, ok := reflect.New(t).Interface().(documented); ok {
		return d.SwaggerDoc()
	}
	return nil
}
