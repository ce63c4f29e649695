package cri

import (
	"testing"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestStopSignal(t *testing.T) {
	for _, tc := range []struct {
		image   string
		cri     runtimeapi.Signal
		want    unix.Signal
		name    string
		roundup runtimeapi.Signal
	}{
		{"", runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT, unix.SIGTERM, "SIGTERM", runtimeapi.Signal_SIGNAL_SIGTERM},
		{"SIGQUIT", runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT, unix.SIGQUIT, "SIGQUIT", runtimeapi.Signal_SIGNAL_SIGQUIT},
		{"INT", runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT, unix.SIGINT, "SIGINT", runtimeapi.Signal_SIGNAL_SIGINT},
		{"SIGQUIT", runtimeapi.Signal_SIGNAL_SIGUSR1, unix.SIGUSR1, "SIGUSR1", runtimeapi.Signal_SIGNAL_SIGUSR1},
		{"", runtimeapi.Signal_SIGNAL_SIGRTMINPLUS1, unix.Signal(35), "SIGRTMIN+1", runtimeapi.Signal_SIGNAL_SIGRTMINPLUS1},
		{"", runtimeapi.Signal_SIGNAL_SIGRTMAXMINUS2, unix.Signal(62), "SIGRTMAX-2", runtimeapi.Signal_SIGNAL_SIGRTMAXMINUS2},
	} {
		c := &container{StopSignal: tc.image}
		if n := stopSignalName(tc.cri); n != "" {
			c.StopSignal = n
		}
		sig, name := c.stopSignal()
		if sig != tc.want || name != tc.name || stopSignalEnum(name) != tc.roundup {
			t.Errorf("image %q, cri %v: got %d %s %v, want %d %s %v", tc.image, tc.cri, sig, name, stopSignalEnum(name), tc.want, tc.name, tc.roundup)
		}
	}
}
