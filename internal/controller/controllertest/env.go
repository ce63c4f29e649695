// Package controllertest sets up what a controller's unit tests run
// against: a throwaway object database with the default namespace, its
// pods store and an event recorder. Controllers are tested against the
// real registry stores, not fakes of them.
package controllertest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/event"
	"github.com/peapod/peapod/internal/registry/namespace"
	"github.com/peapod/peapod/internal/registry/pod"
	"github.com/peapod/peapod/internal/storage"
	"github.com/peapod/peapod/internal/testutil"
)

// Env is a database with the default namespace in it.
type Env struct {
	DB       *storage.Store
	Pods     *registry.Store
	Recorder *events.Recorder
	Log      *slog.Logger
}

// New opens an Env whose events come from component; it is closed when
// the test ends.
func New(t testing.TB, component string) *Env {
	t.Helper()
	db := testutil.OpenStore(t)
	if _, err := registry.NewStore(namespace.Resource(), db, time.Now).Create(context.Background(), "",
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, false); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	rec := events.NewRecorder(registry.NewStore(event.Resource(), db, time.Now), events.Source{Component: component}, time.Now, log)
	t.Cleanup(rec.Stop)
	return &Env{
		DB:       db,
		Pods:     registry.NewStore(pod.Resource(&pod.Strategy{NodeName: "node1", Now: time.Now}), db, time.Now),
		Recorder: rec,
		Log:      log,
	}
}

// Store opens the store of another resource in the Env's database.
func (e *Env) Store(res *registry.Resource) *registry.Store {
	return registry.NewStore(res, e.DB, time.Now)
}
