// Package audit is kube-apiserver's audit log: one audit.k8s.io/v1 Event
// (a JSON line) per request and stage, at the level an audit Policy
// chooses (None, Metadata, Request, RequestResponse), written to a file
// that rotates by size (--audit-log-path, --audit-policy-file,
// --audit-log-maxsize, --audit-log-maxbackup, --audit-log-maxage).
//
// The HTTP filter has two halves placed as kube-apiserver places them:
// WithAuditInit outside authentication (the audit ID, the received time,
// the response code; requests authentication refuses are audited here with
// no user), WithAudit inside it (the user, the policy's level, the request
// body).
package audit

import (
	"encoding/json"
	"fmt"
	"io"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Config configures a Logger.
type Config struct {
	// Path is the log file; "-" is standard output.
	Path string
	// PolicyFile is an audit.k8s.io/v1 Policy; empty is DefaultPolicy.
	PolicyFile string
	Rotation   Rotation
	Log        *slog.Logger
	Now        func() time.Time
}

// Logger writes audit events.
type Logger struct {
	policy *Policy
	log    *slog.Logger
	now    func() time.Time

	mu sync.Mutex
	w  io.Writer
	// closer closes the file (nil for standard output).
	closer io.Closer
}

// New opens the audit log of cfg. A policy file without a path is
// validated and reported, as nothing will be logged.
func New(cfg Config) (*Logger, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Rotation.Validate(); err != nil {
		return nil, err
	}
	policy := DefaultPolicy()
	if cfg.PolicyFile != "" {
		var err error
		if policy, err = LoadPolicy(cfg.PolicyFile); err != nil {
			return nil, err
		}
	}
	if cfg.Path == "" {
		if cfg.PolicyFile != "" {
			cfg.Log.Warn("--audit-policy-file is given without --audit-log-path: no audit events are written", "policy", cfg.PolicyFile)
		}
		return nil, nil
	}
	l := &Logger{policy: policy, log: cfg.Log, now: cfg.Now}
	if cfg.Path == "-" {
		l.w = os.Stdout
		return l, nil
	}
	f, err := openRotating(cfg.Path, cfg.Rotation, cfg.Now)
	if err != nil {
		return nil, err
	}
	f.onPruneError = func(err error) { cfg.Log.Warn("audit log", "err", err) }
	l.w, l.closer = f, f
	return l, nil
}

// Close closes the log file.
func (l *Logger) Close() error {
	if l == nil || l.closer == nil {
		return nil
	}
	return l.closer.Close()
}

// write appends one event as a JSON line. A failed write is logged: as
// kube-apiserver's log backend, the request is not failed for it.
func (l *Logger) write(ev *auditv1.Event) {
	ev.APIVersion, ev.Kind = auditv1.SchemeGroupVersion.String(), "Event"
	line, err := json.Marshal(ev)
	if err != nil {
		l.log.Error("encoding an audit event", "auditID", ev.AuditID, "err", err)
		return
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(line); err != nil {
		l.log.Error("writing the audit log", "auditID", ev.AuditID, "err", fmt.Errorf("audit log: %w", err))
	}
}
