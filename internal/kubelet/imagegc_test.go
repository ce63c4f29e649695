package kubelet

import (
	"strings"
	"testing"
)

func TestImageGCPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		high, low int
		wantErr   string
	}{
		{85, 80, ""},
		{100, 80, ""},
		{1, 0, ""},
		{80, 80, ""},
		{101, 80, "invalid HighThresholdPercent 101, must be in range [0-100]"},
		{85, -1, "invalid LowThresholdPercent -1, must be in range [0-100]"},
		{70, 80, "LowThresholdPercent 80 can not be higher than HighThresholdPercent 70"},
	} {
		err := ImageGCPolicy{HighThresholdPercent: tc.high, LowThresholdPercent: tc.low}.Validate()
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("high %d low %d: %v, want %q", tc.high, tc.low, err, tc.wantErr)
		}
	}
}
