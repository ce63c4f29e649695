package testimage

import (
	"fmt"
	"io"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// defaultPath is the PATH of the image config, the one Docker's busybox uses.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// BusyboxImage writes an OCI image layout tarball to w holding one image
// named name (e.g. "docker.io/library/busybox:latest").
//
// The first layer holds the static binary busybox at /bin/busybox, one hard
// link /bin/<applet> per applet it lists, /etc/passwd and /etc/group for root
// and nobody, and the directories /tmp (1777), /root, /var/www, /proc, /sys,
// /dev and /etc. When extra is not empty a second layer holds those files.
// The config runs "sh" with a standard PATH, for the host's architecture.
//
// Options change that config (WithStopSignal).
//
// busybox must be statically linked; ErrNotStatic is returned otherwise.
func BusyboxImage(w io.Writer, busybox string, name string, extra []File, opts ...Option) error {
	tag, err := parseName(name)
	if err != nil {
		return err
	}
	if err := checkStatic(busybox); err != nil {
		return err
	}
	names, err := applets(busybox)
	if err != nil {
		return err
	}
	img, err := assemble(busybox, names, extra, opts)
	if err != nil {
		return err
	}
	return writeLayout(w, img, map[string]string{
		annotationImageName: name,
		annotationRefName:   tag,
	})
}

// parseName checks that name is an image reference with a tag and returns
// the tag.
func parseName(ref string) (string, error) {
	t, err := name.NewTag(ref)
	if err != nil {
		return "", fmt.Errorf("parsing image name %q: %w", ref, err)
	}
	return t.TagStr(), nil
}

// Option changes the config of an image BusyboxImage writes.
type Option func(*v1.Config)

// WithStopSignal sets the image's STOPSIGNAL (Config.StopSignal), e.g.
// "SIGQUIT".
func WithStopSignal(signal string) Option {
	return func(c *v1.Config) { c.StopSignal = signal }
}

// assemble builds the image from its layers and config.
func assemble(busybox string, names []string, extra []File, opts []Option) (v1.Image, error) {
	base, err := busyboxLayer(busybox, names)
	if err != nil {
		return nil, err
	}
	adds := []mutate.Addendum{{
		Layer:     base,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "peapod testimage: busybox-static"},
	}}
	if len(extra) > 0 {
		l, err := extraLayer(extra)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{
			Layer:     l,
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "peapod testimage: extra files"},
		})
	}

	cfg := v1.Config{
		Cmd: []string{"sh"},
		Env: []string{defaultPath},
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		Config:       cfg,
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, fmt.Errorf("setting image config: %w", err)
	}
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("appending layers: %w", err)
	}
	return img, nil
}
