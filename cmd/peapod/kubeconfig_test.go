package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/peapod/peapod/internal/pki"
)

// setupDataDir makes the PKI and admin kubeconfig the daemon would.
func setupDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	b, err := pki.Ensure(filepath.Join(dir, "pki"), []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteKubeconfig(filepath.Join(dir, "admin.kubeconfig"), "https://127.0.0.1:6443", "peapod"); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestKubeconfigCommand(t *testing.T) {
	dir := setupDataDir(t)
	admin, err := clientcmd.LoadFromFile(filepath.Join(dir, "admin.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		toFile     bool
		wantServer string
		wantNS     string
		wantGroups []string
		wantTTL    time.Duration
		wantErr    string
	}{
		{name: "user with groups to a file", args: []string{"--user", "alice", "--group", "dev", "--group", "ops", "--namespace", "demo"}, toFile: true,
			wantServer: "https://127.0.0.1:6443", wantNS: "demo", wantGroups: []string{"dev", "ops"}, wantTTL: 8760 * time.Hour},
		{name: "stdout, server and ttl", args: []string{"--user", "bob", "--server", "https://node.example:6443", "--ttl", "720h"},
			wantServer: "https://node.example:6443", wantTTL: 720 * time.Hour},
		{name: "masters refused", args: []string{"--user", "root", "--group", "system:masters"}, wantErr: "--allow-masters"},
		{name: "masters allowed", args: []string{"--user", "root", "--group", "system:masters", "--allow-masters"},
			wantServer: "https://127.0.0.1:6443", wantGroups: []string{"system:masters"}, wantTTL: 8760 * time.Hour},
		{name: "ttl beyond the CA", args: []string{"--user", "alice", "--ttl", "100000h"}, wantErr: "ends after the certificate authority"},
		{name: "no user", args: []string{"--group", "dev"}, wantErr: `"user" not set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "user.kubeconfig")
			args := append([]string{"kubeconfig", "--data-dir", dir}, tt.args...)
			if tt.toFile {
				args = append(args, "-o", out)
			}
			root := newRootCommand()
			var stdout bytes.Buffer
			root.SetOut(&stdout)
			root.SetArgs(args)
			start := time.Now()
			err := root.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			data := stdout.Bytes()
			if tt.toFile {
				if stdout.Len() != 0 {
					t.Errorf("wrote %q to stdout with -o", stdout.String())
				}
				fi, err := os.Stat(out)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
				}
				if data, err = os.ReadFile(out); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := clientcmd.Load(data)
			if err != nil {
				t.Fatal(err)
			}
			user := tt.args[1]
			ctx := cfg.Contexts[cfg.CurrentContext]
			if ctx == nil || ctx.AuthInfo != user || ctx.Namespace != tt.wantNS || ctx.Cluster != "peapod" {
				t.Fatalf("current context = %+v, want user %s, namespace %q, cluster peapod", ctx, user, tt.wantNS)
			}
			cluster := cfg.Clusters["peapod"]
			if cluster.Server != tt.wantServer || !bytes.Equal(cluster.CertificateAuthorityData, admin.Clusters["peapod"].CertificateAuthorityData) {
				t.Errorf("cluster = %s, want server %s and the admin kubeconfig's CA", cluster.Server, tt.wantServer)
			}
			b, _ := pem.Decode(cfg.AuthInfos[user].ClientCertificateData)
			if b == nil {
				t.Fatal("no client certificate")
			}
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if cert.Subject.CommonName != user || !slices.Equal(cert.Subject.Organization, tt.wantGroups) {
				t.Errorf("subject = %v, want CN=%s O=%v", cert.Subject, user, tt.wantGroups)
			}
			if got := cert.NotAfter.Sub(start); got < tt.wantTTL-time.Minute || got > tt.wantTTL+time.Minute {
				t.Errorf("certificate valid for %s, want %s", got, tt.wantTTL)
			}
		})
	}
}
