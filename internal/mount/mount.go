// Package mount reads this mount namespace's mount points and removes the
// ones below a directory, for the runtime's start-up sweep and the
// kubelet's pod volumes.
package mount

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Points lists the mount points of this mount namespace.
func Points() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			out = append(out, unescape(fields[4]))
		}
	}
	return out, sc.Err()
}

// IsMountPoint reports whether p is a mount point.
func IsMountPoint(p string) bool {
	points, _ := Points()
	for _, m := range points {
		if m == p {
			return true
		}
	}
	return false
}

// UnmountUnder detaches every mount at or below dir, deepest first.
func UnmountUnder(dir string) error {
	points, err := Points()
	if err != nil {
		return err
	}
	dir = strings.TrimSuffix(dir, "/")
	var below []string
	for _, p := range points {
		if p == dir || strings.HasPrefix(p, dir+"/") {
			below = append(below, p)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(below)))
	var errs []error
	for _, p := range below {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, &os.PathError{Op: "unmount", Path: p, Err: err})
		}
	}
	return errors.Join(errs...)
}

// unescape decodes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Propagation is how the mount holding a path propagates mount events.
type Propagation struct {
	// MountPoint is the mount point holding the path.
	MountPoint string
	// Shared: in a peer group (shared:N); Slave: receiving from a
	// master (master:N). Both may hold.
	Shared, Slave bool
}

// PropagationOf reads the propagation of the mount holding p (symbolic
// links resolved) from this namespace's mountinfo.
func PropagationOf(p string) (Propagation, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return Propagation{}, err
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return Propagation{}, err
	}
	defer f.Close()
	var best Propagation
	found := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 {
			continue
		}
		point := unescape(fields[4])
		if !within(real, point) || (found && len(point) < len(best.MountPoint)) {
			continue
		}
		cur := Propagation{MountPoint: point}
		for _, opt := range fields[6:] {
			if opt == "-" {
				break
			}
			cur.Shared = cur.Shared || strings.HasPrefix(opt, "shared:")
			cur.Slave = cur.Slave || strings.HasPrefix(opt, "master:")
		}
		// A later mount on the same point hides the earlier one.
		best, found = cur, true
	}
	if err := sc.Err(); err != nil {
		return Propagation{}, err
	}
	if !found {
		return Propagation{}, fmt.Errorf("no mount holds %s", real)
	}
	return best, nil
}

// within reports whether p is point or below it.
func within(p, point string) bool {
	return point == "/" || p == point || strings.HasPrefix(p, point+"/")
}
