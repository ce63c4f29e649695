package kubelet

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRuntimeSeam: the kubelet reaches the runtime only through the CRI
// (k8s.io/cri-api), the same interface a real kubelet uses over the
// socket, so none of the runtime's packages (its storage, images,
// network, OCI runtime) may be among the kubelet's dependencies, directly
// or through another package.
func TestRuntimeSeam(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list found %d dependencies: %q", len(deps), deps)
	}
	for _, d := range deps {
		if d == "github.com/peapod/peapod/internal/runtime" || strings.HasPrefix(d, "github.com/peapod/peapod/internal/runtime/") {
			t.Errorf("the kubelet depends on %s: it must reach the runtime through the CRI only", d)
		}
	}
}
