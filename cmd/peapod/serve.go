package main

import (
	"log/slog"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/peapod/peapod/internal/daemon"
)

func newServeCommand(logger func() *slog.Logger) *cobra.Command {
	var o daemon.Options
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the peapod daemon: API server, kubelet and container runtime",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return daemon.Run(cmd.Context(), o, logger())
		},
	}
	f := cmd.Flags()
	addNodeFlags(f, &o)
	f.StringVar(&o.Listen, "listen", "", "API server address (default 127.0.0.1:6443)")
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "where to write the admin kubeconfig (default DATA_DIR/admin.kubeconfig)")
	f.StringVar(&o.NodeName, "node-name", "", "node name (default: host name)")
	f.StringVar(&o.DockerConfig, "docker-config", "", "docker config.json with registry credentials")
	f.BoolVar(&o.NoSync, "unsafe-no-fsync", false, "do not fsync the object database (tests and benchmarks only)")
	return cmd
}

func newResetCommand(logger func() *slog.Logger) *cobra.Command {
	var o daemon.Options
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Stop and remove every pod sandbox and container on this node (the daemon must be stopped)",
		Long: "reset removes what peapod runs on this node: sandboxes, containers, their mounts, network\n" +
			"namespaces, CNI attachments, cgroups and state, plus the pod network bridge and masquerade\n" +
			"rule. API objects stay in the database; the next `peapod serve` recreates their pods.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return daemon.Reset(cmd.Context(), o, logger())
		},
	}
	addNodeFlags(cmd.Flags(), &o)
	return cmd
}

// addNodeFlags registers the flags that locate the node's state and
// runtime; serve and reset must agree on them.
func addNodeFlags(f *pflag.FlagSet, o *daemon.Options) {
	f.StringVar(&o.DataDir, "data-dir", "", "state that survives reboots (default /var/lib/peapod)")
	f.StringVar(&o.RunDir, "run-dir", "", "runtime state (default /run/peapod)")
	f.StringVar(&o.LogDir, "log-dir", "", "container logs (default /var/log/pods)")
	f.StringVar(&o.ConfigDir, "config-dir", "", "CNI and registry configuration (default /etc/peapod)")
	f.StringVar(&o.PodCIDR, "pod-cidr", "", "pod network (default 10.244.0.0/16)")
	f.StringVar(&o.Bridge, "bridge", "", "pod network bridge (default peapod0)")
	f.StringSliceVar(&o.CNIPluginDirs, "cni-plugin-dir", nil, "CNI plugin directories (default /usr/lib/cni,/opt/cni/bin)")
	f.StringVar(&o.OCIRuntime, "oci-runtime", "", "OCI runtime binary: runc or crun (default runc)")
	f.StringVar(&o.Conmon, "conmon", "", "conmon binary (default conmon)")
	f.StringVar(&o.Pause, "pause", "", "static pause binary (default catatonit)")
	f.StringVar(&o.CgroupRoot, "cgroup-root", "", "cgroup under which the kubepods hierarchy is created (default /)")
}
