package kubelet

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Threshold is a hard eviction threshold of memory.available, as an
// amount or a percentage of capacity.
type Threshold struct {
	Quantity   *resource.Quantity
	Percentage float64 // of capacity, 0..1
}

// DefaultEvictionHard is the kubelet's default memory threshold.
const DefaultEvictionHard = "memory.available<100Mi"

// ParseEvictionHard reads --eviction-hard: "memory.available<100Mi" or
// "memory.available<5%". Other signals (nodefs.available, imagefs.*,
// pid.available) are refused rather than ignored: peapod does not act on
// them yet.
func ParseEvictionHard(s string) (Threshold, error) {
	var t Threshold
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		signal, value, ok := strings.Cut(item, "<")
		if !ok {
			return t, fmt.Errorf("eviction threshold %q: only the < operator is supported", item)
		}
		if signal != "memory.available" {
			return t, fmt.Errorf("eviction signal %q is not supported yet (only memory.available)", signal)
		}
		if p, isPct := strings.CutSuffix(value, "%"); isPct {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || f < 0 || f > 100 {
				return t, fmt.Errorf("eviction threshold %q: invalid percentage", item)
			}
			t = Threshold{Percentage: f / 100}
			continue
		}
		q, err := resource.ParseQuantity(value)
		if err != nil || q.Sign() < 0 {
			return t, fmt.Errorf("eviction threshold %q: invalid quantity", item)
		}
		t = Threshold{Quantity: &q}
	}
	return t, nil
}

// Memory is the threshold in bytes for a node of capacity bytes.
func (t Threshold) Memory(capacity int64) resource.Quantity {
	if t.Quantity != nil {
		return *t.Quantity
	}
	return *resource.NewQuantity(int64(float64(capacity)*t.Percentage), resource.BinarySI)
}
