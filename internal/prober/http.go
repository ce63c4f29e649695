package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// maxResponseBody is how much of a response body an HTTP probe reads
// (10 KiB, as pkg/probe/http).
const maxResponseBody = 10 << 10

// maxRedirects is how many same-host redirects an HTTP probe follows.
const maxRedirects = 10

// NewHTTPRequest builds the GET request of an httpGet probe or hook
// (pkg/probe/http's NewRequestForHTTPGetAction): the scheme lower-cased,
// the host the action's or else host (the pod IP), the port by number or
// by the container's port name, the path with its query, the action's
// headers, and unless given, a User-Agent of userAgent and Accept */*.
func NewHTTPRequest(action *corev1.HTTPGetAction, c *corev1.Container, host, userAgent string) (*http.Request, error) {
	scheme := strings.ToLower(string(action.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	if action.Host != "" {
		host = action.Host
	}
	port, err := ResolvePort(action.Port, c)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(action.Path)
	if err != nil {
		u = &url.URL{Path: action.Path}
	}
	u.Scheme, u.Host = scheme, net.JoinHostPort(host, strconv.Itoa(port))
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	for _, h := range action.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", userAgent)
	}
	if v, ok := req.Header["Accept"]; !ok {
		req.Header.Set("Accept", "*/*")
	} else if len(v) == 1 && v[0] == "" {
		req.Header.Del("Accept")
	}
	req.Host = req.Header.Get("Host")
	return req, nil
}

// ResolvePort is the container port a probe names (ResolveContainerPort
// upstream): a number as it is; a name, the container port of that name,
// or else the name read as a number; then it must be in 1…65535.
func ResolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	port, str := p.IntValue(), p.StrVal
	if p.Type == intstr.String {
		found := false
		for _, p := range c.Ports {
			if p.Name == str {
				port, found = int(p.ContainerPort), true
				break
			}
		}
		if !found {
			n, err := strconv.Atoi(str)
			if err != nil {
				return 0, err
			}
			port = n
		}
	}
	if port < 1 || port > 65535 {
		return 0, fmt.Errorf("invalid port number: %v", port)
	}
	return port, nil
}

// httpClient is the probes' client (pkg/probe/http's New with
// followNonLocalRedirects false): no proxy, no keep-alives, no
// compression, any certificate, redirects followed to the same host only.
func httpClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig:    &tls.Config{InsecureSkipVerify: true},
			DisableKeepAlives:  true,
			DisableCompression: true,
			Proxy:              http.ProxyURL(nil),
			DialContext:        probeDialer().DialContext,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Hostname() != via[0].URL.Hostname() {
				return http.ErrUseLastResponse
			}
			if len(via) >= maxRedirects {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		},
	}
}

// probeHTTP runs an HTTP probe: 2xx is success, a final 3xx a warning,
// anything else (or no answer) a failure with upstream's output.
func probeHTTP(ctx context.Context, req *http.Request, timeout time.Duration) (outcome, string, error) {
	resp, err := httpClient(timeout).Do(req.WithContext(ctx))
	if err != nil {
		return outcomeFailure, err.Error(), nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return outcomeFailure, "", err
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return outcomeSuccess, string(body), nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return outcomeWarning, fmt.Sprintf("Probe terminated redirects, Response body: %v", string(body)), nil
	}
	return outcomeFailure, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode), nil
}

// probeDialer is pkg/probe's ProbeDialer: SO_LINGER with a 1 s timeout,
// so that probing many times leaves no sockets in TIME_WAIT.
func probeDialer() *net.Dialer {
	return &net.Dialer{Control: setLinger}
}

// HookClient is the client of httpGet lifecycle hooks: as the probes',
// but without a timeout of its own (the caller's context bounds it).
func HookClient() *http.Client { return httpClient(0) }
