package apiserver

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
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
	// docs are the group versions' documents by path ("api/v1",
	// "apis/node.k8s.io/v1").
	docs map[string]openAPIDoc
}

type openAPIDoc struct {
	body []byte
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
	byGV := map[schema.GroupVersion][]*registry.Store{}
	var order []schema.GroupVersion
	for _, st := range stores {
		gv := st.Resource().GroupVersion()
		if _, ok := byGV[gv]; !ok {
			order = append(order, gv)
		}
		byGV[gv] = append(byGV[gv], st)
	}
	docs := &openAPIDocs{docs: map[string]openAPIDoc{}}
	rootPaths := map[string]any{}
	for _, gv := range order {
		path := "api/v1"
		if gv.Group != "" {
			path = "apis/" + gv.String()
		}
		body := buildOpenAPIDoc(gv, byGV[gv], v)
		sum := sha512.Sum512(body)
		hash := hex.EncodeToString(sum[:])
		docs.docs[path] = openAPIDoc{body: body, hash: hash}
		rootPaths[path] = map[string]string{"serverRelativeURL": "/openapi/v3/" + path + "?hash=" + hash}
	}
	docs.root, _ = json.Marshal(map[string]any{"paths": rootPaths})
	return docs
}

// buildOpenAPIDoc is the document of one group version's resources.
func buildOpenAPIDoc(gv schema.GroupVersion, stores []*registry.Store, v version.Info) []byte {
	paths := map[string]map[string]openAPIOperation{}
	add := func(path, method, action, opID string, res *registry.Resource, params []openAPIParam) {
		if paths[path] == nil {
			paths[path] = map[string]openAPIOperation{}
		}
		paths[path][method] = openAPIOperation{
			OperationID: opID, Action: action, Parameters: params,
			GVK:       map[string]string{"group": gv.Group, "version": gv.Version, "kind": res.Kind},
			Responses: map[string]any{"200": map[string]any{"description": "OK"}},
		}
	}
	prefix, opGroup := "/api/v1/", "CoreV1"
	if gv.Group != "" {
		prefix = "/apis/" + gv.String() + "/"
		// node.k8s.io/v1 → NodeV1, as upstream's operation IDs.
		first, _, _ := strings.Cut(gv.Group, ".")
		opGroup = strings.ToUpper(first[:1]) + first[1:] + strings.ToUpper(gv.Version[:1]) + gv.Version[1:]
	}
	for _, st := range stores {
		res := st.Resource()
		base := prefix + res.Name
		scope := ""
		if res.Namespaced {
			add(base, "get", "list", "list"+opGroup+res.Kind+"ForAllNamespaces", res, nil)
			base = prefix + "namespaces/{namespace}/" + res.Name
			scope = "Namespaced"
		}
		item := base + "/{name}"
		add(base, "get", "list", "list"+opGroup+scope+res.Kind, res, nil)
		add(base, "post", "post", "create"+opGroup+scope+res.Kind, res, writeParams)
		add(base, "delete", "deletecollection", "delete"+opGroup+"Collection"+scope+res.Kind, res, nil)
		add(item, "get", "get", "read"+opGroup+scope+res.Kind, res, nil)
		add(item, "put", "put", "replace"+opGroup+scope+res.Kind, res, writeParams)
		add(item, "patch", "patch", "patch"+opGroup+scope+res.Kind, res, writeParams)
		add(item, "delete", "delete", "delete"+opGroup+scope+res.Kind, res, nil)
		if res.HasStatus {
			add(item+"/status", "get", "get", "read"+opGroup+scope+res.Kind+"Status", res, nil)
			add(item+"/status", "put", "put", "replace"+opGroup+scope+res.Kind+"Status", res, writeParams)
			add(item+"/status", "patch", "patch", "patch"+opGroup+scope+res.Kind+"Status", res, writeParams)
		}
		if res.HasApproval {
			add(item+"/approval", "get", "get", "read"+opGroup+scope+res.Kind+"Approval", res, nil)
			add(item+"/approval", "put", "put", "replace"+opGroup+scope+res.Kind+"Approval", res, writeParams)
			add(item+"/approval", "patch", "patch", "patch"+opGroup+scope+res.Kind+"Approval", res, writeParams)
		}
	}
	schemas := &schemaBuilder{schemas: map[string]any{}}
	for _, st := range stores {
		res := st.Resource()
		schemas.kind(res.New(), gv.WithKind(res.Kind))
		schemas.kind(res.NewList(), gv.WithKind(res.Kind+"List"))
	}
	doc := map[string]any{
		"openapi":    "3.0.0",
		"info":       map[string]any{"title": "Kubernetes", "version": v.GitVersion},
		"paths":      paths,
		"components": map[string]any{"schemas": schemas.schemas},
	}
	body, err := json.Marshal(doc)
	if err != nil {
		panic(err) // static document of plain maps
	}
	return body
}

func (s *Server) serveOpenAPIV3Root(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, private")
	_, _ = w.Write(s.openapi.root)
}

func (s *Server) serveOpenAPIV3(w http.ResponseWriter, r *http.Request) {
	doc, ok := s.openapi.docs[strings.TrimPrefix(r.URL.Path, "/openapi/v3/")]
	if !ok {
		s.serveNotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Etag", `"`+doc.hash+`"`)
	if r.URL.Query().Get("hash") == doc.hash {
		w.Header().Set("Cache-Control", "public, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache, private")
	}
	_, _ = w.Write(doc.body)
}

func (s *Server) serveOpenAPIV2(w http.ResponseWriter, r *http.Request) {
	// An empty protobuf message is a valid, empty OpenAPI v2 document.
	w.Header().Set("Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
	w.WriteHeader(http.StatusOK)
}
