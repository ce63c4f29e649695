package testimage

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// ErrNotStatic is returned for a busybox binary that needs a dynamic loader,
// which an image holding nothing but busybox cannot provide.
var ErrNotStatic = errors.New("binary is not statically linked")

// checkStatic reports ErrNotStatic when the ELF file at path names a program
// interpreter (the dynamic loader).
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s: %w", path, ErrNotStatic)
		}
	}
	return nil
}

// applets returns the applet names the busybox binary at path provides, as
// printed by `busybox --list`, without "busybox" itself.
func applets(path string) ([]string, error) {
	out, err := exec.Command(path, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing busybox applets: %w", err)
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" || name == "busybox" || strings.ContainsRune(name, '/') {
			continue
		}
		names = append(names, name)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading busybox applet list: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("busybox %s lists no applets", path)
	}
	return names, nil
}
