package cri

import (
	"strings"

	"github.com/moby/sys/signal"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The CRI's Signal enum names signals SIGNAL_<name>, with + and - of the
// real-time signals spelled PLUS and MINUS (SIGNAL_SIGRTMINPLUS1).
var signalNames = strings.NewReplacer("PLUS", "+", "MINUS", "-")

// stopSignalName is the signal name of a CRI stop signal ("SIGTERM",
// "SIGRTMIN+1"), or "" for the runtime's default.
func stopSignalName(s runtimeapi.Signal) string {
	if s == runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT {
		return ""
	}
	name, ok := runtimeapi.Signal_name[int32(s)]
	if !ok {
		return ""
	}
	return signalNames.Replace(strings.TrimPrefix(name, "SIGNAL_"))
}

// stopSignalEnum is the CRI enum of a signal name, with or without its
// SIG prefix, or the runtime default when it has none.
func stopSignalEnum(name string) runtimeapi.Signal {
	if name == "" {
		return runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT
	}
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	name = strings.NewReplacer("+", "PLUS", "-", "MINUS").Replace(name)
	return runtimeapi.Signal(runtimeapi.Signal_value["SIGNAL_"+name])
}

// stopSignal is the signal that stops the container: the one it was
// created with (lifecycle.stopSignal), else its image's STOPSIGNAL, else
// SIGTERM.
func (c *container) stopSignal() (unix.Signal, string) {
	if c.StopSignal != "" {
		if sig, err := signal.ParseSignal(c.StopSignal); err == nil {
			name := c.StopSignal
			if !strings.HasPrefix(name, "SIG") {
				name = "SIG" + name
			}
			return sig, name
		}
	}
	return unix.SIGTERM, "SIGTERM"
}
