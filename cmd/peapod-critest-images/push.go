package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/peapod/peapod/internal/testimage"
)

// push writes every image under each of its names to the registry at
// addr, the names' own registry replaced by it.
func push(ctx context.Context, addr string, images []testimage.NamedImage) error {
	for _, img := range images {
		for _, n := range img.Names {
			ref, err := name.ParseReference(n)
			if err != nil {
				return err
			}
			local := addr + "/" + ref.Context().RepositoryStr() + ":" + strings.TrimPrefix(ref.Identifier(), ":")
			dst, err := name.NewTag(local, name.Insecure)
			if err != nil {
				return err
			}
			if err := remote.Write(dst, img.Image, remote.WithContext(ctx)); err != nil {
				return fmt.Errorf("pushing %s as %s: %w", n, dst, err)
			}
			d, _ := img.Image.Digest()
			fmt.Printf("pushed %s (%s)\n", n, d)
		}
	}
	return nil
}
