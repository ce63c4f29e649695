package image

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

const (
	dockerDomain  = "docker.io"
	defaultTag    = "latest"
	maxNameLength = 255
)

// The reference grammar of the OCI distribution spec, written as regular
// expressions.
var (
	pathComponentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	domainRE        = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$`)
	tagRE           = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	hexIDRE         = regexp.MustCompile(`^[a-f0-9]{64}$`)
)

// reference is a parsed, normalized image reference. Exactly one of tag and
// digest is set.
type reference struct {
	domain string // registry host[:port]; "docker.io" for Docker Hub
	path   string // repository path, e.g. "library/busybox"
	tag    string
	digest string
}

// repo returns the repository name, e.g. "docker.io/library/busybox".
func (r reference) repo() string { return r.domain + "/" + r.path }

func (r reference) String() string {
	if r.digest != "" {
		return r.repo() + "@" + r.digest
	}
	return r.repo() + ":" + r.tag
}

// Normalize turns a user-supplied image reference into its canonical form:
// "busybox" becomes "docker.io/library/busybox:latest" and a reference
// without tag or digest gets ":latest". A reference carrying both a tag and a
// digest keeps only the digest, which is what identifies the content. An
// invalid reference yields an error wrapping ErrInvalidReference.
func Normalize(ref string) (string, error) {
	r, err := parseReference(ref)
	if err != nil {
		return "", err
	}
	return r.String(), nil
}

func parseReference(s string) (reference, error) {
	invalid := func(format string, args ...any) (reference, error) {
		return reference{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalidReference}, args...)...)
	}
	if s == "" {
		return invalid("empty reference")
	}
	if strings.Contains(s, "://") {
		return invalid("reference must not contain a URL scheme")
	}
	if hexIDRE.MatchString(s) {
		return invalid("cannot specify 64-byte hexadecimal strings")
	}
	var r reference
	name := s
	if i := strings.Index(name, "@"); i >= 0 {
		d, err := digest.Parse(name[i+1:])
		if err != nil {
			return invalid("digest %q: %v", name[i+1:], err)
		}
		r.digest, name = d.String(), name[:i]
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		if !tagRE.MatchString(name[i+1:]) {
			return invalid("invalid tag %q", name[i+1:])
		}
		r.tag, name = name[i+1:], name[:i]
	}
	// The first component names a registry when it has a dot or a port,
	// or is localhost. (Docker also takes one with capitals for a host;
	// go-containerregistry, which pulls, does not, so neither does peapod:
	// "Foo/bar" is a repository of Docker Hub, and not lowercase.)
	r.domain, r.path = dockerDomain, name
	if first, rest, ok := strings.Cut(name, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		r.domain, r.path = first, rest
	}
	if !domainRE.MatchString(r.domain) || !validBracketedHost(r.domain) {
		return invalid("invalid registry host %q", r.domain)
	}
	if r.domain == "index.docker.io" {
		r.domain = dockerDomain
	}
	if r.domain == dockerDomain && !strings.Contains(r.path, "/") {
		r.path = "library/" + r.path
	}
	if strings.ToLower(r.path) != r.path {
		return invalid("repository name must be lowercase")
	}
	for _, c := range strings.Split(r.path, "/") {
		if !pathComponentRE.MatchString(c) {
			return invalid("invalid repository name %q", r.path)
		}
	}
	if len(r.repo()) > maxNameLength {
		return invalid("repository name must not be more than %d characters", maxNameLength)
	}
	if r.digest != "" {
		r.tag = ""
	} else if r.tag == "" {
		r.tag = defaultTag
	}
	return r, nil
}

// validBracketedHost checks that a bracketed registry host ("[::1]:5000")
// holds an IPv6 address, which the grammar's hex-and-colons does not
// ensure ("[0]").
func validBracketedHost(domain string) bool {
	inner, ok := strings.CutPrefix(domain, "[")
	if !ok {
		return true
	}
	inner, _, _ = strings.Cut(inner, "]")
	ip := net.ParseIP(inner)
	return ip != nil && ip.To4() == nil
}

// Registry returns the registry host of an image reference ("docker.io"
// for Docker Hub), as credentials are keyed by it.
func Registry(ref string) (string, error) {
	r, err := parseReference(ref)
	if err != nil {
		return "", err
	}
	return r.domain, nil
}

// Repository returns the repository of an image reference without the
// registry, e.g. "library/busybox".
func Repository(ref string) (string, error) {
	r, err := parseReference(ref)
	if err != nil {
		return "", err
	}
	return r.path, nil
}
