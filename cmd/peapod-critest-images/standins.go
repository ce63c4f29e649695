package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/peapod/peapod/internal/testimage"
)

// standins are the programs this binary acts as when run under their
// names, each returning its exit status.
var standins = map[string]func(args []string) int{
	testimage.StandinNginx: nginx,
	testimage.StandinHttpd: httpd,
	testimage.StandinNNP:   nnp,
	testimage.StandinPgrep: pgrep,
	testimage.StandinIpcs:  ipcs,
	testimage.StandinPause: pause,
	masterTitle:            serveNginx,
}

// masterTitle starts the command line nginx's master process shows,
// which critest looks for in a container's /proc/1/cmdline.
const masterTitle = "nginx: master process"

// nginx re-runs itself under nginx's master process title (the
// executable stays /usr/sbin/nginx, so `pidof nginx` finds it).
func nginx(args []string) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nginx:", err)
		return 1
	}
	argv := []string{masterTitle, "nginx"}
	err = syscall.Exec(exe, append(argv, args...), os.Environ())
	fmt.Fprintln(os.Stderr, "nginx:", err)
	return 1
}

func serveNginx(args []string) int {
	if err := os.WriteFile("/var/run/nginx.pid", []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "nginx: writing pid file:", err)
	}
	return serve("nginx")
}

func httpd(args []string) int {
	fmt.Fprintln(os.Stderr, "httpd: peapod's stand-in for Apache httpd, serving / on port "+port())
	return serve("httpd")
}

func port() string {
	if p := os.Getenv("LISTEN_PORT"); p != "" {
		return p
	}
	return "80"
}

// serve answers 200 to every request on the port until SIGTERM, SIGINT
// or SIGQUIT.
func serve(name string) int {
	l, err := net.Listen("tcp", ":"+port())
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<html><body><h1>%s stand-in</h1></body></html>\n", name)
	})}
	go srv.Serve(l)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	<-stop
	return 0
}

// nnp prints the effective uid, as k8s test/images/nonewprivs: setuid
// root, it shows 0 unless no_new_privs kept the caller's.
func nnp(args []string) int {
	fmt.Printf("Effective uid: %d\n", os.Geteuid())
	return 0
}

// pgrep prints the PIDs of processes whose name (with -f: command line)
// matches the pattern, itself excepted; status 1 when none does, 2 for
// bad usage. Unlike procps it never writes to stderr for vanished
// processes.
func pgrep(args []string) int {
	full := false
	var pattern string
	for _, a := range args {
		switch {
		case a == "-f":
			full = true
		case strings.HasPrefix(a, "-"):
			fmt.Fprintf(os.Stderr, "pgrep: unsupported option %s\n", a)
			return 2
		default:
			pattern = a
		}
	}
	re, err := regexp.Compile(pattern)
	if err != nil || pattern == "" {
		fmt.Fprintln(os.Stderr, "pgrep: usage: pgrep [-f] PATTERN")
		return 2
	}
	entries, _ := os.ReadDir("/proc")
	found := 1
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var text []byte
		if full {
			text, err = os.ReadFile("/proc/" + e.Name() + "/cmdline")
			text = []byte(strings.TrimSpace(strings.ReplaceAll(string(text), "\x00", " ")))
		} else {
			text, err = os.ReadFile("/proc/" + e.Name() + "/comm")
			text = []byte(strings.TrimSpace(string(text)))
		}
		if err == nil && re.Match(text) {
			fmt.Println(pid)
			found = 0
		}
	}
	return found
}

// ipcs -m lists the System V shared memory segments of the IPC
// namespace, as util-linux prints them (owner as a number).
func ipcs(args []string) int {
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipcs:", err)
		return 1
	}
	defer f.Close()
	fmt.Print("\n------ Shared Memory Segments --------\n")
	fmt.Printf("%-10s %-10s %-10s %-10s %-10s %-10s %-10s\n", "key", "shmid", "owner", "perms", "bytes", "nattch", "status")
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// key shmid perms size cpid lpid nattch uid gid ...
		c := strings.Fields(sc.Text())
		if len(c) < 8 {
			continue
		}
		key, _ := strconv.ParseInt(c[0], 10, 64)
		perms, _ := strconv.ParseInt(c[2], 10, 64)
		fmt.Printf("0x%08x %-10s %-10s %-10o %-10s %-10s\n", uint32(key), c[1], c[7], perms&0o777, c[3], c[6])
	}
	fmt.Println()
	return 0
}

// pause waits for SIGTERM or SIGINT, reaping the children a PID 1
// inherits.
func pause(args []string) int {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			return 0
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
	return 0
}
