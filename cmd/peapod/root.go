package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	var level string
	root := &cobra.Command{
		Use:           "peapod",
		Short:         "Kubernetes pods on one Linux machine",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	logger := func() *slog.Logger {
		var l slog.Level
		if err := l.UnmarshalText([]byte(level)); err != nil {
			l = slog.LevelInfo
		}
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	}
	root.AddCommand(newServeCommand(logger), newResetCommand(logger), newImageCommand(logger), newKubeconfigCommand())
	return root
}
