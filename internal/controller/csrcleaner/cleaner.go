// Package csrcleaner is kube-controller-manager's csrcleaner controller
// (pkg/controller/certificates/cleaner): it deletes
// CertificateSigningRequests once they have served, so they do not pile up:
// issued or denied or failed ones an hour after that happened, pending ones
// after a day, and any whose certificate has expired. Upstream looks every
// hour; here each request is looked at again when its deadline comes.
package csrcleaner

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/controller"
)

// How long requests are kept, as upstream.
const (
	approvedExpiration = time.Hour
	deniedExpiration   = time.Hour
	pendingExpiration  = 24 * time.Hour
)

// Controller deletes requests past their deadline.
type Controller struct {
	CSRs controller.Store
	Log  *slog.Logger
	Now  func() time.Time

	loop *controller.Loop
}

// Run cleans until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if c.Now == nil {
		c.Now = time.Now
	}
	c.loop = &controller.Loop{Name: "csrcleaner", Log: c.Log, Sync: c.sync}
	return c.loop.Run(ctx, controller.Source{Store: c.CSRs, Handle: c.loop.QueueObject})
}

func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	_, name := controller.SplitKey(key)
	obj, err := c.CSRs.Get(ctx, "", name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	deadline, why, ok := Deadline(csr)
	if !ok {
		return 0, nil
	}
	if wait := deadline.Sub(c.Now()); wait > 0 {
		return wait, nil
	}
	uid := csr.UID
	_, _, err = c.CSRs.Delete(ctx, "", name, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}, false)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return 0, nil
	}
	if err == nil {
		c.Log.Info("deleted certificate signing request", "csr", name, "reason", why)
	}
	return 0, err
}

// Deadline is when a request may go, and why: the earliest of upstream's
// rules that applies. ok is false for a request no rule will ever remove
// (approved, not issued, not failed: a signer may still come).
func Deadline(csr *certificatesv1.CertificateSigningRequest) (deadline time.Time, why string, ok bool) {
	consider := func(t time.Time, reason string) {
		if !t.IsZero() && (!ok || t.Before(deadline)) {
			deadline, why, ok = t, reason, true
		}
	}
	if len(csr.Status.Conditions) == 0 {
		consider(csr.CreationTimestamp.Add(pendingExpiration), "pending for more than "+pendingExpiration.String())
	}
	issued := len(csr.Status.Certificate) > 0
	for _, cond := range csr.Status.Conditions {
		if cond.LastUpdateTime.IsZero() {
			continue
		}
		switch cond.Type {
		case certificatesv1.CertificateApproved:
			if issued {
				consider(cond.LastUpdateTime.Add(approvedExpiration), "issued more than "+approvedExpiration.String()+" ago")
			}
		case certificatesv1.CertificateDenied:
			consider(cond.LastUpdateTime.Add(deniedExpiration), "denied more than "+deniedExpiration.String()+" ago")
		case certificatesv1.CertificateFailed:
			consider(cond.LastUpdateTime.Add(deniedExpiration), "failed more than "+deniedExpiration.String()+" ago")
		}
	}
	if issued {
		if b, _ := pem.Decode(csr.Status.Certificate); b != nil {
			if certs, err := x509.ParseCertificates(b.Bytes); err == nil && len(certs) > 0 {
				consider(certs[0].NotAfter, "its certificate expired")
			}
		}
	}
	return deadline, why, ok
}
