package apiserver

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/http"

	"k8s.io/apimachinery/pkg/version"

	"github.com/peapod/peapod/internal/registry"
)

// OpenAPI, as far as kubectl depends on it:
//
//   - /openapi/v3 and /openapi/v3/api/v1 list every operation with its
//     x-kubernetes-group-version-kind and the fieldValidation query
//     parameter on writes. kubectl's QueryParamVerifierV3 finds it there and
//     leaves unknown-field checks (--validate=strict) to the server, which
//     answers with upstream's "strict decoding error" messages.
//   - /openapi/v2 answers 200 with an empty protobuf document: kubectl 1.27
//     downloads it before every create/apply and aborts if that fails.
//
// Component schemas are generated from the Go types (openapi_schema.go), so
// `kubectl explain` works. Operations carry no request-body schemas, so
// kubectl apply computes its strategic merge patch from its compiled-in
// types, as it does for built-in kinds without OpenAPI patch information.

type openAPIDocs struct {
	root []byte
	v1   []byte
	hash string
}

type openAPIOperation struct {
	OperationID string            `json:"operationId"`
	Description string            `json:"description,omitempty"`
	GVK         map[string]string `json:"x-kubernetes-group-version-kind"`
	Action      string            `json:"x-kubernetes-action"`
	Parameters  []openAPIParam    `json:"parameters,omitempty"`
	Responses   map[string]any    `json:"responses"`
}

type openAPIParam struct {
	Name        string         `json:"name"`
	In          string         `json:"in"`
	Description string         `json:"description,omitempty"`
	Required    bool           `json:"required,omitempty"`
	Schema      map[string]any `json:"schema"`
}

var writeParams = []openAPIParam{
	{Name: "dryRun", In: "query", Schema: map[string]any{"type": "string"},
		Description: "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed"},
	{Name: "fieldManager", In: "query", Schema: map[string]any{"type": "string"},
		Description: "fieldManager is a name associated with the actor or entity that is making these changes."},
	{Name: "fieldValidation", In: "query", Schema: map[string]any{"type": "string"},
		Description: "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn (the default) - Strict"},
}

func buildOpenAPI(stores []*registry.Store, v version.Info) *openAPIDocs {
	paths := map[string]map[string]openAPIOperation{}
	add := func(path, method, action, opID string, res *registry.Resource, params []openAPIParam) {
		if paths[path] == nil {
			paths[path] = map[string]openAPIOperation{}
		}
		paths[path][method] = openAPIOperation{
			OperationID: opID, Action: action, Parameters: params,
			GVK:       map[string]string{"group": "", "version": "v1", "kind": res.Kind},
			Responses: map[string]any{"200": map[string]any{"description": "OK"}},
		}
	}
	for _, st := range stores {
		res := st.Resource()
		base := "/api/v1/" + res.Name
		scope := ""
		if res.Namespaced {
			add(base, "get", "list", "listCoreV1"+res.Kind+"ForAllNamespaces", res, nil)
			base = "/api/v1/namespaces/{namespace}/" + res.Name
			scope = "Namespaced"
		}
		item := base + "/{name}"
		add(base, "get", "list", "listCoreV1"+scope+res.Kind, res, nil)
		add(base, "post", "post", "createCoreV1"+scope+res.Kind, res, writeParams)
		add(base, "delete", "deletecollection", "deleteCoreV1Collection"+scope+res.Kind, res, nil)
		add(item, "get", "get", "readCoreV1"+scope+res.Kind, res, nil)
		add(item, "put", "put", "replaceCoreV1"+scope+res.Kind, res, writeParams)
		add(item, "patch", "patch", "patchCoreV1"+scope+res.Kind, res, writeParams)
		add(item, "delete", "delete", "deleteCoreV1"+scope+res.Kind, res, nil)
		if res.HasStatus {
			add(item+"/status", "get", "get", "readCoreV1"+scope+res.Kind+"Status", res, nil)
			add(item+"/status", "put", "put", "replaceCoreV1"+scope+res.Kind+"Status", res, writeParams)
			add(item+"/status", "patch", "patch", "patchCoreV1"+scope+res.Kind+"Status", res, writeParams)
		}
	}
	schemas := &schemaBuilder{schemas: map[string]any{}}
	for _, st := range stores {
		res := st.Resource()
		schemas.kind(res.New(), res.Kind)
		schemas.kind(res.NewList(), res.Kind+"List")
	}
	doc := map[string]any{
		"openapi":    "3.0.0",
		"info":       map[string]any{"title": "Kubernetes", "version": v.GitVersion},
		"paths":      paths,
		"components": map[string]any{"schemas": schemas.schemas},
	}
	v1, err := json.Marshal(doc)
	if err != nil {
		panic(err) // static document of plain maps
	}
	sum := sha512.Sum512(v1)
	hash := hex.EncodeToString(sum[:])
	root, _ := json.Marshal(map[string]any{
		"paths": map[string]any{"api/v1": map[string]string{"serverRelativeURL": "/openapi/v3/api/v1?hash=" + hash}},
	})
	return &openAPIDocs{root: root, v1: v1, hash: hash}
}

func (s *Server) serveOpenAPIV3Root(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, private")
	_, _ = w.Write(s.openapi.root)
}

func (s *Server) serveOpenAPIV3(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Etag", `"`+s.openapi.hash+`"`)
	if r.URL.Query().Get("hash") == s.openapi.hash {
		w.Header().Set("Cache-Control", "public, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache, private")
	}
	_, _ = w.Write(s.openapi.v1)
}

func (s *Server) serveOpenAPIV2(w http.ResponseWriter, r *http.Request) {
	// An empty protobuf message is a valid, empty OpenAPI v2 document.
	w.Header().Set("Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
	w.WriteHeader(http.StatusOK)
}
