package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/peapod/peapod/internal/pki"
)

// mastersGroup is the group kube-apiserver lets do anything: requests of its
// members skip authorization entirely, so a certificate naming it cannot be
// restricted by RBAC and, unlike a binding, cannot be revoked before it
// expires.
const mastersGroup = "system:masters"

// kubeconfigOptions are the flags of `peapod kubeconfig`.
type kubeconfigOptions struct {
	user, namespace, output, dataDir, adminKubeconfig, server string
	groups                                                    []string
	ttl                                                       time.Duration
	allowMasters                                              bool
}

func newKubeconfigCommand() *cobra.Command {
	var o kubeconfigOptions
	cmd := &cobra.Command{
		Use:   "kubeconfig --user NAME",
		Short: "Write a kubeconfig for a user, with a client certificate signed by the cluster's CA",
		Long: "kubeconfig issues a client certificate from peapod's certificate authority (subject CN is the\n" +
			"user, O the groups, as kube-apiserver reads them) and writes a kubeconfig with it, pointing at\n" +
			"the cluster of the admin kubeconfig, as `kubeadm kubeconfig user` does. Run it on the node:\n" +
			"it reads the CA's key under DATA_DIR/pki. A certificate cannot be revoked: keep lifetimes short\n" +
			"and grant access with RBAC rather than groups.",
		Example: "  peapod kubeconfig --user alice --group dev --namespace demo -o alice.kubeconfig",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKubeconfig(o, cmd.OutOrStdout(), time.Now())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.user, "user", "", "user name: the certificate's subject common name (required)")
	f.StringArrayVar(&o.groups, "group", nil, "group the user is in: the certificate's subject organization (repeatable)")
	f.StringVar(&o.namespace, "namespace", "", "namespace of the kubeconfig's context")
	f.DurationVar(&o.ttl, "ttl", 8760*time.Hour, "how long the certificate is valid")
	f.StringVarP(&o.output, "output", "o", "", "file to write the kubeconfig to, mode 0600 (default: standard output)")
	f.StringVar(&o.dataDir, "data-dir", "", "the daemon's data directory, holding the CA under pki/ (default /var/lib/peapod)")
	f.StringVar(&o.adminKubeconfig, "kubeconfig", "", "the admin kubeconfig the daemon wrote, whose cluster is used (default DATA_DIR/admin.kubeconfig)")
	f.StringVar(&o.server, "server", "", "API server URL to write instead of the admin kubeconfig's, e.g. https://node.example:6443")
	f.BoolVar(&o.allowMasters, "allow-masters", false, "allow the group "+mastersGroup+", whose members bypass authorization")
	_ = cmd.MarkFlagRequired("user")
	return cmd
}

func runKubeconfig(o kubeconfigOptions, stdout io.Writer, now time.Time) error {
	if o.user == "" {
		return errors.New("--user must not be empty")
	}
	if slices.Contains(o.groups, mastersGroup) && !o.allowMasters {
		return fmt.Errorf("refusing the group %s: its members bypass authorization and a certificate cannot be revoked; "+
			"grant access with RBAC instead, or pass --allow-masters", mastersGroup)
	}
	if o.dataDir == "" {
		o.dataDir = "/var/lib/peapod"
	}
	if o.adminKubeconfig == "" {
		o.adminKubeconfig = filepath.Join(o.dataDir, "admin.kubeconfig")
	}
	admin, err := clientcmd.LoadFromFile(o.adminKubeconfig)
	if err != nil {
		return fmt.Errorf("reading the admin kubeconfig (is the daemon started? see --kubeconfig): %w", err)
	}
	clusterName, cluster, err := currentCluster(admin)
	if err != nil {
		return fmt.Errorf("admin kubeconfig %s: %w", o.adminKubeconfig, err)
	}
	cluster = cluster.DeepCopy()
	if o.server != "" {
		cluster.Server = o.server
	}
	ca, err := pki.LoadCA(filepath.Join(o.dataDir, "pki"))
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := ca.IssueClient(pki.ClientRequest{User: o.user, Groups: o.groups, TTL: o.ttl}, now)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[clusterName] = cluster
	cfg.AuthInfos[o.user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	contextName := o.user + "@" + clusterName
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: o.user, Namespace: o.namespace}
	cfg.CurrentContext = contextName
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if o.output == "" {
		_, err := stdout.Write(data)
		return err
	}
	return writePrivate(o.output, data)
}

// currentCluster returns the cluster of a kubeconfig's current context.
func currentCluster(cfg *clientcmdapi.Config) (string, *clientcmdapi.Cluster, error) {
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return "", nil, fmt.Errorf("no current context")
	}
	cluster, ok := cfg.Clusters[ctx.Cluster]
	if !ok {
		return "", nil, fmt.Errorf("context %q names the unknown cluster %q", cfg.CurrentContext, ctx.Cluster)
	}
	return ctx.Cluster, cluster, nil
}

// writePrivate writes data to path with mode 0600, replacing a file there
// only once the new one is complete.
func writePrivate(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
