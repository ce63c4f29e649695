package errdefs

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestCodeRoundTrip(t *testing.T) {
	imageGone := New(ErrNotFound, "image not found")
	tests := []struct {
		name string
		err  error
		code codes.Code
		kind error
	}{
		{"nil", nil, codes.OK, nil},
		{"wrapped not found", fmt.Errorf("container %q: %w", "abc", ErrNotFound), codes.NotFound, ErrNotFound},
		{"own sentinel of a kind", fmt.Errorf("pull: %w", imageGone), codes.NotFound, ErrNotFound},
		{"already exists", Errorf(ErrAlreadyExists, "sandbox name %q", "x"), codes.AlreadyExists, ErrAlreadyExists},
		{"invalid", Errorf(ErrInvalidArgument, "no command"), codes.InvalidArgument, ErrInvalidArgument},
		{"precondition", New(ErrFailedPrecondition, "container is not running"), codes.FailedPrecondition, ErrFailedPrecondition},
		{"unimplemented", ErrUnimplemented, codes.Unimplemented, ErrUnimplemented},
		{"unavailable", ErrUnavailable, codes.Unavailable, ErrUnavailable},
		{"deadline", fmt.Errorf("stop: %w", context.DeadlineExceeded), codes.DeadlineExceeded, context.DeadlineExceeded},
		{"plain", errors.New("boom"), codes.Unknown, nil},
		{"status passes", status.Error(codes.ResourceExhausted, "full"), codes.ResourceExhausted, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.err); got != tt.code {
				t.Fatalf("Code = %v, want %v", got, tt.code)
			}
			g := ToGRPC(tt.err)
			if st, _ := status.FromError(g); st.Code() != tt.code {
				t.Fatalf("ToGRPC code = %v, want %v", st.Code(), tt.code)
			}
			if tt.err != nil && status.Convert(g).Message() != tt.err.Error() && tt.code != codes.ResourceExhausted {
				t.Fatalf("message %q, want %q", status.Convert(g).Message(), tt.err.Error())
			}
			back := FromGRPC(g)
			if tt.kind != nil && !errors.Is(back, tt.kind) {
				t.Fatalf("FromGRPC(%v) = %v, does not match %v", g, back, tt.kind)
			}
		})
	}
	if errors.Is(imageGone, ErrAlreadyExists) {
		t.Fatal("a kind error matched another kind")
	}
}
