package apiserver

import (
	"fmt"
	"mime"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authenticationv1beta1 "k8s.io/api/authentication/v1beta1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Access reviews and identity (authorization.k8s.io/v1 and
// authentication.k8s.io): create-only resources that store nothing and
// answer what the authorizer or the authenticator says, as
// pkg/registry/authorization and pkg/registry/authentication do. They are
// what `kubectl auth can-i` (with --list) and `kubectl auth whoami` ask.

// reviewResource is one of them.
type reviewResource struct {
	gv         schema.GroupVersion
	name, kind string
	namespaced bool
	serve      func(s *Server, w http.ResponseWriter, r *http.Request, ns string)
}

// reviewGroups are the groups of the reviews, with their versions,
// preferred first.
var reviewGroups = []struct {
	name     string
	versions []string
}{
	{"authentication.k8s.io", []string{"v1", "v1beta1"}},
	{"authorization.k8s.io", []string{"v1"}},
}

func reviewResources() []reviewResource {
	authn := authenticationv1.SchemeGroupVersion
	authz := authorizationv1.SchemeGroupVersion
	return []reviewResource{
		{gv: authn, name: "selfsubjectreviews", kind: "SelfSubjectReview", serve: (*Server).serveSelfSubjectReview},
		{gv: authn, name: "tokenreviews", kind: "TokenReview", serve: (*Server).serveTokenReview},
		{gv: authenticationv1beta1.SchemeGroupVersion, name: "selfsubjectreviews", kind: "SelfSubjectReview", serve: (*Server).serveSelfSubjectReview},
		{gv: authz, name: "localsubjectaccessreviews", kind: "LocalSubjectAccessReview", namespaced: true, serve: (*Server).serveAccessReview},
		{gv: authz, name: "selfsubjectaccessreviews", kind: "SelfSubjectAccessReview", serve: (*Server).serveAccessReview},
		{gv: authz, name: "selfsubjectrulesreviews", kind: "SelfSubjectRulesReview", serve: (*Server).serveRulesReview},
		{gv: authz, name: "subjectaccessreviews", kind: "SubjectAccessReview", serve: (*Server).serveAccessReview},
	}
}

// handleReviews serves the review groups' discovery and resources.
func (s *Server) handleReviews(mux *http.ServeMux) {
	if s.authorizer == nil {
		return
	}
	for _, g := range reviewGroups {
		group := reviewAPIGroup(g.name, g.versions)
		mux.HandleFunc("/apis/"+g.name, func(w http.ResponseWriter, r *http.Request) {
			out := group
			out.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
			s.writeJSON(w, http.StatusOK, &out)
		})
		for _, v := range g.versions {
			gv := schema.GroupVersion{Group: g.name, Version: v}
			mux.HandleFunc("/apis/"+gv.String(), func(w http.ResponseWriter, r *http.Request) {
				list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
				for _, rr := range reviewResources() {
					if rr.gv == gv {
						list.APIResources = append(list.APIResources, metav1.APIResource{Name: rr.name, Namespaced: rr.namespaced,
							Kind: rr.kind, Verbs: metav1.Verbs{"create"}})
					}
				}
				s.writeJSON(w, http.StatusOK, list)
			})
			mux.HandleFunc("/apis/"+gv.String()+"/", func(w http.ResponseWriter, r *http.Request) { s.serveReview(w, r, gv) })
		}
	}
}

func reviewAPIGroup(name string, versions []string) metav1.APIGroup {
	g := metav1.APIGroup{Name: name}
	for _, v := range versions {
		g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: name + "/" + v, Version: v})
	}
	g.PreferredVersion = g.Versions[0]
	return g
}

// serveReview dispatches POST /apis/<group>/<version>/[namespaces/<ns>/]<resource>.
func (s *Server) serveReview(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion) {
	info, ok := parseRequestInfo(r)
	if !ok || info.Name != "" {
		s.serveNotFound(w, r)
		return
	}
	for _, rr := range reviewResources() {
		if rr.gv != gv || rr.name != info.Resource || rr.namespaced != (info.Namespace != "") {
			continue
		}
		if r.Method != http.MethodPost {
			s.methodNotAllowed(w, r)
			return
		}
		rr.serve(s, w, r, info.Namespace)
		return
	}
	s.serveNotFound(w, r)
}

// decodeBody decodes the body of a request for a create-only resource
// (a review, a TokenRequest) into obj of gvk (JSON, YAML or protobuf).
func (s *Server) decodeBody(r *http.Request, gvk schema.GroupVersionKind, obj runtime.Object) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var dec runtime.Decoder = s.scheme.JSON
	switch mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt {
	case "", "application/json":
	case "application/yaml":
		dec = s.scheme.YAML
	case protobufType:
		info, _ := runtime.SerializerInfoForMediaType(s.scheme.Codecs.SupportedMediaTypes(), protobufType)
		dec = info.Serializer
	default:
		return apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "", "415: Unsupported Media Type", 0, false)
	}
	_, actual, err := dec.Decode(body, &gvk, obj)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if actual != nil && *actual != gvk {
		return apierrors.NewBadRequest(fmt.Sprintf("the body of the request must be a %s %s, not %s", gvk.GroupVersion(), gvk.Kind, actual))
	}
	return nil
}

func (s *Server) serveSelfSubjectReview(w http.ResponseWriter, r *http.Request, _ string) {
	u, _ := UserFrom(r.Context())
	if u == nil {
		u = &User{}
	}
	info := authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		info.Extra = map[string]authenticationv1.ExtraValue{}
		for k, v := range u.Extra {
			info.Extra[k] = v
		}
	}
	if strings.Contains(r.URL.Path, "/v1beta1/") {
		review := &authenticationv1beta1.SelfSubjectReview{}
		if err := s.decodeBody(r, authenticationv1beta1.SchemeGroupVersion.WithKind("SelfSubjectReview"), review); err != nil {
			s.writeError(w, r, err)
			return
		}
		review.Status.UserInfo = info
		s.writeObject(w, r, http.StatusCreated, review)
		return
	}
	review := &authenticationv1.SelfSubjectReview{}
	if err := s.decodeBody(r, authenticationv1.SchemeGroupVersion.WithKind("SelfSubjectReview"), review); err != nil {
		s.writeError(w, r, err)
		return
	}
	review.Status.UserInfo = info
	s.writeObject(w, r, http.StatusCreated, review)
}

// serveTokenReview checks a token as the authenticator would (for
// webhook token authentication of other components).
func (s *Server) serveTokenReview(w http.ResponseWriter, r *http.Request, _ string) {
	review := &authenticationv1.TokenReview{}
	if err := s.decodeBody(r, authenticationv1.SchemeGroupVersion.WithKind("TokenReview"), review); err != nil {
		s.writeError(w, r, err)
		return
	}
	if review.Spec.Token == "" {
		s.writeError(w, r, apierrors.NewBadRequest("token is required for TokenReview in authentication"))
		return
	}
	review.Status = authenticationv1.TokenReviewStatus{}
	if s.tokens == nil {
		review.Status.Error = "token authentication is not enabled"
	} else if u, err := s.tokenUser(r.Context(), review.Spec.Token); err != nil {
		review.Status.Error = "[invalid bearer token, " + err.Error() + "]"
	} else {
		review.Status.Authenticated = true
		review.Status.User = authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
		review.Status.User.Extra = map[string]authenticationv1.ExtraValue{}
		for k, v := range u.Extra {
			review.Status.User.Extra[k] = v
		}
	}
	s.writeObject(w, r, http.StatusCreated, review)
}

// accessSpec is the part the three access reviews share.
func accessAttributes(u user.Info, spec authorizationv1.SubjectAccessReviewSpec) authorizer.AttributesRecord {
	a := authorizer.AttributesRecord{User: u}
	if ra := spec.ResourceAttributes; ra != nil {
		a.ResourceRequest = true
		a.Verb, a.Namespace, a.APIGroup, a.APIVersion = ra.Verb, ra.Namespace, ra.Group, ra.Version
		a.Resource, a.Subresource, a.Name = ra.Resource, ra.Subresource, ra.Name
	} else if nra := spec.NonResourceAttributes; nra != nil {
		a.Verb, a.Path = nra.Verb, nra.Path
	}
	return a
}

// validateAccessSpec is ValidateSubjectAccessReviewSpec's common part.
func validateAccessSpec(spec authorizationv1.SubjectAccessReviewSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.ResourceAttributes != nil && spec.NonResourceAttributes != nil {
		errs = append(errs, field.Invalid(p.Child("nonResourceAttributes"), spec.NonResourceAttributes, `cannot be specified in combination with resourceAttributes`))
	}
	if spec.ResourceAttributes == nil && spec.NonResourceAttributes == nil {
		errs = append(errs, field.Invalid(p.Child("resourceAttributes"), spec.NonResourceAttributes, `exactly one of nonResourceAttributes or resourceAttributes must be specified`))
	}
	return errs
}

// serveAccessReview answers SubjectAccessReview (about anyone),
// LocalSubjectAccessReview (in one namespace) and SelfSubjectAccessReview
// (about the requester).
func (s *Server) serveAccessReview(w http.ResponseWriter, r *http.Request, ns string) {
	kind := "SubjectAccessReview"
	switch {
	case ns != "":
		kind = "LocalSubjectAccessReview"
	case strings.HasSuffix(r.URL.Path, "/selfsubjectaccessreviews"):
		kind = "SelfSubjectAccessReview"
	}
	gvk := authorizationv1.SchemeGroupVersion.WithKind(kind)
	gk := gvk.GroupKind()
	var (
		obj  runtime.Object
		spec authorizationv1.SubjectAccessReviewSpec
		errs field.ErrorList
		set  func(authorizationv1.SubjectAccessReviewStatus)
	)
	specPath := field.NewPath("spec")
	switch kind {
	case "SelfSubjectAccessReview":
		review := &authorizationv1.SelfSubjectAccessReview{}
		obj, set = review, func(st authorizationv1.SubjectAccessReviewStatus) { review.Status = st }
		if err := s.decodeBody(r, gvk, review); err != nil {
			s.writeError(w, r, err)
			return
		}
		spec.ResourceAttributes, spec.NonResourceAttributes = review.Spec.ResourceAttributes, review.Spec.NonResourceAttributes
		errs = validateAccessSpec(spec, specPath)
		u, _ := UserFrom(r.Context())
		if u != nil {
			spec.User, spec.UID, spec.Groups = u.Name, u.UID, u.Groups
			spec.Extra = map[string]authorizationv1.ExtraValue{}
			for k, v := range u.Extra {
				spec.Extra[k] = v
			}
		}
	default:
		review := &authorizationv1.SubjectAccessReview{}
		if kind == "LocalSubjectAccessReview" {
			local := &authorizationv1.LocalSubjectAccessReview{}
			if err := s.decodeBody(r, gvk, local); err != nil {
				s.writeError(w, r, err)
				return
			}
			obj, spec = local, local.Spec
			set = func(st authorizationv1.SubjectAccessReviewStatus) { local.Status = st }
			if local.Namespace != "" && local.Namespace != ns {
				s.writeError(w, r, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
				return
			}
			if spec.ResourceAttributes != nil && spec.ResourceAttributes.Namespace != ns {
				errs = append(errs, field.Invalid(field.NewPath("spec.resourceAttributes.namespace"), spec.ResourceAttributes.Namespace, "must match metadata.namespace"))
			}
			if spec.NonResourceAttributes != nil {
				errs = append(errs, field.Invalid(field.NewPath("spec.nonResourceAttributes"), spec.NonResourceAttributes, "disallowed on this kind of request"))
			}
			local.Namespace = ns
		} else {
			if err := s.decodeBody(r, gvk, review); err != nil {
				s.writeError(w, r, err)
				return
			}
			obj, spec = review, review.Spec
			set = func(st authorizationv1.SubjectAccessReviewStatus) { review.Status = st }
		}
		errs = append(errs, validateAccessSpec(spec, specPath)...)
		if spec.User == "" && len(spec.Groups) == 0 {
			errs = append(errs, field.Invalid(specPath.Child("user"), spec.User, `at least one of user or group must be specified`))
		}
	}
	if len(errs) > 0 {
		s.writeError(w, r, apierrors.NewInvalid(gk, "", errs))
		return
	}
	extra := map[string][]string{}
	for k, v := range spec.Extra {
		extra[k] = v
	}
	subject := &user.DefaultInfo{Name: spec.User, UID: spec.UID, Groups: spec.Groups, Extra: extra}
	decision, reason, err := s.authorizer.Authorize(r.Context(), accessAttributes(subject, spec))
	status := authorizationv1.SubjectAccessReviewStatus{
		Allowed: decision == authorizer.DecisionAllow,
		Denied:  decision == authorizer.DecisionDeny,
		Reason:  reason,
	}
	if err != nil {
		status.EvaluationError = err.Error()
	}
	set(status)
	s.writeObject(w, r, http.StatusCreated, obj)
}

// serveRulesReview answers SelfSubjectRulesReview: the rules of the
// requester in spec.namespace.
func (s *Server) serveRulesReview(w http.ResponseWriter, r *http.Request, _ string) {
	gvk := authorizationv1.SchemeGroupVersion.WithKind("SelfSubjectRulesReview")
	review := &authorizationv1.SelfSubjectRulesReview{}
	if err := s.decodeBody(r, gvk, review); err != nil {
		s.writeError(w, r, err)
		return
	}
	if review.Spec.Namespace == "" {
		s.writeError(w, r, apierrors.NewBadRequest("no namespace on request"))
		return
	}
	u, _ := UserFrom(r.Context())
	if u == nil {
		u = &User{}
	}
	rules, err := s.authorizer.RulesFor(r.Context(), u.info(), review.Spec.Namespace)
	review.Status = authorizationv1.SubjectRulesReviewStatus{ResourceRules: []authorizationv1.ResourceRule{}, NonResourceRules: []authorizationv1.NonResourceRule{}}
	for _, rule := range rules {
		review.Status.ResourceRules, review.Status.NonResourceRules = appendRule(review.Status.ResourceRules, review.Status.NonResourceRules, rule)
	}
	// As upstream's RBAC: what could not be resolved (a binding to a
	// missing role) is reported, and the list is still complete.
	if err != nil {
		review.Status.EvaluationError = err.Error()
	}
	s.writeObject(w, r, http.StatusCreated, review)
}

func appendRule(res []authorizationv1.ResourceRule, nonRes []authorizationv1.NonResourceRule, rule rbacv1.PolicyRule) ([]authorizationv1.ResourceRule, []authorizationv1.NonResourceRule) {
	if len(rule.Resources) > 0 {
		res = append(res, authorizationv1.ResourceRule{Verbs: rule.Verbs, APIGroups: rule.APIGroups, Resources: rule.Resources, ResourceNames: rule.ResourceNames})
	}
	if len(rule.NonResourceURLs) > 0 {
		nonRes = append(nonRes, authorizationv1.NonResourceRule{Verbs: rule.Verbs, NonResourceURLs: rule.NonResourceURLs})
	}
	return res, nonRes
}
