// Package reference parses and normalizes container image references by
// the OCI distribution grammar, as Docker and containerd spell them
// ("busybox" is docker.io/library/busybox:latest). Both the kubelet (image
// names in pod specs, credentials by registry) and the runtime's image
// store use it; it holds no state.
package reference

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/peapod/peapod/internal/errdefs"
)

// ErrInvalid is wrapped by errors about malformed references.
var ErrInvalid = errdefs.New(errdefs.ErrInvalidArgument, "invalid reference format")

// DockerDomain is Docker Hub's registry as references name it.
const DockerDomain = "docker.io"

const (
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

// Reference is a parsed, normalized image reference. Exactly one of Tag
// and Digest is set.
type Reference struct {
	Domain string // registry host[:port]; "docker.io" for Docker Hub
	Path   string // repository path, e.g. "library/busybox"
	Tag    string
	Digest string
}

// Repo returns the repository name, e.g. "docker.io/library/busybox".
func (r Reference) Repo() string { return r.Domain + "/" + r.Path }

// String is the normalized reference.
func (r Reference) String() string {
	if r.Digest != "" {
		return r.Repo() + "@" + r.Digest
	}
	return r.Repo() + ":" + r.Tag
}

// Normalize turns a user-supplied image reference into its canonical form:
// "busybox" becomes "docker.io/library/busybox:latest" and a reference
// without tag or digest gets ":latest". A reference carrying both a tag and a
// digest keeps only the digest, which is what identifies the content. An
// invalid reference yields an error wrapping ErrInvalid.
func Normalize(ref string) (string, error) {
	r, err := Parse(ref)
	if err != nil {
		return "", err
	}
	return r.String(), nil
}

// Parse parses and normalizes an image reference.
func Parse(s string) (Reference, error) {
	invalid := func(format string, args ...any) (Reference, error) {
		return Reference{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
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
	var r Reference
	name := s
	if i := strings.Index(name, "@"); i >= 0 {
		d, err := digest.Parse(name[i+1:])
		if err != nil {
			return invalid("digest %q: %v", name[i+1:], err)
		}
		r.Digest, name = d.String(), name[:i]
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		if !tagRE.MatchString(name[i+1:]) {
			return invalid("invalid tag %q", name[i+1:])
		}
		r.Tag, name = name[i+1:], name[:i]
	}
	// The first component names a registry when it has a dot or a port,
	// or is localhost. (Docker also takes one with capitals for a host;
	// go-containerregistry, which pulls, does not, so neither does peapod:
	// "Foo/bar" is a repository of Docker Hub, and not lowercase.)
	r.Domain, r.Path = DockerDomain, name
	if first, rest, ok := strings.Cut(name, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		r.Domain, r.Path = first, rest
	}
	if !domainRE.MatchString(r.Domain) || !validBracketedHost(r.Domain) {
		return invalid("invalid registry host %q", r.Domain)
	}
	if r.Domain == "index.docker.io" {
		r.Domain = DockerDomain
	}
	if r.Domain == DockerDomain && !strings.Contains(r.Path, "/") {
		r.Path = "library/" + r.Path
	}
	if strings.ToLower(r.Path) != r.Path {
		return invalid("repository name must be lowercase")
	}
	for _, c := range strings.Split(r.Path, "/") {
		if !pathComponentRE.MatchString(c) {
			return invalid("invalid repository name %q", r.Path)
		}
	}
	if len(r.Repo()) > maxNameLength {
		return invalid("repository name must not be more than %d characters", maxNameLength)
	}
	if r.Digest != "" {
		r.Tag = ""
	} else if r.Tag == "" {
		r.Tag = defaultTag
	}
	return r, nil
}

// IsHexID reports whether s is a bare 64-hex-digit image ID, which a
// reference may not be.
func IsHexID(s string) bool { return hexIDRE.MatchString(s) }

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
	r, err := Parse(ref)
	if err != nil {
		return "", err
	}
	return r.Domain, nil
}

// Repository returns the repository of an image reference without the
// registry, e.g. "library/busybox".
func Repository(ref string) (string, error) {
	r, err := Parse(ref)
	if err != nil {
		return "", err
	}
	return r.Path, nil
}
