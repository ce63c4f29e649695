package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
	xattrPrefix    = "SCHILY.xattr."
	maxSymlinks    = 255
)

// unpacker applies one layer tar to an empty directory, producing the
// layer's overlayfs upper-style directory: OCI whiteouts become 0:0
// character devices and opaque directories get trusted.overlay.opaque=y.
// Regular files are written sparse: runs of zeros become holes, so a small
// compressed layer cannot fill the disk with them; and their sizes count
// against a limit, so that it cannot declare a file larger than allowed
// either.
type unpacker struct {
	root     string               // absolute layer directory
	dirTimes map[string]time.Time // directory mtimes, applied last
	limit    int64                // bytes the files may hold; 0: no limit
	used     int64                // bytes the files hold so far
}

// applyLayer unpacks the uncompressed layer tar r into root and returns
// the bytes its regular files hold. More than limit bytes (when positive)
// is an error wrapping ErrTooLarge.
func applyLayer(ctx context.Context, root string, r io.Reader, limit int64) (int64, error) {
	u := &unpacker{root: root, dirTimes: map[string]time.Time{}, limit: limit}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return u.used, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return u.used, fmt.Errorf("reading layer tar: %w", err)
		}
		if err := u.apply(hdr, tr); err != nil {
			return u.used, fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
	// Creating entries changes directory mtimes, so set them at the end.
	for dir, mtime := range u.dirTimes {
		err := setMtime(dir, mtime)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return u.used, fmt.Errorf("setting times of %s: %w", dir, err)
		}
	}
	return u.used, nil
}

func (u *unpacker) apply(hdr *tar.Header, r io.Reader) error {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if rel == "" { // the layer root itself
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("%w: layer root is not a directory", ErrUnsafeLayer)
		}
		return u.setMeta(u.root, hdr)
	}
	dir, base := path.Split(rel)
	parent, err := u.resolve(dir, true)
	if err != nil {
		return err
	}
	switch {
	case base == whiteoutOpaque:
		return unix.Lsetxattr(parent, "trusted.overlay.opaque", []byte("y"), 0)
	case strings.HasPrefix(base, whiteoutMeta):
		return nil // other AUFS metadata has no overlayfs meaning
	case strings.HasPrefix(base, whiteoutPrefix):
		name := strings.TrimPrefix(base, whiteoutPrefix)
		if name == "" || name == "." || name == ".." {
			return fmt.Errorf("%w: malformed whiteout", ErrUnsafeLayer)
		}
		target := filepath.Join(parent, name)
		if err := u.clear(target, false); err != nil {
			return err
		}
		return unix.Mknod(target, unix.S_IFCHR, 0)
	}
	target := filepath.Join(parent, base)
	if err := u.clear(target, hdr.Typeflag == tar.TypeDir); err != nil {
		return err
	}
	created, err := u.create(target, hdr, r)
	if err != nil || !created {
		return err
	}
	return u.setMeta(target, hdr)
}

// cleanName turns a tar entry name into a clean path relative to the layer
// root ("" for the root), rejecting names with a ".." component.
func cleanName(name string) (string, error) {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: path contains \"..\"", ErrUnsafeLayer)
		}
	}
	return strings.TrimPrefix(path.Clean("/"+name), "/"), nil
}

// resolve walks rel, a slash-separated path relative to the layer root,
// following symlinks already unpacked the way the container will see them
// (an absolute target starts again at the layer root), and returns the host
// path of the directory it reaches. Missing components are created as 0755
// directories when create is set. Leaving the root is ErrUnsafeLayer.
func (u *unpacker) resolve(rel string, create bool) (string, error) {
	var cur []string // resolved components, each a real directory
	todo := strings.Split(rel, "/")
	for links := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return "", fmt.Errorf("%w: path %q leaves the layer root", ErrUnsafeLayer, rel)
			}
			cur = cur[:len(cur)-1]
			continue
		}
		p := filepath.Join(u.root, filepath.Join(cur...), c)
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist) && create:
			if err := os.Mkdir(p, 0o755); err != nil {
				return "", err
			}
		case err != nil:
			return "", err
		case fi.Mode()&fs.ModeSymlink != 0:
			if links++; links > maxSymlinks {
				return "", fmt.Errorf("resolving %q: too many symlinks", rel)
			}
			target, err := os.Readlink(p)
			if err != nil {
				return "", err
			}
			if path.IsAbs(target) {
				cur = cur[:0]
			}
			todo = append(strings.Split(target, "/"), todo...)
			continue
		case !fi.IsDir():
			return "", fmt.Errorf("resolving %q: %s is not a directory", rel, filepath.Join(cur...))
		}
		cur = append(cur, c)
	}
	return filepath.Join(u.root, filepath.Join(cur...)), nil
}

// clear removes whatever is at target, without following a symlink there,
// unless both it and the new entry are directories.
func (u *unpacker) clear(target string, keepDir bool) error {
	fi, err := os.Lstat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if keepDir && fi.IsDir() {
		return nil
	}
	delete(u.dirTimes, target)
	return os.RemoveAll(target)
}

// create makes the filesystem object for hdr at target, which does not
// exist (or is a directory, for a directory entry). It reports false for
// entries it skips or that carry no metadata of their own (hard links).
func (u *unpacker) create(target string, hdr *tar.Header, r io.Reader) (bool, error) {
	mode := uint32(hdr.Mode) & 0o7777
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return false, err
		}
	case tar.TypeReg:
		if u.limit > 0 && hdr.Size > u.limit-u.used {
			return false, fmt.Errorf("%w: its files hold more than %d bytes", ErrTooLarge, u.limit)
		}
		u.used += hdr.Size
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return false, err
		}
		err = copySparse(f, r, hdr.Size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return false, err
		}
	case tar.TypeSymlink:
		if err := os.Symlink(hdr.Linkname, target); err != nil {
			return false, err
		}
	case tar.TypeLink:
		src, err := u.resolveLink(hdr.Linkname)
		if err != nil {
			return false, err
		}
		// link(2) does not follow a symlink at src.
		return false, os.Link(src, target)
	case tar.TypeChar:
		return true, unix.Mknod(target, unix.S_IFCHR|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))))
	case tar.TypeBlock:
		return true, unix.Mknod(target, unix.S_IFBLK|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))))
	case tar.TypeFifo:
		return true, unix.Mkfifo(target, mode)
	default:
		return false, nil
	}
	return true, nil
}

// sparseBlock is the unit in which zeros become holes (a common file
// system block size multiple).
const sparseBlock = 32 << 10

// copySparse copies size bytes from r to the new file f, seeking over
// blocks of zeros instead of writing them.
func copySparse(f *os.File, r io.Reader, size int64) error {
	buf := make([]byte, sparseBlock)
	var zeros [sparseBlock]byte
	var off int64
	for off < size {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), size-off)])
		if n > 0 {
			if bytes.Equal(buf[:n], zeros[:n]) {
				if _, err := f.Seek(int64(n), io.SeekCurrent); err != nil {
					return err
				}
			} else if _, err := f.Write(buf[:n]); err != nil {
				return err
			}
			off += int64(n)
		}
		if err != nil {
			return fmt.Errorf("reading file content: %w", err)
		}
	}
	// A trailing hole needs the size set explicitly.
	return f.Truncate(size)
}

// resolveLink returns the host path of a hard link's target, which must
// exist inside the layer root.
func (u *unpacker) resolveLink(linkname string) (string, error) {
	dir, base := path.Split(strings.TrimPrefix(linkname, "/"))
	if base == "" || base == "." || base == ".." {
		return "", fmt.Errorf("%w: hard link to %q", ErrUnsafeLayer, linkname)
	}
	parent, err := u.resolve(dir, false)
	if err != nil {
		return "", fmt.Errorf("hard link to %q: %w", linkname, err)
	}
	src := filepath.Join(parent, base)
	if _, err := os.Lstat(src); err != nil {
		return "", fmt.Errorf("hard link to %q: %w", linkname, err)
	}
	return src, nil
}

// setMeta applies ownership, xattrs, mode and times from hdr to target.
// Ownership goes first because chown clears setuid bits.
func (u *unpacker) setMeta(target string, hdr *tar.Header) error {
	if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	for key, value := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(key, xattrPrefix)
		if !ok {
			continue
		}
		err := unix.Lsetxattr(target, name, []byte(value), 0)
		if err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("setting xattr %s: %w", name, err)
		}
	}
	if hdr.Typeflag == tar.TypeSymlink {
		return setMtime(target, hdr.ModTime)
	}
	if err := unix.Chmod(target, uint32(hdr.Mode)&0o7777); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeDir {
		u.dirTimes[target] = hdr.ModTime
		return nil
	}
	return setMtime(target, hdr.ModTime)
}

// setMtime sets both access and modification time of path, not following
// a symlink there.
func setMtime(path string, mtime time.Time) error {
	ts, err := unix.TimeToTimespec(mtime)
	if err != nil {
		return err
	}
	return unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}
