package daemon

import (
	"strings"
	"testing"

	"github.com/peapod/peapod/internal/containerlog"
)

func TestContainerLogPolicy(t *testing.T) {
	tests := []struct {
		size  string
		files int
		want  containerlog.Policy
		err   string
	}{
		{want: containerlog.Policy{MaxSize: 10 << 20, MaxFiles: 5}},
		{size: "1Mi", files: 2, want: containerlog.Policy{MaxSize: 1 << 20, MaxFiles: 2}},
		{size: "500k", files: 3, want: containerlog.Policy{MaxSize: 500000, MaxFiles: 3}},
		{size: "ten", err: `failed to parse container log max size (--container-log-max-size) "ten"`},
		{size: "-1Mi", err: `failed to parse container log max size (--container-log-max-size) "-1Mi"`},
		{files: 1, err: "invalid configuration: containerLogMaxFiles must be greater than 1"},
	}
	for _, tt := range tests {
		o := Options{ContainerLogMaxSize: tt.size, ContainerLogMaxFiles: tt.files}.withDefaults()
		got, err := o.containerLogPolicy()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q %d: err %v, want %q", tt.size, tt.files, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q %d: %+v %v, want %+v", tt.size, tt.files, got, err, tt.want)
		}
	}
}
