package registry

import "k8s.io/apimachinery/pkg/util/validation/field"

// Ratchet drops from errs (an update's validation) every error the stored
// object's own validation, oldErrs, already has: a rule that came after an
// object was stored must not make it impossible to update, or to delete
// (finalizers are removed by updates). As upstream's validation
// ratcheting, a field the update leaves as it was is not the update's
// fault; a field it changes is checked in full.
func Ratchet(errs, oldErrs field.ErrorList) field.ErrorList {
	if len(errs) == 0 || len(oldErrs) == 0 {
		return errs
	}
	had := make(map[string]bool, len(oldErrs))
	for _, e := range oldErrs {
		had[e.Error()] = true
	}
	var out field.ErrorList
	for _, e := range errs {
		if !had[e.Error()] {
			out = append(out, e)
		}
	}
	return out
}
