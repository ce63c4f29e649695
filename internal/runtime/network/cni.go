// Package network gives pod sandboxes their network: a pinned network
// namespace per sandbox (its lo brought up in process, as the loopback
// plugin would) and one CNI network (bridge + host-local, and portmap for
// sandboxes with host ports, from Debian's containernetworking-plugins)
// driven through libcni, plus one node-level masquerade rule for traffic
// leaving the pod network.
// peapod writes its own conflist into its config directory, so it neither
// reads nor disturbs /etc/cni/net.d.
package network

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
)

// Config describes the pod network.
type Config struct {
	// Name of the CNI network (also in iptables comments).
	Name string
	// Bridge is the Linux bridge the pods attach to.
	Bridge string
	// Subnet is the pod CIDR, e.g. 10.244.0.0/16.
	Subnet string
	// PluginDirs are searched for plugin binaries.
	PluginDirs []string
	// ConfDir receives the generated conflist.
	ConfDir string
	// StateDir holds host-local allocations and libcni's result cache.
	StateDir string
}

// Network sets up and tears down pod networking.
type Network struct {
	cni *libcni.CNIConfig
	// list is the pod network (bridge, host-local, portmap); bridgeOnly
	// the same without portmap, for attachments with no host port.
	list, bridgeOnly *libcni.NetworkConfigList
	name             string
	subnet           string
	bridge           string
	// ipamDir holds host-local's reservations: one file per IP, named by
	// the address and holding "<sandbox ID>\r\n<interface>".
	ipamDir string
	// cacheDir is libcni's cache (results/<network>-<ID>-<interface>).
	cacheDir string

	masqMu   sync.Mutex
	masqDone bool
}

// ensureMasquerade installs the node-level masquerade rule before the first
// attachment (a node running only host-network pods needs no iptables).
// Subnet is the pod CIDR the network allocates from.
func (n *Network) Subnet() string { return n.subnet }

func (n *Network) ensureMasquerade() error {
	n.masqMu.Lock()
	defer n.masqMu.Unlock()
	if n.masqDone {
		return nil
	}
	if err := ensureMasquerade(n.name, n.subnet); err != nil {
		return err
	}
	n.masqDone = true
	return nil
}

// PortMapping is a hostPort of a pod.
type PortMapping struct {
	HostPort      int32
	ContainerPort int32
	Protocol      string // tcp, udp, sctp
	HostIP        string
}

// Attachment identifies one sandbox's attachment.
type Attachment struct {
	SandboxID string
	NetNS     string
	Namespace string
	Name      string
	UID       string
	Ports     []PortMapping
}

// New writes the conflist for cfg (when it differs) and loads it.
func New(cfg Config) (*Network, error) {
	if _, _, err := net.ParseCIDR(cfg.Subnet); err != nil {
		return nil, fmt.Errorf("pod CIDR %q: %w", cfg.Subnet, err)
	}
	ipamDir := filepath.Join(cfg.StateDir, "networks")
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       cfg.Name,
		"plugins": []any{
			map[string]any{
				// ipMasq is off: see masqueradeRule.
				"type": "bridge", "bridge": cfg.Bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": cfg.Subnet}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": ipamDir,
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.ConfDir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.ConfDir, "10-"+cfg.Name+".conflist")
	if old, err := os.ReadFile(path); err != nil || string(old) != string(data) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
	}
	list, err := libcni.ConfListFromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("parsing CNI config: %w", err)
	}
	// Most pods have no host port, and portmap has nothing to do for
	// them but cost a process start when they are attached and another
	// when they are detached: they get the list without it (their
	// detachment uses the list cached with their attachment).
	conf["plugins"] = conf["plugins"].([]any)[:1]
	noPorts, err := json.Marshal(conf)
	if err != nil {
		return nil, err
	}
	bridgeOnly, err := libcni.ConfListFromBytes(noPorts)
	if err != nil {
		return nil, fmt.Errorf("parsing CNI config: %w", err)
	}
	cacheDir := filepath.Join(cfg.StateDir, "cache")
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return nil, err
	}
	return &Network{
		// An explicit exec: libcni sets its default one lazily, without a
		// lock, which races when sandboxes are set up side by side.
		cni: libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, cacheDir, &invoke.DefaultExec{
			RawExec: &invoke.RawExec{Stderr: os.Stderr}, PluginDecoder: version.PluginDecoder{},
		}), list: list, bridgeOnly: bridgeOnly, name: cfg.Name, subnet: cfg.Subnet,
		bridge: cfg.Bridge, ipamDir: filepath.Join(ipamDir, cfg.Name), cacheDir: cacheDir,
	}, nil
}

func (n *Network) runtimeConf(a Attachment) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{
		ContainerID: a.SandboxID,
		NetNS:       a.NetNS,
		IfName:      "eth0",
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", a.Namespace},
			{"K8S_POD_NAME", a.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", a.SandboxID},
			{"K8S_POD_UID", a.UID},
		},
	}
	var ports []map[string]any
	for _, p := range a.Ports {
		if p.HostPort <= 0 {
			continue
		}
		m := map[string]any{"hostPort": p.HostPort, "containerPort": p.ContainerPort, "protocol": strings.ToLower(p.Protocol)}
		if p.HostIP != "" {
			m["hostIP"] = p.HostIP
		}
		ports = append(ports, m)
	}
	if len(ports) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": ports}
	}
	return rt
}

// Setup attaches the sandbox's namespace to the pod network and returns its
// IP addresses (primary first).
func (n *Network) Setup(ctx context.Context, a Attachment) ([]net.IP, error) {
	if err := n.ensureMasquerade(); err != nil {
		return nil, err
	}
	rt := n.runtimeConf(a)
	list := n.list
	if rt.CapabilityArgs == nil {
		list = n.bridgeOnly
	}
	res, err := n.cni.AddNetworkList(ctx, list, rt)
	if err != nil {
		return nil, fmt.Errorf("CNI network %q: %w", n.name, err)
	}
	cur, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("CNI result: %w", err)
	}
	var ips []net.IP
	for _, ip := range cur.IPs {
		if ip.Address.IP.IsLoopback() {
			continue
		}
		ips = append(ips, ip.Address.IP)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("CNI network %q returned no IP address", n.name)
	}
	return ips, nil
}

// Teardown detaches the sandbox, releasing its IP and iptables rules. It is
// safe to call again, and works when the namespace is already gone.
func (n *Network) Teardown(ctx context.Context, a Attachment) error {
	if _, err := os.Stat(a.NetNS); err != nil {
		a.NetNS = ""
	}
	rt := n.runtimeConf(a)
	// Tear down with the configuration the attachment was made with (as
	// ocicni does): the conflist may have changed since.
	list := n.list
	if cached, cachedRT, err := n.cni.GetNetworkListCachedConfig(n.list, rt); err == nil && len(cached) > 0 {
		if l, err := libcni.ConfListFromBytes(cached); err == nil {
			list = l
		}
		if rt.CapabilityArgs == nil && cachedRT != nil {
			rt.CapabilityArgs = cachedRT.CapabilityArgs
		}
	}
	if err := n.cni.DelNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("CNI network %q teardown: %w", n.name, err)
	}
	return nil
}
