package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPrintResourceQuota(t *testing.T) {
	now := time.Now()
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "compute-resources", CreationTimestamp: metav1.NewTime(now.Add(-time.Minute))},
		Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("1"), "requests.memory": resource.MustParse("1Gi"),
				"limits.cpu": resource.MustParse("2"), "limits.memory": resource.MustParse("2Gi"), "pods": resource.MustParse("10")},
			Used: corev1.ResourceList{"requests.cpu": resource.MustParse("500m"), "limits.cpu": resource.MustParse("1")},
		}}
	cells, _ := printResourceQuota(q, now)
	want := []interface{}{"compute-resources", "pods: 0/10, requests.cpu: 500m/1, requests.memory: 0/1Gi", "limits.cpu: 1/2, limits.memory: 0/2Gi", "60s"}
	for i := range want {
		if cells[i] != want[i] {
			t.Errorf("cell %d: %q, want %q", i, cells[i], want[i])
		}
	}
	cells, _ = printResourceQuota(&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "new"}}, now)
	if cells[1] != "" || cells[2] != "" {
		t.Errorf("an unsynced quota: %q", cells)
	}
}
