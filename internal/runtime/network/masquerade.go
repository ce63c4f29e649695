package network

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/coreos/go-iptables/iptables"
)

// Node-level SNAT of the pod network: traffic from a pod to anything
// outside the pod CIDR (except multicast) leaves with the node's address,
// while pod-to-pod and host-to-pod traffic keeps its source. The bridge
// plugin's ipMasq would install the same per pod, in a chain of its own, at
// ~20 ms of iptables calls per pod on create and again on delete; one chain
// per node, as flannel's and kubenet's ip-masq do, gives the same behaviour
// without that cost and without per-pod rules that could leak.

// masqueradeChain names the chain of a pod network (iptables allows 28
// characters).
func masqueradeChain(name, subnet string) string {
	sum := sha256.Sum256([]byte(name + "/" + subnet))
	return "PEAPOD-MASQ-" + hex.EncodeToString(sum[:])[:12]
}

func jumpRule(name, subnet string) []string {
	return []string{"-s", subnet, "-m", "comment", "--comment", fmt.Sprintf("peapod %s: masquerade pod network %s", name, subnet),
		"-j", masqueradeChain(name, subnet)}
}

// ensureMasquerade installs the chain and the jump to it; they stay while
// pods may run, including across peapod restarts.
func ensureMasquerade(name, subnet string) error {
	ipt, err := iptables.New()
	if err != nil {
		return fmt.Errorf("iptables: %w", err)
	}
	chain := masqueradeChain(name, subnet)
	if exists, err := ipt.ChainExists("nat", chain); err != nil {
		return err
	} else if !exists {
		if err := ipt.NewChain("nat", chain); err != nil {
			return fmt.Errorf("creating chain %s: %w", chain, err)
		}
	}
	for _, rule := range [][]string{{"-d", subnet, "-j", "RETURN"}, {"!", "-d", "224.0.0.0/4", "-j", "MASQUERADE"}} {
		if err := ipt.AppendUnique("nat", chain, rule...); err != nil {
			return fmt.Errorf("masquerade rule: %w", err)
		}
	}
	if err := ipt.AppendUnique("nat", "POSTROUTING", jumpRule(name, subnet)...); err != nil {
		return fmt.Errorf("masquerade jump: %w", err)
	}
	return nil
}

// RemoveMasquerade deletes a pod network's chain and jump; for uninstalling,
// once no pod uses the network.
func RemoveMasquerade(name, subnet string) error {
	ipt, err := iptables.New()
	if err != nil {
		return fmt.Errorf("iptables: %w", err)
	}
	chain := masqueradeChain(name, subnet)
	exists, err := ipt.ChainExists("nat", chain)
	if err != nil || !exists {
		return err // never installed (e.g. only host-network pods ran)
	}
	// Every jump to the chain goes first (a crashed daemon's restart
	// may have left two), or the chain stays busy.
	for range 8 {
		found, err := ipt.Exists("nat", "POSTROUTING", jumpRule(name, subnet)...)
		if err != nil || !found {
			break
		}
		if err := ipt.Delete("nat", "POSTROUTING", jumpRule(name, subnet)...); err != nil {
			return err
		}
	}
	return ipt.ClearAndDeleteChain("nat", chain)
}
