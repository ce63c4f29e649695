package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/storage"
)

// List returns a list object of the matching objects in ns ("" = all),
// paged as kube-apiserver pages lists from etcd: with a limit, at most that
// many items come back with a continue token whose pages all show the
// store at the first page's resourceVersion (and, without selectors, how
// many items remain). A token older than the kept history gets 410 Expired
// with a token that continues at the latest state instead.
func (s *Store) List(ctx context.Context, ns string, opts ListOptions) (runtime.Object, error) {
	prefix := s.prefix(ns)
	start := prefix
	var rev uint64
	switch {
	case opts.Continue != "":
		key, crev, err := decodeContinue(opts.Continue, prefix)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid continue token: %v", err))
		}
		if crev > 0 {
			rev = uint64(crev)
		}
		start = key
	case opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact:
		n, err := parseListResourceVersion(opts.ResourceVersion)
		if err != nil {
			return nil, err
		}
		rev = n
	default:
		if _, err := parseListResourceVersion(opts.ResourceVersion); err != nil {
			return nil, err
		}
	}
	limit := opts.Limit
	if opts.ResourceVersion == "0" && opts.Continue == "" {
		limit = 0 // served whole from the watch cache upstream
	}
	kvs, listRev, err := s.storage.ListAt(prefix, rev)
	if errors.Is(err, storage.ErrTooOld) {
		if opts.Continue == "" {
			return nil, apierrors.NewResourceExpired("The resourceVersion for the provided list is too old.")
		}
		e := apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. " +
			"You can start a new list without the continue parameter, or use the continue token in this response to retrieve " +
			"the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that " +
			"were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
		e.ErrStatus.ListMeta.Continue = encodeContinue(start, prefix, -1)
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	match := opts.matcher(s)
	var items []runtime.Object
	var next string
	var remaining *int64
	for i, kv := range kvs {
		if kv.Key < start || (match != nil && !match(kv.Object)) {
			continue
		}
		if limit > 0 && int64(len(items)) == limit {
			last, _ := meta.Accessor(items[len(items)-1])
			next = encodeContinue(s.key(last.GetNamespace(), last.GetName())+"\x00", prefix, int64(listRev))
			if match == nil {
				n := int64(len(kvs) - i)
				remaining = &n
			}
			break
		}
		items = append(items, kv.Object)
	}
	list := s.res.NewList()
	if err := meta.SetList(list, items); err != nil {
		return nil, err
	}
	la, err := meta.ListAccessor(list)
	if err != nil {
		return nil, err
	}
	la.SetResourceVersion(strconv.FormatUint(listRev, 10))
	la.SetContinue(next)
	la.SetRemainingItemCount(remaining)
	return list, nil
}

// parseListResourceVersion is storage.ValidateListOptions' check.
func parseListResourceVersion(rv string) (uint64, error) {
	n, err := storage.ParseResourceVersion(rv)
	if err != nil {
		_, perr := strconv.ParseUint(rv, 10, 64)
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: resourceVersion: Invalid value: %q: %v", rv, perr))
	}
	return n, nil
}

// continueToken is k8s.io/apiserver/pkg/storage's: base64 (URL alphabet,
// unpadded) of this JSON, the key relative to the list's prefix.
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

const continueVersion = "meta.k8s.io/v1"

func encodeContinue(key, prefix string, rev int64) string {
	data, _ := json.Marshal(continueToken{APIVersion: continueVersion, ResourceVersion: rev, StartKey: strings.TrimPrefix(key, prefix)})
	return base64.RawURLEncoding.EncodeToString(data)
}

// decodeContinue returns the key to start at and the revision to list at
// (negative: the latest), with upstream's messages.
func decodeContinue(token, prefix string) (string, int64, error) {
	const invalid = "continue key is not valid"
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %v", invalid, err)
	}
	var c continueToken
	if err := json.Unmarshal(data, &c); err != nil {
		return "", 0, fmt.Errorf("%s: %v", invalid, err)
	}
	switch c.APIVersion {
	case continueVersion:
	default:
		return "", 0, fmt.Errorf("%s: server does not recognize this encoded version %v", invalid, c.APIVersion)
	}
	switch {
	case c.ResourceVersion == 0:
		return "", 0, fmt.Errorf("%s: incorrect encoded start resourceVersion (version meta.k8s.io/v1)", invalid)
	case c.StartKey == "":
		return "", 0, fmt.Errorf("%s: encoded start key empty (version meta.k8s.io/v1)", invalid)
	}
	// Upstream refuses keys that path cleaning changes; here no key can
	// reach outside the prefix anyway, since only its objects are listed.
	if path.Clean(c.StartKey) != c.StartKey {
		return "", 0, fmt.Errorf("%s: %v", invalid, c.StartKey)
	}
	return prefix + c.StartKey, c.ResourceVersion, nil
}
