package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peapod/peapod/internal/testimage"
)

// TestImageGC runs image garbage collection on a node whose image file
// system is "full" (a high threshold of 1%): the image no container uses
// is removed with its layers, the one a pod uses stays, the node reports
// what it could not free as upstream (FreeDiskSpaceFailed), and
// status.images lists the node's images.
func TestImageGC(t *testing.T) {
	// A second image, with a layer of its own.
	busybox, err := testimage.FetchBusybox(context.Background(), testimage.DefaultCacheDir())
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "spare.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(t.TempDir(), "marker")
	if err := os.WriteFile(extra, []byte("spare\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := testimage.BusyboxImage(f, busybox, "docker.io/library/spare:1", []testimage.File{{Path: "/marker", HostPath: extra, Mode: 0o644}}); err != nil {
		t.Fatal(err)
	}
	f.Close()

	d := startDaemon(t, withArgs("--image-gc-high-threshold", "1", "--image-gc-low-threshold", "0",
		"--image-minimum-gc-age", "3s", "--image-gc-period", "1s"))
	d.mustKubectl("1.33", "", "run", "user", "--image", "busybox", "--image-pull-policy", "IfNotPresent", "--", "sleep", "300")
	d.waitRunning("1.33", "default", "user", "1/1")
	layers := func() []string {
		entries, _ := os.ReadDir(d.path("data/images/layers"))
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	before := layers()
	if out, err := exec.Command(peapodBin, "image", "import", "--data-dir", d.path("data"), tarPath).CombinedOutput(); err != nil {
		t.Fatalf("importing spare: %v\n%s", err, out)
	}
	if n := len(layers()); n != len(before)+1 {
		t.Fatalf("layers after importing spare: %d, want %d", n, len(before)+1)
	}
	list := func() string {
		out, err := exec.Command(peapodBin, "image", "list", "--data-dir", d.path("data")).CombinedOutput()
		if err != nil {
			t.Fatalf("image list: %v\n%s", err, out)
		}
		return string(out)
	}
	// Younger than --image-minimum-gc-age: kept for now.
	time.Sleep(1500 * time.Millisecond)
	if !strings.Contains(list(), "spare") {
		t.Fatalf("spare removed before its minimum age: %s", list())
	}
	d.waitFor("spare to be garbage collected", 30*time.Second, func() (bool, error) {
		return !strings.Contains(list(), "spare"), nil
	})
	if !strings.Contains(list(), "busybox") {
		t.Errorf("the image a pod uses was removed: %s", list())
	}
	if got := layers(); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Errorf("layers %v, want %v (spare's gone, busybox's kept)", got, before)
	}
	d.waitFor("a FreeDiskSpaceFailed event", 30*time.Second, func() (bool, error) {
		out, _, err := d.kubectl("1.33", "", "get", "events", "-A", "--field-selector", "reason=FreeDiskSpaceFailed", "-o", "jsonpath={.items[*].message}")
		return err == nil && strings.Contains(out, "Failed to garbage collect required amount of images. Attempted to free ") &&
			strings.Contains(out, "bytes eligible to free."), nil
	})
	if row := d.podRow("1.33", "default", "user"); len(row) < 3 || row[2] != "Running" {
		t.Errorf("the pod using busybox: %v", row)
	}
	if out := d.mustKubectl("1.33", "", "get", "node", "-o", "jsonpath={.items[0].status.images[*].names}"); !strings.Contains(out, "docker.io/library/busybox:latest") {
		t.Errorf("node status.images: %s", out)
	}
}
