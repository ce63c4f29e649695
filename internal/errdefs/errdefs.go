// Package errdefs holds the kinds of error the runtime reports across its
// seam: not found, already exists, invalid argument, failed precondition,
// unimplemented and unavailable. Packages wrap these sentinels with %w;
// callers test them with errors.Is; and each edge maps them once: the CRI
// gRPC server to gRPC codes (ToGRPC) and its clients back (FromGRPC).
package errdefs

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The kinds. Wrap them (fmt.Errorf("container %q: %w", id, ErrNotFound))
// rather than returning them bare, so the message says what is missing.
var (
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrUnimplemented      = errors.New("not implemented")
	ErrUnavailable        = errors.New("unavailable")
)

// kindError is a distinct error of a kind: errors.Is matches both itself
// and its kind, so a package can keep its own sentinel (image.ErrNotFound)
// while callers across the seam test only the kind.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

// New returns a new sentinel of the given kind with its own message.
func New(kind error, msg string) error { return &kindError{kind: kind, msg: msg} }

// Errorf formats an error that wraps kind.
func Errorf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}

var kinds = []struct {
	err  error
	code codes.Code
}{
	{ErrNotFound, codes.NotFound},
	{ErrAlreadyExists, codes.AlreadyExists},
	{ErrInvalidArgument, codes.InvalidArgument},
	{ErrFailedPrecondition, codes.FailedPrecondition},
	{ErrUnimplemented, codes.Unimplemented},
	{ErrUnavailable, codes.Unavailable},
}

// Code is the gRPC code of err: its kind's, Canceled or DeadlineExceeded
// for context errors, the code of a gRPC status it already carries, and
// Unknown otherwise.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.code
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	}
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return codes.Unknown
}

// ToGRPC turns err into a gRPC status error with its kind's code and its
// message; nil stays nil and status errors pass unchanged.
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		return err
	}
	return status.Error(Code(err), err.Error())
}

// FromGRPC turns a gRPC status error back into an error that wraps its
// kind, so a client of the socket tests it as in-process callers do.
func FromGRPC(err error) error {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return err
	}
	for _, k := range kinds {
		if st.Code() == k.code {
			return fmt.Errorf("%w: %s", k.err, st.Message())
		}
	}
	switch st.Code() {
	case codes.Canceled:
		return fmt.Errorf("%w: %s", context.Canceled, st.Message())
	case codes.DeadlineExceeded:
		return fmt.Errorf("%w: %s", context.DeadlineExceeded, st.Message())
	}
	return err
}
