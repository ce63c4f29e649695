package apiserver

import (
	"encoding/json"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Legacy (unaggregated) discovery. client-go only treats an answer as
// aggregated discovery when its Content-Type says so, so plain JSON is read
// as APIVersions/APIGroupList/APIResourceList by every kubectl.

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.version)
}

func (s *Server) serveAPIVersions(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, &metav1.APIVersions{
		TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
		Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
			{ClientCIDR: "0.0.0.0/0", ServerAddress: s.address},
		},
	})
}

func (s *Server) serveGroupList(w http.ResponseWriter, r *http.Request) {
	list := &metav1.APIGroupList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
		Groups:   []metav1.APIGroup{},
	}
	for _, gv := range s.groups {
		list.Groups = append(list.Groups, apiGroup(gv))
	}
	if s.authorizer != nil {
		for _, g := range reviewGroups {
			list.Groups = append(list.Groups, reviewAPIGroup(g.name, g.versions))
		}
	}
	if s.metrics != nil {
		g := metricsGroup
		g.TypeMeta = metav1.TypeMeta{}
		list.Groups = append(list.Groups, g)
	}
	s.writeJSON(w, http.StatusOK, list)
}

var (
	collectionVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	statusVerbs     = metav1.Verbs{"get", "patch", "update"}
)

func (s *Server) serveResourceList(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, s.resourceList(schema.GroupVersion{Version: "v1"}))
}

// serveGroup answers /apis/<group>: the group and its one version.
func (s *Server) serveGroup(gv schema.GroupVersion) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		g := apiGroup(gv)
		g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
		s.writeJSON(w, http.StatusOK, &g)
	}
}

// serveGroupResourceList answers /apis/<group>/<version>.
func (s *Server) serveGroupResourceList(gv schema.GroupVersion) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.writeJSON(w, http.StatusOK, s.resourceList(gv))
	}
}

func apiGroup(gv schema.GroupVersion) metav1.APIGroup {
	v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
	return metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v}
}

// resourceList lists the resources of one group version.
func (s *Server) resourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	list := &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: gv.String(),
	}
	for _, st := range s.order {
		res := st.Resource()
		if res.GroupVersion() != gv {
			continue
		}
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: res.Name, SingularName: res.SingularName, Namespaced: res.Namespaced, Kind: res.Kind,
			Verbs: collectionVerbs, ShortNames: res.ShortNames, Categories: res.Categories,
		})
		if res.HasStatus {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: res.Name + "/status", Namespaced: res.Namespaced, Kind: res.Kind, Verbs: statusVerbs,
			})
		}
		if res.HasApproval {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: res.Name + "/approval", Namespaced: res.Namespaced, Kind: res.Kind, Verbs: statusVerbs,
			})
		}
		if res.Scale != nil {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: res.Name + "/scale", Namespaced: res.Namespaced, Group: "autoscaling", Version: "v1", Kind: "Scale", Verbs: statusVerbs,
			})
		}
		if res.Name == "serviceaccounts" && s.tokenReqs != nil {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: "serviceaccounts/token", Namespaced: true, Group: "authentication.k8s.io", Version: "v1",
				Kind: "TokenRequest", Verbs: metav1.Verbs{"create"},
			})
		}
		if res.Name == "pods" {
			connect := metav1.Verbs{"create", "get"}
			list.APIResources = append(list.APIResources,
				metav1.APIResource{Name: "pods/attach", Namespaced: true, Kind: "PodAttachOptions", Verbs: connect},
				metav1.APIResource{Name: "pods/ephemeralcontainers", Namespaced: true, Kind: "Pod", Verbs: statusVerbs},
				metav1.APIResource{Name: "pods/exec", Namespaced: true, Kind: "PodExecOptions", Verbs: connect},
				metav1.APIResource{Name: "pods/log", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get"}},
				metav1.APIResource{Name: "pods/portforward", Namespaced: true, Kind: "PodPortForwardOptions", Verbs: connect},
				metav1.APIResource{Name: "pods/resize", Namespaced: true, Kind: "Pod", Verbs: statusVerbs},
			)
		}
	}
	return list
}

var _ runtime.Object = &metav1.APIResourceList{}
