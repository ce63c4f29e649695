package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tarEntry is one entry of a crafted layer; body is the content of
// regular files.
type tarEntry struct {
	hdr  tar.Header
	body string
}

func buildTar(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := e.hdr
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		if hdr.Format == tar.FormatUnknown && len(hdr.PAXRecords) > 0 {
			hdr.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatalf("writing tar header %s: %v", hdr.Name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func file(name, body string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name}, body: body}
}

func dir(name string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

func symlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

func hardlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target}}
}

// paxSparseFile is a layer with one PAX (GNU 1.0) sparse file of size
// bytes that are all a hole: a few hundred bytes that unpack to anything.
// archive/tar writes no sparse files, so the blocks are made by hand.
func paxSparseFile(name string, size int64) []byte {
	record := func(k, v string) string {
		base := len(k) + len(v) + 3 // " ", "=" and "\n"
		n := base + 1
		for n != base+len(fmt.Sprint(n)) {
			n = base + len(fmt.Sprint(n))
		}
		return fmt.Sprintf("%d %s=%s\n", n, k, v)
	}
	pax := record("GNU.sparse.major", "1") + record("GNU.sparse.minor", "0") +
		record("GNU.sparse.name", name) + record("GNU.sparse.realsize", fmt.Sprint(size))
	sparseMap := "1\n0\n0\n" // one region: offset 0, length 0
	var out bytes.Buffer
	out.Write(ustarHeader("PaxHeaders/"+name, 'x', int64(len(pax))))
	out.Write(padBlock([]byte(pax)))
	// The data section is the map, padded to a block, then the data.
	out.Write(ustarHeader(name, '0', 512))
	out.Write(padBlock([]byte(sparseMap)))
	out.Write(make([]byte, 1024)) // end of archive
	return out.Bytes()
}

func ustarHeader(name string, typ byte, size int64) []byte {
	b := make([]byte, 512)
	copy(b[0:], name)
	copy(b[100:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	copy(b[124:], fmt.Sprintf("%011o\x00", size))
	copy(b[136:], "00000000000\x00")
	b[156] = typ
	copy(b[257:], "ustar\x0000")
	copy(b[148:], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func padBlock(b []byte) []byte {
	return append(b, make([]byte, (512-len(b)%512)%512)...)
}

func lstat(t *testing.T, path string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

func TestApplyLayer(t *testing.T) {
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		desc    string
		entries []tarEntry
		raw     []byte // the layer, when entries cannot say it
		limit   int64  // bytes the files may hold; 0: none
		wantErr error  // nil: success
		check   func(t *testing.T, root, outside string)
	}{
		{
			desc:    "whiteout through escaping symlink rejected",
			entries: []tarEntry{symlink("a", "../.."), file("a/.wh.evil", "")},
			wantErr: ErrUnsafeLayer,
		},
		{
			desc:    "whiteout of dotdot rejected",
			entries: []tarEntry{dir("a/"), file("a/.wh..", "")},
			wantErr: ErrUnsafeLayer,
		},
		{
			desc:    "zeros stored as holes",
			entries: []tarEntry{file("sparse", "start"+strings.Repeat("\x00", 8<<20)+"end")},
			check: func(t *testing.T, root, _ string) {
				st := lstat(t, filepath.Join(root, "sparse"))
				if st.Size != 8<<20+8 || st.Blocks*512 > 1<<20 {
					t.Errorf("size %d with %d bytes allocated, want 8 MiB in under 1 MiB", st.Size, st.Blocks*512)
				}
				data, _ := os.ReadFile(filepath.Join(root, "sparse"))
				if !strings.HasPrefix(string(data), "start\x00") || !strings.HasSuffix(string(data), "\x00end") {
					t.Errorf("content changed")
				}
			},
		},
		{
			desc:    "files over the limit refused",
			entries: []tarEntry{file("a", strings.Repeat("x", 600)), file("b", strings.Repeat("x", 600))},
			limit:   1000,
			wantErr: ErrTooLarge,
		},
		{
			desc:    "sparse bomb refused before it is read",
			raw:     paxSparseFile("bomb", 1<<40),
			limit:   1 << 30,
			wantErr: ErrTooLarge,
		},
		{
			desc: "declared sparse file stored sparse",
			raw:  paxSparseFile("sparse", 64<<20),
			check: func(t *testing.T, root, _ string) {
				st := lstat(t, filepath.Join(root, "sparse"))
				if st.Size != 64<<20 || st.Blocks*512 > 1<<20 {
					t.Errorf("size %d with %d bytes allocated, want 64 MiB in under 1 MiB", st.Size, st.Blocks*512)
				}
			},
		},
		{
			desc: "ownership mode and mtimes kept",
			entries: []tarEntry{
				{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o750, Uid: 10, Gid: 20, ModTime: mtime}},
				{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "etc/shadow", Mode: 0o4640, Uid: 1000, Gid: 2000, ModTime: mtime}, body: "secret"},
				symlink("etc/link", "shadow"),
			},
			check: func(t *testing.T, root, _ string) {
				st := lstat(t, filepath.Join(root, "etc/shadow"))
				if st.Uid != 1000 || st.Gid != 2000 || st.Mode&0o7777 != 0o4640 || st.Mtim.Sec != mtime.Unix() {
					t.Errorf("etc/shadow: uid %d gid %d mode %o mtime %d", st.Uid, st.Gid, st.Mode&0o7777, st.Mtim.Sec)
				}
				st = lstat(t, filepath.Join(root, "etc"))
				if st.Uid != 10 || st.Gid != 20 || st.Mode&0o7777 != 0o750 || st.Mtim.Sec != mtime.Unix() {
					t.Errorf("etc: uid %d gid %d mode %o mtime %d", st.Uid, st.Gid, st.Mode&0o7777, st.Mtim.Sec)
				}
				if got, _ := os.Readlink(filepath.Join(root, "etc/link")); got != "shadow" {
					t.Errorf("etc/link -> %q", got)
				}
			},
		},
		{
			desc:    "implicit parents created",
			entries: []tarEntry{file("a/b/c", "x")},
			check: func(t *testing.T, root, _ string) {
				if st := lstat(t, filepath.Join(root, "a/b")); st.Mode&0o7777 != 0o755 {
					t.Errorf("a/b mode %o", st.Mode&0o7777)
				}
			},
		},
		{
			desc:    "whiteout file",
			entries: []tarEntry{dir("d/"), file("d/.wh.gone", "")},
			check: func(t *testing.T, root, _ string) {
				st := lstat(t, filepath.Join(root, "d/gone"))
				if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
					t.Errorf("d/gone: mode %o rdev %d, want char device 0:0", st.Mode, st.Rdev)
				}
				if _, err := os.Lstat(filepath.Join(root, "d/.wh.gone")); err == nil {
					t.Error(".wh.gone was extracted as a file")
				}
			},
		},
		{
			desc:    "opaque directory",
			entries: []tarEntry{dir("d/"), file("d/.wh..wh..opq", "")},
			check: func(t *testing.T, root, _ string) {
				buf := make([]byte, 8)
				n, err := unix.Lgetxattr(filepath.Join(root, "d"), "trusted.overlay.opaque", buf)
				if err != nil || string(buf[:n]) != "y" {
					t.Errorf("opaque xattr = %q, %v", buf[:n], err)
				}
			},
		},
		{
			desc:    "dotdot traversal rejected",
			entries: []tarEntry{file("../evil", "x")},
			wantErr: ErrUnsafeLayer,
		},
		{
			desc:    "inner dotdot rejected",
			entries: []tarEntry{dir("a/"), file("a/../../evil", "x")},
			wantErr: ErrUnsafeLayer,
		},
		{
			desc:    "symlink escape rejected",
			entries: []tarEntry{symlink("a", "../.."), file("a/evil", "x")},
			wantErr: ErrUnsafeLayer,
		},
		{
			desc:    "absolute symlink then dotdot rejected",
			entries: []tarEntry{symlink("evil", "/"), file("evil/../x", "x")},
			wantErr: ErrUnsafeLayer,
		},
		{
			desc:    "absolute symlink resolved in root",
			entries: []tarEntry{dir("usr/"), dir("usr/lib/"), symlink("lib", "/usr/lib"), file("lib/x", "hi")},
			check: func(t *testing.T, root, _ string) {
				if b, err := os.ReadFile(filepath.Join(root, "usr/lib/x")); err != nil || string(b) != "hi" {
					t.Errorf("usr/lib/x = %q, %v", b, err)
				}
				if fi, err := os.Lstat(filepath.Join(root, "lib")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Errorf("lib is no longer a symlink: %v", err)
				}
			},
		},
		{
			desc:    "file replaces symlink instead of following it",
			entries: []tarEntry{symlink("f", "OUTSIDE"), file("f", "new")},
			check: func(t *testing.T, root, outside string) {
				if b, _ := os.ReadFile(outside); string(b) != "keep" {
					t.Errorf("outside file was overwritten: %q", b)
				}
				if fi, err := os.Lstat(filepath.Join(root, "f")); err != nil || !fi.Mode().IsRegular() {
					t.Errorf("f is not a regular file: %v", err)
				}
			},
		},
		{
			desc:    "hard link escape rejected",
			entries: []tarEntry{hardlink("h", "../outside")},
			wantErr: ErrUnsafeLayer,
		},
		{
			desc:    "hard link through escaping symlink rejected",
			entries: []tarEntry{symlink("up", "../"), hardlink("h", "up/outside")},
			wantErr: ErrUnsafeLayer,
		},
		{
			desc:    "hard link inside root",
			entries: []tarEntry{file("a", "data"), hardlink("b", "a"), hardlink("c", "/a")},
			check: func(t *testing.T, root, _ string) {
				a, b, c := lstat(t, filepath.Join(root, "a")), lstat(t, filepath.Join(root, "b")), lstat(t, filepath.Join(root, "c"))
				if a.Ino != b.Ino || a.Ino != c.Ino || a.Nlink != 3 {
					t.Errorf("inodes %d %d %d nlink %d", a.Ino, b.Ino, c.Ino, a.Nlink)
				}
			},
		},
		{
			desc: "device nodes and fifo",
			entries: []tarEntry{
				{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}},
				{hdr: tar.Header{Typeflag: tar.TypeBlock, Name: "dev/sda", Mode: 0o660, Devmajor: 8, Devminor: 0, Gid: 6}},
				{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "run/fifo", Mode: 0o600}},
			},
			check: func(t *testing.T, root, _ string) {
				st := lstat(t, filepath.Join(root, "dev/null"))
				if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 || st.Mode&0o777 != 0o666 {
					t.Errorf("dev/null: mode %o rdev %d:%d", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
				}
				st = lstat(t, filepath.Join(root, "dev/sda"))
				if st.Mode&unix.S_IFMT != unix.S_IFBLK || unix.Major(st.Rdev) != 8 || st.Gid != 6 {
					t.Errorf("dev/sda: mode %o rdev %d gid %d", st.Mode, st.Rdev, st.Gid)
				}
				if st := lstat(t, filepath.Join(root, "run/fifo")); st.Mode&unix.S_IFMT != unix.S_IFIFO {
					t.Errorf("run/fifo: mode %o", st.Mode)
				}
			},
		},
		{
			desc: "xattrs from PAX records",
			entries: []tarEntry{{
				hdr:  tar.Header{Typeflag: tar.TypeReg, Name: "bin/ping", PAXRecords: map[string]string{"SCHILY.xattr.trusted.peapod": "v"}},
				body: "elf",
			}},
			check: func(t *testing.T, root, _ string) {
				buf := make([]byte, 8)
				n, err := unix.Lgetxattr(filepath.Join(root, "bin/ping"), "trusted.peapod", buf)
				if err != nil || string(buf[:n]) != "v" {
					t.Errorf("xattr = %q, %v", buf[:n], err)
				}
			},
		},
		{
			desc:    "later entry replaces directory",
			entries: []tarEntry{dir("x/"), file("x/y", "1"), file("x", "file")},
			check: func(t *testing.T, root, _ string) {
				if b, err := os.ReadFile(filepath.Join(root, "x")); err != nil || string(b) != "file" {
					t.Errorf("x = %q, %v", b, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			base := t.TempDir()
			root := filepath.Join(base, "layer")
			outside := filepath.Join(base, "outside")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(outside, []byte("keep"), 0o644); err != nil {
				t.Fatal(err)
			}
			entries := append([]tarEntry(nil), tt.entries...)
			for i := range entries {
				if entries[i].hdr.Linkname == "OUTSIDE" {
					entries[i].hdr.Linkname = outside
				}
			}
			data := tt.raw
			if data == nil {
				data = buildTar(t, entries)
			}
			_, err := applyLayer(context.Background(), root, bytes.NewReader(data), tt.limit)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("applyLayer error = %v, want %v", err, tt.wantErr)
				}
				if _, err := os.Lstat(filepath.Join(base, "evil")); err == nil {
					t.Error("an entry was written outside the layer root")
				}
				return
			}
			if err != nil {
				t.Fatalf("applyLayer: %v", err)
			}
			if b, _ := os.ReadFile(outside); string(b) != "keep" {
				t.Errorf("file outside the root changed: %q", b)
			}
			if tt.check != nil {
				tt.check(t, root, outside)
			}
		})
	}
}
