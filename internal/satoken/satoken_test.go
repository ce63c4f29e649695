package satoken

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type objects struct {
	sas     map[string]*corev1.ServiceAccount
	pods    map[string]*corev1.Pod
	secrets map[string]*corev1.Secret
}

func (o *objects) ServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	if sa, ok := o.sas[ns+"/"+name]; ok {
		return sa, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("serviceaccounts"), name)
}

func (o *objects) Pod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	if p, ok := o.pods[ns+"/"+name]; ok {
		return p, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
}

func (o *objects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if s, ok := o.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func TestIssueAndAuthenticate(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	clock := now
	objs := &objects{
		sas:     map[string]*corev1.ServiceAccount{"ns/default": {ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "ns", UID: "sa-1"}}},
		pods:    map[string]*corev1.Pod{"ns/web": {ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "pod-1"}}},
		secrets: map[string]*corev1.Secret{"ns/s": {ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns", UID: "secret-1"}}},
	}
	dir := t.TempDir()
	iss, err := New(filepath.Join(dir, "sa.key"), objs, Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	// The key is kept: a second issuer on the same file accepts the first's tokens.
	again, err := New(filepath.Join(dir, "sa.key"), objs, Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(filepath.Join(t.TempDir(), "sa.key"), objs, Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	sa := Ref{Name: "default", UID: "sa-1"}
	issue := func(i *Issuer, c Claims, aud []string, ttl time.Duration) string {
		tok, err := i.Issue(Request{Claims: c, Audiences: aud, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Token
	}
	api := []string{DefaultIssuer}
	for _, tc := range []struct {
		name    string
		token   func() string
		at      time.Duration // after now
		mutate  func()
		wantErr string
	}{
		{name: "plain", token: func() string { return issue(iss, Claims{Namespace: "ns", ServiceAccount: sa}, api, time.Hour) }},
		{name: "same key, second issuer", token: func() string { return issue(again, Claims{Namespace: "ns", ServiceAccount: sa}, api, time.Hour) }},
		{name: "bound to a pod", token: func() string {
			return issue(iss, Claims{Namespace: "ns", ServiceAccount: sa, Pod: &Ref{Name: "web", UID: "pod-1"}}, api, time.Hour)
		}},
		{name: "expired", at: 2 * time.Hour, wantErr: "expired", token: func() string {
			return issue(iss, Claims{Namespace: "ns", ServiceAccount: sa}, api, time.Hour)
		}},
		{name: "another key", wantErr: "error in cryptographic primitive", token: func() string {
			return issue(other, Claims{Namespace: "ns", ServiceAccount: sa}, api, time.Hour)
		}},
		{name: "another audience", wantErr: "audience", token: func() string {
			return issue(iss, Claims{Namespace: "ns", ServiceAccount: sa}, []string{"vault"}, time.Hour)
		}},
		{name: "account recreated", wantErr: "service account UID", token: func() string {
			return issue(iss, Claims{Namespace: "ns", ServiceAccount: Ref{Name: "default", UID: "sa-0"}}, api, time.Hour)
		}},
		{name: "account gone", wantErr: "not found", token: func() string {
			return issue(iss, Claims{Namespace: "ns", ServiceAccount: Ref{Name: "gone", UID: "x"}}, api, time.Hour)
		}},
		{name: "pod recreated", wantErr: "pod UID", token: func() string {
			return issue(iss, Claims{Namespace: "ns", ServiceAccount: sa, Pod: &Ref{Name: "web", UID: "pod-0"}}, api, time.Hour)
		}},
		{name: "pod being deleted", wantErr: "has been deleted", token: func() string {
			return issue(iss, Claims{Namespace: "ns", ServiceAccount: sa, Pod: &Ref{Name: "web", UID: "pod-1"}}, api, time.Hour)
		}, mutate: func() {
			ts := metav1.NewTime(now.Add(-time.Second))
			objs.pods["ns/web"].DeletionTimestamp = &ts
		}},
		{name: "secret gone", wantErr: "not found", token: func() string {
			return issue(iss, Claims{Namespace: "ns", ServiceAccount: sa, Secret: &Ref{Name: "gone", UID: "x"}}, api, time.Hour)
		}},
		{name: "garbage", wantErr: "invalid bearer token", token: func() string { return "a.b.c" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock = now
			tok := tc.token()
			if tc.mutate != nil {
				tc.mutate()
			}
			clock = now.Add(tc.at)
			id, err := iss.Authenticate(context.Background(), tok)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr == "" && (id.Namespace != "ns" || id.ServiceAccount != sa || id.ID == ""):
				t.Fatalf("identity %+v", id)
			case tc.wantErr != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want ErrInvalid with %q", err, tc.wantErr)
			}
		})
	}
}
