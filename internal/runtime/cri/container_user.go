package cri

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/errdefs"
)

// passwdEntry is one line of /etc/passwd or /etc/group.
type passwdEntry struct {
	name    string
	id      uint32
	gid     uint32   // passwd only
	members []string // group only
}

// readIDFile parses an /etc/passwd- or /etc/group-shaped file inside root,
// resolving symlinks inside root only. A missing file is empty.
func readIDFile(root, path string, group bool) ([]passwdEntry, error) {
	p, err := securejoin.SecureJoin(root, path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []passwdEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		id, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil {
			continue
		}
		e := passwdEntry{name: fields[0], id: uint32(id)}
		if group {
			if len(fields) > 3 && fields[3] != "" {
				e.members = strings.Split(fields[3], ",")
			}
		} else if len(fields) > 3 {
			if gid, err := strconv.ParseUint(fields[3], 10, 32); err == nil {
				e.gid = uint32(gid)
			}
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// statusUser is the identity a container runs with as ContainerStatus
// reports it: its groups are the primary one and the additional ones,
// sorted.
func statusUser(u *specs.User) *runtimeapi.ContainerUser {
	if u == nil {
		return nil
	}
	groups := append([]int64{int64(u.GID)}, make([]int64, 0, len(u.AdditionalGids))...)
	for _, g := range u.AdditionalGids {
		if g != u.GID {
			groups = append(groups, int64(g))
		}
	}
	slices.Sort(groups)
	return &runtimeapi.ContainerUser{Linux: &runtimeapi.LinuxContainerUser{Uid: int64(u.UID), Gid: int64(u.GID), SupplementalGroups: groups}}
}

// resolveUser picks uid, gid and supplementary groups: the security
// context's runAsUser/runAsUsername/runAsGroup override the image's USER
// ("name", "uid", "name:group", "uid:gid"); names are looked up in the
// container's /etc/passwd and /etc/group.
func resolveUser(root string, sc *runtimeapi.LinuxContainerSecurityContext, imageUser string) (specs.User, error) {
	if sc.GetRunAsGroup() != nil && sc.GetRunAsUser() == nil && sc.GetRunAsUsername() == "" {
		return specs.User{}, errdefs.Errorf(errdefs.ErrInvalidArgument, "user group %q is specified without user", strconv.FormatInt(sc.GetRunAsGroup().GetValue(), 10))
	}
	passwd, err := readIDFile(root, "/etc/passwd", false)
	if err != nil {
		return specs.User{}, err
	}
	groups, err := readIDFile(root, "/etc/group", true)
	if err != nil {
		return specs.User{}, err
	}
	userPart, groupPart, _ := strings.Cut(imageUser, ":")
	switch {
	case sc.GetRunAsUser() != nil:
		userPart = strconv.FormatInt(sc.GetRunAsUser().GetValue(), 10)
	case sc.GetRunAsUsername() != "":
		userPart = sc.GetRunAsUsername()
	}
	if sc.GetRunAsGroup() != nil {
		groupPart = strconv.FormatInt(sc.GetRunAsGroup().GetValue(), 10)
	}
	u := specs.User{}
	var name string
	if userPart != "" {
		if id, err := strconv.ParseUint(userPart, 10, 32); err == nil {
			u.UID = uint32(id)
			for _, e := range passwd {
				if e.id == u.UID {
					u.GID, name = e.gid, e.name
					break
				}
			}
		} else {
			found := false
			for _, e := range passwd {
				if e.name == userPart {
					u.UID, u.GID, name, found = e.id, e.gid, e.name, true
					break
				}
			}
			if !found {
				return specs.User{}, errdefs.New(errdefs.ErrInvalidArgument, fmt.Sprintf("unable to find user %s: no matching entries in passwd file", userPart))
			}
		}
	}
	if groupPart != "" {
		if id, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
			u.GID = uint32(id)
		} else {
			found := false
			for _, g := range groups {
				if g.name == groupPart {
					u.GID, found = g.id, true
					break
				}
			}
			if !found {
				return specs.User{}, errdefs.New(errdefs.ErrInvalidArgument, fmt.Sprintf("unable to find group %s: no matching entries in group file", groupPart))
			}
		}
	}
	seen := map[uint32]bool{u.GID: true}
	// Strict: only the primary group and the pod's supplemental
	// groups, not those /etc/group gives the user in the image.
	strict := sc.GetSupplementalGroupsPolicy() == runtimeapi.SupplementalGroupsPolicy_Strict
	if name != "" && !strict {
		for _, g := range groups {
			for _, m := range g.members {
				if m == name && !seen[g.id] {
					seen[g.id] = true
					u.AdditionalGids = append(u.AdditionalGids, g.id)
				}
			}
		}
	}
	for _, g := range sc.GetSupplementalGroups() {
		if !seen[uint32(g)] {
			seen[uint32(g)] = true
			u.AdditionalGids = append(u.AdditionalGids, uint32(g))
		}
	}
	return u, nil
}
