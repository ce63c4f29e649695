package kubelet

import (
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/peapod/peapod/internal/errdefs"
)

// TestGoneContainer: the runtime's refusal of a session in a container
// that stopped or went since the kubelet found it is the kubelet's 404
// "container not found"; other errors pass.
func TestGoneContainer(t *testing.T) {
	for _, tc := range []struct {
		err      error
		notFound bool
	}{
		{fmt.Errorf("container %q: %w", "abc", errdefs.ErrNotFound), true},
		{errdefs.New(errdefs.ErrFailedPrecondition, "container is not running"), true},
		{errors.New("runtime broke"), false},
	} {
		err := goneContainer(tc.err, "app")
		if got := apierrors.IsNotFound(err); got != tc.notFound {
			t.Errorf("%v: not found %v, want %v", tc.err, got, tc.notFound)
		}
		if tc.notFound && err.Error() != `container not found ("app")` {
			t.Errorf("%v: message %q", tc.err, err.Error())
		}
	}
}
