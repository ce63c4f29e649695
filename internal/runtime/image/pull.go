package image

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"

	"github.com/peapod/peapod/internal/reference"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/peapod/peapod/internal/errdefs"
)

func defaultPlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// Pull fetches ref for this machine's platform and stores it under the
// requested name, whichever mirror served it. A tag is resolved on the
// first host able to resolve it; content then comes from the first host
// able to pull that serves it. auth, when non-empty, overrides DockerConfig.
// Failures to reach or use one host fall through to the next.
func (s *Store) Pull(ctx context.Context, ref string, auth *Auth) (*Image, error) {
	r, err := reference.Parse(ref)
	if err != nil {
		return nil, err
	}
	eps, err := s.endpoints(r.Domain)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", r, err)
	}
	defer func() {
		for _, ep := range eps {
			ep.tr.CloseIdleConnections()
		}
	}()
	perr := &pullError{ref: r.String()}
	resolved, resolvedBy, err := s.resolveTag(ctx, eps, r, auth, perr)
	if err != nil {
		return nil, err
	}
	pinned := r // other hosts are asked for the resolved digest
	if resolved != nil {
		pinned.Digest = resolved.Digest.String()
	}
	for _, ep := range eps {
		if !ep.pull {
			continue
		}
		desc := resolved
		if ep != resolvedBy {
			if desc, err = s.getDescriptor(ctx, ep, pinned, auth); err != nil {
				if err := perr.add(ctx, ep, err); err != nil {
					return nil, err
				}
				continue
			}
		}
		img, err := desc.Image()
		if err != nil {
			if err := perr.add(ctx, ep, err); err != nil {
				return nil, err
			}
			continue
		}
		var extra [][]byte
		if desc.MediaType.IsIndex() {
			extra = append(extra, desc.Manifest)
		}
		s.log.Info("pulling image", "image", perr.ref, "host", ep.host, "digest", desc.Digest)
		stored, err := s.commit(ctx, img, desc.Digest, []reference.Reference{r}, extra...)
		if err != nil {
			return nil, fmt.Errorf("pulling %s from %s: %w", r, ep.host, err)
		}
		return stored, nil
	}
	if len(perr.errs) == 0 {
		return nil, fmt.Errorf("pulling %s: no registry host with the pull capability", r)
	}
	return nil, perr
}

// resolveTag resolves a tag reference on the first host with the resolve
// capability that knows it, returning the manifest and that host. It returns
// nothing for digest references.
func (s *Store) resolveTag(ctx context.Context, eps []*endpoint, r reference.Reference, auth *Auth, perr *pullError) (*remote.Descriptor, *endpoint, error) {
	if r.Digest != "" {
		return nil, nil, nil
	}
	for _, ep := range eps {
		if !ep.resolve {
			continue
		}
		desc, err := s.getDescriptor(ctx, ep, r, auth)
		if err == nil {
			return desc, ep, nil
		}
		if err := perr.add(ctx, ep, err); err != nil {
			return nil, nil, err
		}
	}
	if len(perr.errs) == 0 {
		return nil, nil, fmt.Errorf("pulling %s: no registry host with the resolve capability", r)
	}
	return nil, nil, perr
}

// getDescriptor fetches r's manifest (by digest if set, else by tag) from
// ep.
func (s *Store) getDescriptor(ctx context.Context, ep *endpoint, r reference.Reference, auth *Auth) (*remote.Descriptor, error) {
	reg, err := name.NewRegistry(ep.host)
	if err != nil {
		return nil, err
	}
	repo := reg.Repo(r.Path)
	var ref name.Reference = repo.Tag(r.Tag)
	if r.Digest != "" {
		ref = repo.Digest(r.Digest)
	}
	authr, err := s.authenticator(ep.host, auth)
	if err != nil {
		return nil, err
	}
	return remote.Get(ref,
		remote.WithContext(ctx),
		remote.WithTransport(ep),
		remote.WithAuth(authr),
		remote.WithPlatform(s.platform),
		remote.WithUserAgent("peapod"),
	)
}

// pullError collects why each registry host failed. It matches ErrNotFound
// when every host answered 404, and ErrRegistryUnreachable when none could
// be reached.
type pullError struct {
	ref  string
	errs []error
}

// add records that ep failed with err. It returns an error to stop the pull
// with if ctx is done, since trying further hosts is then pointless.
func (e *pullError) add(ctx context.Context, ep *endpoint, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("pulling %s: %w", e.ref, context.Cause(ctx))
	}
	e.errs = append(e.errs, fmt.Errorf("%s: %w", ep.host, err))
	return nil
}

func (e *pullError) Error() string {
	msgs := make([]string, len(e.errs))
	for i, err := range e.errs {
		msgs[i] = err.Error()
	}
	return fmt.Sprintf("pulling %s: %s", e.ref, strings.Join(msgs, "; "))
}

func (e *pullError) Unwrap() []error { return e.errs }

func (e *pullError) Is(target error) bool {
	var match func(error) bool
	switch target {
	case ErrNotFound, errdefs.ErrNotFound:
		match = func(err error) bool {
			var terr *transport.Error
			return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
		}
	case ErrRegistryUnreachable, errdefs.ErrUnavailable:
		match = func(err error) bool {
			var opErr *net.OpError
			var dnsErr *net.DNSError
			var netErr net.Error
			return errors.As(err, &opErr) || errors.As(err, &dnsErr) || (errors.As(err, &netErr) && netErr.Timeout())
		}
	default:
		return false
	}
	for _, err := range e.errs {
		if !match(err) {
			return false
		}
	}
	return len(e.errs) > 0
}
