package testimage

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os/exec"
	"path"
	"runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NamedImage is an image with the names it is pushed under.
type NamedImage struct {
	Names []string
	Image v1.Image
}

// Standin names: the stand-in binary (one static multi-call program)
// acts as the program it is run as.
const (
	StandinNginx  = "nginx"            // a web server on :80 (or $LISTEN_PORT) posing as nginx
	StandinHttpd  = "httpd-foreground" // the same, logging as httpd
	StandinNNP    = "nnp"              // prints its effective uid
	StandinPgrep  = "pgrep"            // procps pgrep, which busybox lacks here
	StandinIpcs   = "ipcs"             // util-linux ipcs -m, which busybox lacks here
	StandinPause  = "pause"            // the pause process
	criToolsRepos = "gcr.io/k8s-staging-cri-tools/"
	e2eRepos      = "registry.k8s.io/e2e-test-images/"
)

// CritestImages are the images the CRI validation suite (critest of
// sigs.k8s.io/cri-tools) pulls, made offline: a root of Debian's
// dynamically linked busybox (every applet a hard link in /bin), its C
// library and account files, plus the stand-in binary standin (static)
// where critest needs a program busybox does not have. Each test image
// that critest compares by ID is distinct.
func CritestImages(busybox, standin string) ([]NamedImage, error) {
	libs, err := SharedLibraries(busybox)
	if err != nil {
		return nil, err
	}
	names, err := applets(busybox)
	if err != nil {
		return nil, err
	}
	base, err := rootLayer(busybox, names, libs, passwd+"www-data:x:33:33:www-data:/var/www:/bin/sh\n", group+"www-data:x:33:\n")
	if err != nil {
		return nil, err
	}
	tools, err := standinLayer(standin, map[string]int64{"/bin/" + StandinPgrep: 0o755, "/bin/" + StandinIpcs: 0o755})
	if err != nil {
		return nil, err
	}
	busyboxImg, err := image(v1.Config{Cmd: []string{"sh"}}, base, tools)
	if err != nil {
		return nil, err
	}
	// busybox, and the names critest's image benchmarks pull.
	busyboxNames := []string{e2eRepos + "busybox:1.29-2"}
	for _, tag := range []string{"1.35.0-glibc", "1-uclibc", "1", "1-glibc", "1-musl"} {
		busyboxNames = append(busyboxNames, "public.ecr.aws/docker/library/busybox:"+tag)
	}
	out := []NamedImage{{Names: busyboxNames, Image: busyboxImg}}

	add := func(names []string, cfg v1.Config, layers ...v1.Layer) error {
		img, err := image(cfg, layers...)
		if err != nil {
			return fmt.Errorf("image %s: %w", names[0], err)
		}
		out = append(out, NamedImage{Names: names, Image: img})
		return nil
	}
	nginx, err := standinLayer(standin, map[string]int64{"/usr/sbin/" + StandinNginx: 0o755})
	if err != nil {
		return nil, err
	}
	web := v1.Config{Cmd: []string{StandinNginx, "-g", "daemon off;"}, ExposedPorts: map[string]struct{}{"80/tcp": {}}}
	if err := add([]string{e2eRepos + "nginx:1.14-2"}, web, base, tools, nginx); err != nil {
		return nil, err
	}
	// cri-tools' images/hostnet-nginx: nginx on port 12003 for a
	// host-network pod.
	hostnet := v1.Config{Cmd: web.Cmd, Env: []string{"LISTEN_PORT=12003"}, ExposedPorts: map[string]struct{}{"12003/tcp": {}}}
	if err := add([]string{criToolsRepos + "hostnet-nginx-" + runtime.GOARCH + ":latest"}, hostnet, base, nginx); err != nil {
		return nil, err
	}
	httpd, err := standinLayer(standin, map[string]int64{"/usr/local/bin/" + StandinHttpd: 0o755})
	if err != nil {
		return nil, err
	}
	if err := add([]string{e2eRepos + "httpd:2.4.39-4"}, v1.Config{Cmd: []string{StandinHttpd}, ExposedPorts: map[string]struct{}{"80/tcp": {}}}, base, httpd); err != nil {
		return nil, err
	}
	// setuid and setgid root, as k8s test/images/nonewprivs.
	nnp, err := standinLayer(standin, map[string]int64{"/usr/local/bin/" + StandinNNP: 0o6755})
	if err != nil {
		return nil, err
	}
	if err := add([]string{e2eRepos + "nonewprivs:1.3"}, v1.Config{Cmd: []string{StandinNNP}}, base, nnp); err != nil {
		return nil, err
	}
	pause, err := standinLayer(standin, map[string]int64{"/" + StandinPause: 0o755})
	if err != nil {
		return nil, err
	}
	pauseNames := []string{"registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10.1", "k8s.gcr.io/pause:3.9"}
	if err := add(pauseNames, v1.Config{Entrypoint: []string{"/" + StandinPause}, User: "65535:65535"}, pause); err != nil {
		return nil, err
	}
	// cri-tools' images/image-predefined-group: user 1000 in a group of
	// the image's own.
	grouped, err := rootLayer(busybox, names, libs,
		passwd+"default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh\n",
		group+"default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n")
	if err != nil {
		return nil, err
	}
	if err := add([]string{criToolsRepos + "test-image-predefined-group:latest"}, v1.Config{Cmd: []string{"sh"}, User: "1000"}, grouped); err != nil {
		return nil, err
	}
	// Images only pulled, listed and inspected: one small distinct
	// layer each (cri-tools' images/image-test adds a file named after
	// the image), users as in images/image-user.
	tiny := []struct {
		names []string
		user  string
	}{
		{[]string{criToolsRepos + "test-image-user-uid:latest"}, "1002"},
		{[]string{criToolsRepos + "test-image-user-username:latest"}, "www-data"},
		{[]string{criToolsRepos + "test-image-user-uid-group:latest"}, "1003:1004"},
		{[]string{criToolsRepos + "test-image-user-username-group:latest"}, "www-data:1004"},
		{[]string{criToolsRepos + "test-image-tag:test"}, ""},
		{[]string{criToolsRepos + "test-image-tag:all"}, ""},
		{[]string{criToolsRepos + "test-image-latest:latest"}, ""},
		{[]string{criToolsRepos + "test-image-1:latest"}, ""},
		{[]string{criToolsRepos + "test-image-2:latest"}, ""},
		{[]string{criToolsRepos + "test-image-3:latest"}, ""},
		{[]string{criToolsRepos + "test-image-tags:1", criToolsRepos + "test-image-tags:2", criToolsRepos + "test-image-tags:3"}, ""},
	}
	for _, t := range tiny {
		lw := newLayerWriter()
		if err := lw.bytes(path.Base(strings.ReplaceAll(t.names[0], ":", "-")), 0o644, []byte(t.names[0]+"\n")); err != nil {
			return nil, err
		}
		l, err := lw.layer()
		if err != nil {
			return nil, err
		}
		if err := add(t.names, v1.Config{Cmd: []string{"sh"}, User: t.user}, base, l); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// image assembles a single-platform OCI image of layers (base first).
func image(cfg v1.Config, layers ...v1.Layer) (v1.Image, error) {
	if len(cfg.Env) == 0 || !strings.HasPrefix(cfg.Env[0], "PATH=") {
		cfg.Env = append([]string{defaultPath}, cfg.Env...)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: runtime.GOARCH, OS: "linux", Created: v1.Time{Time: epoch}, Config: cfg,
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	adds := make([]mutate.Addendum, len(layers))
	for i, l := range layers {
		adds[i] = mutate.Addendum{Layer: l, MediaType: types.OCILayer,
			History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "peapod testimage"}}
	}
	return mutate.Append(img, adds...)
}

// rootLayer is a system root of a dynamic busybox: the binary and its
// applets' hard links in /bin, the shared libraries at the paths the
// binary names, the account files and the usual directories.
func rootLayer(busybox string, names, libs []string, passwd, group string) (v1.Layer, error) {
	lw := newLayerWriter()
	dirs := map[string]bool{}
	mkdir := func(name string, mode int64) error {
		if dirs[name] {
			return nil
		}
		dirs[name] = true
		return lw.dir(name, mode)
	}
	for _, d := range append(baseDirs, []struct {
		name string
		mode int64
	}{{"home", 0o755}, {"usr", 0o755}, {"usr/local", 0o755}, {"usr/local/bin", 0o755}, {"usr/sbin", 0o755},
		{"var/run", 0o755}}...) {
		if err := mkdir(d.name, d.mode); err != nil {
			return nil, err
		}
	}
	if err := lw.file("bin/busybox", busybox, 0o755); err != nil {
		return nil, fmt.Errorf("adding /bin/busybox: %w", err)
	}
	for _, name := range names {
		if err := lw.hardlink("bin/"+name, "bin/busybox"); err != nil {
			return nil, err
		}
	}
	for _, lib := range libs {
		name := strings.TrimPrefix(path.Clean(lib), "/")
		for _, dir := range parents(name) {
			if err := mkdir(dir, 0o755); err != nil {
				return nil, err
			}
		}
		if err := lw.file(name, lib, 0o755); err != nil {
			return nil, fmt.Errorf("adding %s: %w", lib, err)
		}
	}
	if err := lw.bytes("etc/passwd", 0o644, []byte(passwd)); err != nil {
		return nil, err
	}
	if err := lw.bytes("etc/group", 0o644, []byte(group)); err != nil {
		return nil, err
	}
	return lw.layer()
}

// standinLayer holds the stand-in binary at each path, with its mode
// (owned by root).
func standinLayer(standin string, at map[string]int64) (v1.Layer, error) {
	lw := newLayerWriter()
	have := map[string]bool{}
	for _, d := range baseDirs {
		have[d.name] = true
	}
	for _, p := range sortedKeys(at) {
		name := strings.TrimPrefix(p, "/")
		for _, dir := range parents(name) {
			if !have[dir] {
				have[dir] = true
				if err := lw.dir(dir, 0o755); err != nil {
					return nil, err
				}
			}
		}
		if err := lw.file(name, standin, at[p]); err != nil {
			return nil, fmt.Errorf("adding %s: %w", p, err)
		}
	}
	return lw.layer()
}

func sortedKeys(m map[string]int64) []string { return slices.Sorted(maps.Keys(m)) }

// SharedLibraries lists the shared libraries the dynamic executable bin
// loads, the loader included, as ldd resolves them on this host.
func SharedLibraries(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0])
		}
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("ldd %s: no libraries (is it static?)", bin)
	}
	return libs, nil
}
