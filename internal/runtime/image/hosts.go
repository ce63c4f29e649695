package image

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/peapod/peapod/internal/reference"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

const (
	dialTimeout   = 15 * time.Second
	headerTimeout = 60 * time.Second
	dockerHubAPI  = "registry-1.docker.io"
)

// hostsFile is the subset of containerd's hosts.toml that peapod reads.
type hostsFile struct {
	Server string                `toml:"server"`
	Host   map[string]hostConfig `toml:"host"`
	hostConfig
}

type hostConfig struct {
	Capabilities []string `toml:"capabilities"`
	SkipVerify   bool     `toml:"skip_verify"`
	CA           any      `toml:"ca"` // a path or a list of paths
	OverridePath bool     `toml:"override_path"`
}

// endpoint is one registry API server to try for a registry.
type endpoint struct {
	scheme  string // "http" or "https"
	host    string // host[:port]
	apiRoot string // URL path of the API root, "/v2" by default
	pull    bool
	resolve bool
	tr      *http.Transport
}

// endpoints returns the API servers for registry (e.g. "docker.io") in the
// order to try them: the [host] tables of HostsDir/<registry>/hosts.toml in
// file order, then its server (by default the registry itself).
func (s *Store) endpoints(registry string) ([]*endpoint, error) {
	var file hostsFile
	var order []string
	baseDir := filepath.Join(s.hostsDir, registry)
	if s.hostsDir != "" {
		data, err := os.ReadFile(filepath.Join(baseDir, "hosts.toml"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading hosts.toml: %w", err)
		}
		if err == nil {
			if err := toml.Unmarshal(data, &file); err != nil {
				return nil, fmt.Errorf("parsing %s/hosts.toml: %w", registry, err)
			}
			order = hostOrder(data, file.Host)
		}
	}
	server := file.Server
	switch {
	case server != "":
	case registry == reference.DockerDomain:
		server = "https://" + dockerHubAPI
	case isLoopback(registry):
		server = "http://" + registry // as containerd does for local registries
	default:
		server = "https://" + registry
	}
	eps := make([]*endpoint, 0, len(order)+1)
	for i, h := range append(order, server) {
		cfg := file.hostConfig // the server's settings live at the top level
		if i < len(order) {
			cfg = file.Host[h]
		}
		ep, err := newEndpoint(h, cfg, baseDir)
		if err != nil {
			return nil, fmt.Errorf("%s/hosts.toml: %w", registry, err)
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

// hostOrder returns the keys of the [host."..."] tables in file order.
// go-toml decodes tables into an unordered map, so the order comes from a
// second pass with its parser; hosts it did not see follow sorted.
func hostOrder(data []byte, hosts map[string]hostConfig) []string {
	var order []string
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		if e.Kind != unstable.Table {
			continue
		}
		it := e.Key()
		if it.Next() && string(it.Node().Data) == "host" && it.Next() {
			if h := string(it.Node().Data); !slices.Contains(order, h) {
				order = append(order, h)
			}
		}
	}
	var rest []string
	for h := range hosts {
		if !slices.Contains(order, h) {
			rest = append(rest, h)
		}
	}
	slices.Sort(rest)
	return append(order, rest...)
}

func newEndpoint(rawURL string, cfg hostConfig, baseDir string) (*endpoint, error) {
	if !strings.Contains(rawURL, "://") {
		rawURL = "https://" + rawURL
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid registry host %q", rawURL)
	}
	ep := &endpoint{scheme: u.Scheme, host: u.Host, apiRoot: apiRoot(u.Path, cfg.OverridePath)}
	ep.pull, ep.resolve = len(cfg.Capabilities) == 0, len(cfg.Capabilities) == 0
	for _, c := range cfg.Capabilities {
		ep.pull = ep.pull || c == "pull"
		ep.resolve = ep.resolve || c == "resolve"
	}
	tlsCfg, err := tlsConfig(cfg, baseDir)
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", rawURL, err)
	}
	ep.tr = &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return ep, nil
}

// apiRoot follows containerd: the API lives at <path>/v2 unless the host
// sets override_path, in which case the path is the API root itself.
func apiRoot(p string, override bool) string {
	p = strings.TrimSuffix(path.Clean("/"+p), "/")
	switch {
	case p == "":
		return "/v2"
	case override || strings.HasSuffix(p, "/v2"):
		return p
	default:
		return p + "/v2"
	}
}

func tlsConfig(cfg hostConfig, baseDir string) (*tls.Config, error) {
	var cas []string
	switch ca := cfg.CA.(type) {
	case nil:
	case string:
		cas = []string{ca}
	case []any:
		for _, c := range ca {
			p, ok := c.(string)
			if !ok {
				return nil, errors.New("ca must be a path or a list of paths")
			}
			cas = append(cas, p)
		}
	default:
		return nil, errors.New("ca must be a path or a list of paths")
	}
	if !cfg.SkipVerify && len(cas) == 0 {
		return nil, nil
	}
	//nolint:gosec // skip_verify is an explicit opt-in in hosts.toml.
	tc := &tls.Config{InsecureSkipVerify: cfg.SkipVerify, MinVersion: tls.VersionTLS12}
	if len(cas) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		for _, p := range cas {
			if !filepath.IsAbs(p) {
				p = filepath.Join(baseDir, p)
			}
			pem, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("reading CA: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("no certificates in CA file %s", p)
			}
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// RoundTrip sends requests for the endpoint's host with its scheme and API
// root; go-containerregistry always builds <scheme>://<host>/v2/... URLs.
// Other requests (token servers, blob redirects) pass unchanged.
func (ep *endpoint) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == ep.host {
		req = req.Clone(req.Context())
		req.URL.Scheme = ep.scheme
		if rest, ok := strings.CutPrefix(req.URL.Path, "/v2"); ok && (rest == "" || rest[0] == '/') {
			req.URL.Path, req.URL.RawPath = ep.apiRoot+rest, ""
		}
	}
	return ep.tr.RoundTrip(req)
}

func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
