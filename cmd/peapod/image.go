package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/peapod/peapod/internal/runtime/image"
)

// newImageCommand manages the image store directly; it is safe to use
// while the daemon runs (the store is shared through the file system).
func newImageCommand(logger func() *slog.Logger) *cobra.Command {
	var dataDir, configDir, dockerConfig string
	var maxLayer, maxImage int64
	store := func() (*image.Store, error) {
		return image.NewStore(filepath.Join(dataDir, "images"), image.Options{
			HostsDir: filepath.Join(configDir, "certs.d"), DockerConfig: dockerConfig, Log: logger(),
			MaxLayerSize: maxLayer, MaxImageSize: maxImage,
		})
	}
	cmd := &cobra.Command{Use: "image", Short: "Manage the node's container images"}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "/var/lib/peapod", "peapod data directory")
	cmd.PersistentFlags().StringVar(&configDir, "config-dir", "/etc/peapod", "peapod configuration directory (registry hosts.toml files)")
	cmd.PersistentFlags().StringVar(&dockerConfig, "docker-config", "", "docker config.json with registry credentials")
	addImageLimitFlags(cmd.PersistentFlags(), &maxLayer, &maxImage)

	cmd.AddCommand(&cobra.Command{
		Use:   "import FILE",
		Short: "Import an OCI-layout or docker-archive tarball",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store()
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			imgs, err := s.Import(cmd.Context(), f)
			if err != nil {
				return err
			}
			for _, img := range imgs {
				fmt.Fprintf(cmd.OutOrStdout(), "imported %s %s\n", img.ID, strings.Join(img.RepoTags, " "))
			}
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "pull REFERENCE",
		Short: "Pull an image from its registry (or a configured mirror)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store()
			if err != nil {
				return err
			}
			img, err := s.Pull(cmd.Context(), args[0], nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pulled %s %s\n", img.ID, strings.Join(img.RepoTags, " "))
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List images",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := store()
			if err != nil {
				return err
			}
			imgs, err := s.List()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tID\tSIZE")
			for _, img := range imgs {
				names := img.RepoTags
				if len(names) == 0 {
					names = []string{"<none>"}
				}
				for _, n := range names {
					fmt.Fprintf(tw, "%s\t%.19s\t%d\n", n, img.ID, img.Size)
				}
			}
			return tw.Flush()
		},
	})
	return cmd
}
