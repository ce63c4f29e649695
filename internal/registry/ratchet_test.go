package registry

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestRatchet(t *testing.T) {
	p := field.NewPath("spec", "mountOptions")
	forbidden := field.Forbidden(p, "may not specify mount options for this volume type")
	other := field.Required(field.NewPath("spec", "capacity"), "")
	tests := []struct {
		name     string
		errs     field.ErrorList
		oldErrs  field.ErrorList
		wantLeft int
	}{
		{"nothing wrong", nil, field.ErrorList{forbidden}, 0},
		{"new error", field.ErrorList{forbidden}, nil, 1},
		{"error the stored object had", field.ErrorList{forbidden}, field.ErrorList{forbidden}, 0},
		{"a different error stays", field.ErrorList{forbidden, other}, field.ErrorList{forbidden}, 1},
		{"same field, other value", field.ErrorList{field.Invalid(p, "b", "bad")}, field.ErrorList{field.Invalid(p, "a", "bad")}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Ratchet(tt.errs, tt.oldErrs); len(got) != tt.wantLeft {
				t.Errorf("Ratchet left %v, want %d errors", got, tt.wantLeft)
			}
		})
	}
}
