package controller

import (
	"encoding/json"
	"hash/fnv"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
)

// ComputeHash is the hash of a pod template and a collision count that
// names a Deployment's ReplicaSets (pod-template-hash) and a DaemonSet's
// revisions: FNV-32a of the template's JSON and the count, in the
// alphabet of rand.SafeEncodeString. Upstream hashes a spew dump instead;
// nothing outside the controllers recomputes the value, so any stable hash
// in that alphabet serves.
func ComputeHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	data, _ := json.Marshal(t)
	_, _ = h.Write(data)
	if collisionCount != nil {
		var b [8]byte
		c := uint32(*collisionCount)
		b[0], b[1], b[2], b[3] = byte(c), byte(c>>8), byte(c>>16), byte(c>>24)
		_, _ = h.Write(b[:])
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}
