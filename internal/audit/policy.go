package audit

import (
	"fmt"
	"os"
	"slices"
	"strings"

	authnv1 "k8s.io/api/authentication/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"sigs.k8s.io/yaml"
)

// Attributes are what a policy rule matches a request on, as
// k8s.io/apiserver's authorizer.Attributes: who asks, the verb, and either
// the resource or the non-resource path.
type Attributes struct {
	// User is nil when authentication refused the request.
	User *authnv1.UserInfo
	// Verb is the API verb of a resource request (get, list, create, ...)
	// or the lower-case HTTP method of a non-resource request.
	Verb string
	// Resource is set for resource requests (Name may be empty), nil for
	// non-resource requests.
	Resource *auditv1.ObjectReference
	// Path is the URL path of the request.
	Path string
}

// Decision is what the policy says of a request.
type Decision struct {
	Level             auditv1.Level
	OmitStages        []auditv1.Stage
	OmitManagedFields bool
}

// Policy decides the audit level of requests: the first rule that matches
// wins; a request no rule matches is not audited (level None).
type Policy struct {
	p auditv1.Policy
}

// DefaultPolicy is peapod's policy when --audit-log-path is given without
// --audit-policy-file: every request at Metadata, without the
// RequestReceived stage (one line per request). kube-apiserver records
// nothing without a policy file; peapod logs the metadata instead, so that
// the path alone is enough to audit.
func DefaultPolicy() *Policy {
	return &Policy{p: auditv1.Policy{
		OmitStages: []auditv1.Stage{auditv1.StageRequestReceived},
		Rules:      []auditv1.PolicyRule{{Level: auditv1.LevelMetadata}},
	}}
}

// LoadPolicy reads an audit.k8s.io/v1 Policy from a YAML or JSON file.
// Unknown fields and invalid rules are errors, as kube-apiserver's
// --audit-policy-file refuses them.
func LoadPolicy(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read audit policy file %q: %w", path, err)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("audit policy file %q: %w", path, err)
	}
	return p, nil
}

// ParsePolicy decodes and validates a Policy.
func ParsePolicy(data []byte) (*Policy, error) {
	var p auditv1.Policy
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return nil, fmt.Errorf("failed decoding: %w", err)
	}
	if p.APIVersion != auditv1.SchemeGroupVersion.String() || p.Kind != "Policy" {
		return nil, fmt.Errorf("want apiVersion %s and kind Policy, got apiVersion %q and kind %q", auditv1.SchemeGroupVersion, p.APIVersion, p.Kind)
	}
	if len(p.Rules) == 0 {
		return nil, fmt.Errorf("policy has no rules")
	}
	if err := validate(&p); err != nil {
		return nil, err
	}
	return &Policy{p: p}, nil
}

// validate checks what k8s.io/apiserver's audit policy validation checks.
func validate(p *auditv1.Policy) error {
	var errs []string
	errs = append(errs, validateStages("omitStages", p.OmitStages)...)
	for i, r := range p.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		switch r.Level {
		case auditv1.LevelNone, auditv1.LevelMetadata, auditv1.LevelRequest, auditv1.LevelRequestResponse:
		case "":
			errs = append(errs, field+".level: Required value")
		default:
			errs = append(errs, fmt.Sprintf("%s.level: Unsupported value: %q: supported values: %q, %q, %q, %q", field, r.Level,
				auditv1.LevelNone, auditv1.LevelMetadata, auditv1.LevelRequest, auditv1.LevelRequestResponse))
		}
		errs = append(errs, validateStages(field+".omitStages", r.OmitStages)...)
		if len(r.NonResourceURLs) > 0 && (len(r.Resources) > 0 || len(r.Namespaces) > 0) {
			errs = append(errs, field+".nonResourceURLs: Invalid value: rules cannot apply to both regular resources and non-resource URLs")
		}
		for j, u := range r.NonResourceURLs {
			if !strings.HasPrefix(u, "/") && u != "*" {
				errs = append(errs, fmt.Sprintf("%s.nonResourceURLs[%d]: Invalid value: %q: non-resource URL rules must begin with a '/' character", field, j, u))
			}
			if i := strings.Index(u, "*"); i >= 0 && i != len(u)-1 {
				errs = append(errs, fmt.Sprintf("%s.nonResourceURLs[%d]: Invalid value: %q: non-resource URL wildcards '*' must be the final character of the rule", field, j, u))
			}
		}
		for j, gr := range r.Resources {
			if len(gr.ResourceNames) > 0 {
				if len(gr.Resources) == 0 {
					errs = append(errs, fmt.Sprintf("%s.resources[%d].resourceNames: Invalid value: using resourceNames requires at least one resource", field, j))
				}
				for _, res := range gr.Resources {
					if strings.Contains(res, "*") {
						errs = append(errs, fmt.Sprintf("%s.resources[%d].resources: Invalid value: %q: using resourceNames requires no wildcard resources", field, j, res))
					}
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid audit policy: %s", strings.Join(errs, ", "))
	}
	return nil
}

func validateStages(field string, stages []auditv1.Stage) []string {
	var errs []string
	for i, s := range stages {
		switch s {
		case auditv1.StageRequestReceived, auditv1.StageResponseStarted, auditv1.StageResponseComplete, auditv1.StagePanic:
		default:
			errs = append(errs, fmt.Sprintf("%s[%d]: Unsupported value: %q", field, i, s))
		}
	}
	return errs
}

// Evaluate returns the level of the first rule that matches a, with the
// stages to omit (the rule's and the policy's) and whether to drop
// managedFields (the rule's choice, else the policy's).
//
// Deviation from kube-apiserver, which obeys the policy: secrets and
// TokenRequests (serviceaccounts/token) are never audited above Metadata,
// whatever the policy says, so that secret data and issued tokens can
// never reach the log.
func (p *Policy) Evaluate(a Attributes) Decision {
	for _, r := range p.p.Rules {
		if !ruleMatches(&r, a) {
			continue
		}
		d := Decision{Level: r.Level, OmitStages: slices.Concat(p.p.OmitStages, r.OmitStages), OmitManagedFields: p.p.OmitManagedFields}
		if r.OmitManagedFields != nil {
			d.OmitManagedFields = *r.OmitManagedFields
		}
		if sensitive(a) && levelAbove(d.Level, auditv1.LevelMetadata) {
			d.Level = auditv1.LevelMetadata
		}
		return d
	}
	return Decision{Level: auditv1.LevelNone}
}

// sensitive reports the requests whose bodies carry credentials.
func sensitive(a Attributes) bool {
	if a.Resource == nil || a.Resource.APIGroup != "" {
		return false
	}
	return a.Resource.Resource == "secrets" || a.Resource.Resource == "serviceaccounts" && a.Resource.Subresource == "token"
}

var levelOrder = map[auditv1.Level]int{auditv1.LevelNone: 0, auditv1.LevelMetadata: 1, auditv1.LevelRequest: 2, auditv1.LevelRequestResponse: 3}

// levelAbove reports whether a is a higher level than b.
func levelAbove(a, b auditv1.Level) bool { return levelOrder[a] > levelOrder[b] }

func ruleMatches(r *auditv1.PolicyRule, a Attributes) bool {
	if len(r.Users) > 0 && (a.User == nil || !slices.Contains(r.Users, a.User.Username)) {
		return false
	}
	if len(r.UserGroups) > 0 {
		if a.User == nil || !slices.ContainsFunc(a.User.Groups, func(g string) bool { return slices.Contains(r.UserGroups, g) }) {
			return false
		}
	}
	if len(r.Verbs) > 0 && !slices.Contains(r.Verbs, a.Verb) {
		return false
	}
	if len(r.Namespaces) > 0 || len(r.Resources) > 0 {
		return a.Resource != nil && resourceMatches(r, a.Resource)
	}
	if len(r.NonResourceURLs) > 0 {
		return a.Resource == nil && nonResourceMatches(r, a.Path)
	}
	return true
}

func resourceMatches(r *auditv1.PolicyRule, ref *auditv1.ObjectReference) bool {
	if len(r.Namespaces) > 0 && !slices.Contains(r.Namespaces, ref.Namespace) {
		return false
	}
	if len(r.Resources) == 0 {
		return true
	}
	combined := ref.Resource
	if ref.Subresource != "" {
		combined += "/" + ref.Subresource
	}
	for _, gr := range r.Resources {
		if gr.Group != ref.APIGroup {
			continue
		}
		if len(gr.Resources) == 0 {
			return true
		}
		if len(gr.ResourceNames) > 0 && !slices.Contains(gr.ResourceNames, ref.Name) {
			continue
		}
		for _, res := range gr.Resources {
			switch {
			case res == "*" || res == combined:
				return true
			case ref.Subresource != "" && strings.HasPrefix(res, "*/") && res[2:] == ref.Subresource:
				return true
			case strings.HasSuffix(res, "/*") && res[:len(res)-2] == ref.Resource:
				return true
			}
		}
	}
	return false
}

func nonResourceMatches(r *auditv1.PolicyRule, path string) bool {
	for _, u := range r.NonResourceURLs {
		if u == "*" || u == path {
			return true
		}
		if prefix, ok := strings.CutSuffix(u, "*"); ok && strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}
