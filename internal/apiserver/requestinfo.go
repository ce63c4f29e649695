package apiserver

import (
	"net/http"
	"net/url"
	"strings"
)

// requestInfo is what a resource URL means, after
// k8s.io/apiserver/pkg/endpoints/request.RequestInfoFactory.
type requestInfo struct {
	Verb string // get list watch create update patch delete deletecollection
	// Group and Version are the API group version of the path ("" and
	// "v1" under /api/v1).
	Group, Version string
	Namespace      string
	Resource       string
	Name           string
	Subresource    string
}

// namespaceSubresources are the subresources of namespaces themselves, so
// /namespaces/x/status is not "the status resource in namespace x".
var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

// parseRequestInfo parses a path under /api/v1/ or /apis/<group>/<version>/.
// ok is false when the path is not a resource path.
func parseRequestInfo(r *http.Request) (requestInfo, bool) {
	var info requestInfo
	rest, found := strings.CutPrefix(r.URL.Path, "/api/v1/")
	if found {
		info.Version = "v1"
	} else if rest, found = strings.CutPrefix(r.URL.Path, "/apis/"); found {
		gv := strings.SplitN(rest, "/", 3)
		if len(gv) < 3 || gv[0] == "" || gv[1] == "" {
			return requestInfo{}, false
		}
		info.Group, info.Version, rest = gv[0], gv[1], gv[2]
	}
	if !found || strings.Trim(rest, "/") == "" {
		return requestInfo{}, false
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	isWatch := false
	if parts[0] == "watch" {
		// Legacy /api/v1/watch/... paths.
		isWatch, parts = true, parts[1:]
		if len(parts) == 0 {
			return requestInfo{}, false
		}
	}
	if parts[0] == "namespaces" && len(parts) > 1 {
		info.Namespace = parts[1]
		if len(parts) > 2 && !namespaceSubresources[parts[2]] {
			parts = parts[2:]
		} else {
			// The namespace object itself: /namespaces/{name}[/status].
			info.Namespace = ""
			parts = append([]string{"namespaces", parts[1]}, parts[2:]...)
		}
	}
	switch len(parts) {
	case 3:
		info.Subresource = parts[2]
		fallthrough
	case 2:
		info.Name = parts[1]
		fallthrough
	case 1:
		info.Resource = parts[0]
	default:
		return requestInfo{}, false
	}
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case isWatch || queryBool(q, "watch"):
			info.Verb = "watch"
		case info.Name == "":
			info.Verb = "list"
		default:
			info.Verb = "get"
		}
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		info.Verb = "delete"
		if info.Name == "" {
			info.Verb = "deletecollection"
		}
	default:
		info.Verb = strings.ToLower(r.Method)
	}
	return info, true
}

// queryBool reads a boolean parameter as apimachinery's conversion does:
// present and not "0" or "false" (in any case) is true.
func queryBool(q url.Values, name string) bool {
	v, ok := q[name]
	if !ok || len(v) == 0 {
		return false
	}
	switch strings.ToLower(v[0]) {
	case "0", "false":
		return false
	}
	return true
}
