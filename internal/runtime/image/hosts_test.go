package image

import (
	"fmt"
	"testing"
)

func TestEndpoints(t *testing.T) {
	tests := []struct {
		desc     string
		registry string
		hosts    map[string]string
		want     []string // "scheme://host apiRoot pull resolve skipVerify"
		wantErr  bool
	}{
		{
			desc:     "no hosts.toml",
			registry: "quay.io",
			want:     []string{"https://quay.io /v2 true true false"},
		},
		{
			desc:     "docker hub default server",
			registry: "docker.io",
			want:     []string{"https://registry-1.docker.io /v2 true true false"},
		},
		{
			desc:     "loopback registry defaults to http",
			registry: "localhost:5000",
			want:     []string{"http://localhost:5000 /v2 true true false"},
		},
		{
			desc:     "hosts in file order, then server",
			registry: "docker.io",
			hosts: map[string]string{"docker.io": `
server = "https://registry-1.docker.io"
skip_verify = true
capabilities = ["resolve"]

[host."https://z.example"]
  capabilities = ["pull"]
[host."http://a.example:5000/prefix"]
  capabilities = ["pull", "resolve"]
[host."https://m.example/v2/custom"]
  override_path = true
  skip_verify = true
`},
			want: []string{
				"https://z.example /v2 true false false",
				"http://a.example:5000 /prefix/v2 true true false",
				"https://m.example /v2/custom true true true",
				"https://registry-1.docker.io /v2 false true true",
			},
		},
		{
			desc:     "malformed hosts.toml",
			registry: "quay.io",
			hosts:    map[string]string{"quay.io": `[host."http://x"`},
			wantErr:  true,
		},
		{
			desc:     "missing CA file",
			registry: "quay.io",
			hosts:    map[string]string{"quay.io": `ca = "nope.pem"`},
			wantErr:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := newTestStore(t, Options{HostsDir: writeHosts(t, tt.hosts, "")})
			eps, err := s.endpoints(tt.registry)
			if tt.wantErr {
				if err == nil {
					t.Fatal("endpoints succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ep := range eps {
				skip := ep.tr.TLSClientConfig != nil && ep.tr.TLSClientConfig.InsecureSkipVerify
				got = append(got, fmt.Sprintf("%s://%s %s %t %t %t", ep.scheme, ep.host, ep.apiRoot, ep.pull, ep.resolve, skip))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("endpoints =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
