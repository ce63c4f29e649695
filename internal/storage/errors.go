package storage

import "errors"

// Sentinel errors; the API server maps them to Kubernetes Status codes once,
// at its edge.
var (
	// ErrNotFound: no object at the key.
	ErrNotFound = errors.New("object not found")
	// ErrExists: Create found the key taken.
	ErrExists = errors.New("object already exists")
	// ErrTooOld: a watch asked for history the store no longer keeps (410 Gone).
	ErrTooOld = errors.New("resource version too old")
	// ErrInvalidResourceVersion: the resourceVersion is not a number.
	ErrInvalidResourceVersion = errors.New("invalid resource version")
	// ErrWatcherTooSlow: a watcher fell too far behind and was closed.
	ErrWatcherTooSlow = errors.New("watcher fell behind")
)
