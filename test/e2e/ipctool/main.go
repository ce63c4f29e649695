// Command ipctool creates or looks up a System V shared-memory segment, so
// end-to-end tests can show that containers of a pod share an IPC
// namespace (Debian's busybox has no ipcmk/ipcs). It is built statically and
// added to the test image.
//
//	ipctool create KEY   create a 4 KiB segment with key KEY
//	ipctool lookup KEY   exit 0 if a segment with key KEY is visible
package main

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: ipctool create|lookup KEY")
		os.Exit(2)
	}
	key, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad key:", err)
		os.Exit(2)
	}
	flags := 0o600
	if os.Args[1] == "create" {
		flags |= unix.IPC_CREAT
	}
	id, err := unix.SysvShmGet(key, 4096, flags)
	if err != nil {
		fmt.Printf("shm key %d: %v\n", key, err)
		os.Exit(1)
	}
	fmt.Printf("shm key %d id %d visible\n", key, id)
}
