package apiserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/peapod/peapod/internal/errdefs"
)

// TestStatusFor: API errors keep their status, the runtime's kinds get
// theirs (once, here), anything else is a 500.
func TestStatusFor(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	r := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default/pods/web/exec", nil)
	for _, tc := range []struct {
		name   string
		err    error
		code   int32
		reason metav1.StatusReason
	}{
		{"API error", apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "web"), http.StatusNotFound, metav1.StatusReasonNotFound},
		{"API error wrapping a kind", fmt.Errorf("%w: %w", apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "web", errors.New("x")), errdefs.ErrNotFound), http.StatusConflict, metav1.StatusReasonConflict},
		{"not found", fmt.Errorf("container %q: %w", "abc", errdefs.ErrNotFound), http.StatusNotFound, metav1.StatusReasonNotFound},
		{"already exists", errdefs.Errorf(errdefs.ErrAlreadyExists, "name taken"), http.StatusConflict, metav1.StatusReasonAlreadyExists},
		{"invalid argument", errdefs.New(errdefs.ErrInvalidArgument, "no command specified"), http.StatusBadRequest, metav1.StatusReasonBadRequest},
		{"failed precondition", errdefs.New(errdefs.ErrFailedPrecondition, "container is not running"), http.StatusBadRequest, metav1.StatusReasonBadRequest},
		{"unimplemented", errdefs.Errorf(errdefs.ErrUnimplemented, "checkpoint"), http.StatusNotImplemented, metav1.StatusReasonUnknown},
		{"unavailable", errdefs.Errorf(errdefs.ErrUnavailable, "runtime down"), http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable},
		{"anything else", errors.New("disk on fire"), http.StatusInternalServerError, metav1.StatusReasonInternalError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := s.statusFor(r, tc.err)
			if st.Code != tc.code || st.Reason != tc.reason || st.Status != metav1.StatusFailure || st.Kind != "Status" || st.Message == "" {
				t.Errorf("status %+v, want code %d reason %q", st, tc.code, tc.reason)
			}
		})
	}
}
