// Package prober runs the kubelet's container probes — liveness, readiness
// and startup — as pkg/kubelet/prober and pkg/probe do: one worker per
// container and probe type probes on its period, counts consecutive
// results against the thresholds and publishes the result for the
// container's ID; the kubelet reads the results to kill containers and to
// report them started and ready. The handlers (exec through the runtime's
// ExecSync, httpGet, tcpSocket, grpc) are shared with lifecycle hooks.
package prober

import "fmt"

// Result is a published probe result (results.Result upstream).
type Result int

const (
	// Unknown: nothing is known yet (a startup probe before its first
	// verdict).
	Unknown Result = iota
	Success
	Failure
)

func (r Result) String() string {
	switch r {
	case Success:
		return "Success"
	case Failure:
		return "Failure"
	}
	return "Unknown"
}

// Kind is the type of a probe.
type Kind int

const (
	Liveness Kind = iota
	Readiness
	Startup
)

// String is the prefix of the probe's events ("Liveness probe failed: …").
func (k Kind) String() string {
	switch k {
	case Liveness:
		return "Liveness"
	case Readiness:
		return "Readiness"
	case Startup:
		return "Startup"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// outcome is what one run of a handler found (probe.Result upstream,
// which also has a warning: a success worth an event).
type outcome int

const (
	outcomeUnknown outcome = iota
	outcomeSuccess
	outcomeWarning
	outcomeFailure
)

// String is the lower-case name used in "resulted in <state> state".
func (o outcome) String() string {
	switch o {
	case outcomeSuccess:
		return "success"
	case outcomeWarning:
		return "warning"
	case outcomeFailure:
		return "failure"
	}
	return "unknown"
}
