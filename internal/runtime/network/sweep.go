package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
)

// Orphans are what Sweep is told about the node: which sandboxes are
// known, and where an unknown one's namespace is still pinned.
type Orphans struct {
	// Known maps the ID of every sandbox the runtime has a record of to
	// whether it is attached (its veth and IP must stay).
	Known map[string]bool
	// NetNS maps the ID of an unknown sandbox whose network namespace is
	// still pinned to the pin's path.
	NetNS map[string]string
}

// Sweep removes the pod network's traces of every sandbox that o does not
// know but that left a trace in this network's own state (a CNI result, an
// IP reservation or a namespace pin): its CNI attachment (run through CNI
// DEL with the configuration it was made with, which also drops its
// portmap rules), the IP address host-local reserved for it, and finally
// any veth left on the bridge that no known sandbox owns. iptables is not
// searched for orphans: its rules are shared with every other peapod on
// the machine. It logs one line per removal and goes on past failures,
// returning them joined.
func (n *Network) Sweep(ctx context.Context, o Orphans, log *slog.Logger) error {
	ids := map[string]bool{}
	for id := range o.NetNS {
		ids[id] = true
	}
	for _, id := range n.cachedIDs() {
		ids[id] = true
	}
	reserved := n.reservations()
	for _, id := range reserved {
		ids[id] = true
	}
	var errs []error
	for id := range ids {
		if _, known := o.Known[id]; known || id == "" {
			continue
		}
		// Without a record the sandbox's host ports are unknown, but
		// portmap only tears down when asked about some port, and its
		// chains are named by the sandbox: any port will do.
		a := Attachment{SandboxID: id, NetNS: o.NetNS[id], Ports: []PortMapping{{HostPort: 1, ContainerPort: 1, Protocol: "tcp"}}}
		if err := n.Teardown(ctx, a); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("removed orphan pod network attachment", "sandbox", id)
	}
	// host-local releases by ID on DEL; what is left has no owner (an
	// empty file is a reservation cut short by a crash).
	for ip, id := range n.reservations() {
		if _, known := o.Known[id]; known && id != "" {
			continue
		}
		if err := os.Remove(filepath.Join(n.ipamDir, ip)); ignoreNotExist(err) != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("released orphan IP reservation", "ip", ip, "sandbox", id)
	}
	errs = append(errs, n.sweepVeths(o.Known, log))
	return errors.Join(errs...)
}

// cachedIDs lists the sandbox IDs libcni has cached results for.
func (n *Network) cachedIDs() []string {
	entries, _ := os.ReadDir(filepath.Join(n.cacheDir, "results"))
	prefix, suffix := n.name+"-", "-eth0"
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutPrefix(e.Name(), prefix); ok {
			if id, ok := strings.CutSuffix(id, suffix); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// reservations maps each reserved IP to the sandbox ID it is reserved
// for.
func (n *Network) reservations() map[string]string {
	entries, _ := os.ReadDir(n.ipamDir)
	out := map[string]string{}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "lock" || strings.HasPrefix(e.Name(), "last_reserved_ip.") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(n.ipamDir, e.Name()))
		if err != nil {
			continue
		}
		id, _, _ := strings.Cut(string(data), "\r\n")
		out[e.Name()] = strings.TrimSpace(id)
	}
	return out
}

// sweepVeths deletes veths on the bridge that belong to no known attached
// sandbox. Which veth is whose comes from the cached CNI results; if one
// of an attached sandbox is missing, nothing is deleted.
func (n *Network) sweepVeths(known map[string]bool, log *slog.Logger) error {
	br, err := netlink.LinkByName(n.bridge)
	if err != nil {
		return nil // no bridge, no veths
	}
	owned := map[string]bool{}
	for id, attached := range known {
		if !attached {
			continue
		}
		names, err := n.hostVeths(id)
		if err != nil {
			log.Warn("not sweeping veths: a sandbox's CNI result is unreadable", "sandbox", id, "err", err)
			return nil
		}
		for _, name := range names {
			owned[name] = true
		}
	}
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("listing links: %w", err)
	}
	var errs []error
	for _, l := range links {
		attrs := l.Attrs()
		if attrs.MasterIndex != br.Attrs().Index || l.Type() != "veth" || owned[attrs.Name] {
			continue
		}
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("deleting veth %s: %w", attrs.Name, err))
			continue
		}
		log.Info("removed orphan veth", "veth", attrs.Name, "bridge", n.bridge)
	}
	return errors.Join(errs...)
}

// hostVeths reads the host-side interfaces of a sandbox's cached result.
func (n *Network) hostVeths(id string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(n.cacheDir, "results", n.name+"-"+id+"-eth0"))
	if err != nil {
		return nil, err
	}
	var cached struct {
		Result struct {
			Interfaces []struct {
				Name    string `json:"name"`
				Sandbox string `json:"sandbox"`
			} `json:"interfaces"`
		} `json:"result"`
	}
	if err := json.Unmarshal(data, &cached); err != nil {
		return nil, err
	}
	var names []string
	for _, i := range cached.Result.Interfaces {
		if i.Sandbox == "" && i.Name != n.bridge {
			names = append(names, i.Name)
		}
	}
	return names, nil
}

func ignoreNotExist(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
