// Package failpoint lets tests crash peapod at a named step, the way
// containerd's failpoint package lets its integration tests break a verb
// half way: a Set names steps and, for each, on which hit the process dies
// with SIGKILL, so that recovery can be tested at exactly the points where
// a real crash would hurt most. Production runs with a nil Set, which
// costs one nil check per step.
package failpoint

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// EnvVar holds the failpoints of a daemon under test, comma-separated:
// "name" or "name=N" dies at the Nth hit of name (the first when N is left
// out); "name=errorN" makes the first N passes of an error failpoint fail.
const EnvVar = "PEAPOD_FAILPOINTS"

// ErrInjected is what an armed error failpoint returns.
var ErrInjected = errors.New("injected failure")

// Set is a set of armed failpoints. The nil Set has none.
type Set struct {
	mu     sync.Mutex
	remain map[string]int // kill failpoints: hits left
	errors map[string]int // error failpoints: failures left
	kill   func()
}

// Parse reads a failpoint specification; "" gives the nil Set.
func Parse(spec string) (*Set, error) { return New(spec, killSelf) }

// New is Parse with what happens at an armed hit: kill must not return
// (in-process tests block the crashing goroutine for ever, so that nothing
// after the failpoint runs, deferred rollbacks included).
func New(spec string, kill func()) (*Set, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	s := &Set{remain: map[string]int{}, errors: map[string]int{}, kill: kill}
	for _, item := range strings.Split(spec, ",") {
		name, count, found := strings.Cut(strings.TrimSpace(item), "=")
		if name == "" {
			return nil, fmt.Errorf("failpoint %q has no name", item)
		}
		target := s.remain
		if c, ok := strings.CutPrefix(count, "error"); ok {
			target, count = s.errors, c
		}
		n := 1
		if found && count != "" {
			var err error
			if n, err = strconv.Atoi(count); err != nil || n < 1 {
				return nil, fmt.Errorf("failpoint %q: the count must be a positive integer", item)
			}
		}
		target[name] = n
	}
	return s, nil
}

// Fail passes the error failpoint name: while it is armed, it returns an
// error wrapping ErrInjected.
func (s *Set) Fail(name string) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errors[name] <= 0 {
		return nil
	}
	s.errors[name]--
	return fmt.Errorf("failpoint %s: %w", name, ErrInjected)
}

// Hit passes the failpoint name: at its armed hit the process is killed
// and Hit does not return.
func (s *Set) Hit(name string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	n, armed := s.remain[name]
	if armed {
		n--
		s.remain[name] = n
	}
	s.mu.Unlock()
	if armed && n == 0 {
		s.kill()
	}
}

func killSelf() {
	fmt.Fprintf(os.Stderr, "failpoint: killing peapod (pid %d)\n", os.Getpid())
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // SIGKILL cannot be caught; wait for it to land
}
