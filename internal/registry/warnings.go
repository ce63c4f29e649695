package registry

import (
	"context"
	"slices"
	"sync"
)

type warningsKey struct{}

// Warnings collects the warnings of one request; the HTTP layer turns them
// into "Warning: 299 - ..." response headers.
type Warnings struct {
	mu   sync.Mutex
	list []string
}

// WithWarnings returns a context that collects warnings into w.
func WithWarnings(ctx context.Context, w *Warnings) context.Context {
	return context.WithValue(ctx, warningsKey{}, w)
}

// AddWarning records a warning for the request in ctx, if it collects them.
func AddWarning(ctx context.Context, msg string) {
	if w, ok := ctx.Value(warningsKey{}).(*Warnings); ok {
		w.mu.Lock()
		// Once each, as upstream's recorder does (and an update that is
		// retried warns again).
		if !slices.Contains(w.list, msg) {
			w.list = append(w.list, msg)
		}
		w.mu.Unlock()
	}
}

// List returns the collected warnings.
func (w *Warnings) List() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}
