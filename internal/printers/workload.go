package printers

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Upstream's Deployment and ReplicaSet columns (printDeployment,
// printReplicaSet): wide adds the template's containers, images and the
// selector.

var (
	nameColumn          = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
	ageColumn           = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
	wideWorkloadColumns = []metav1.TableColumnDefinition{
		{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."},
		{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."},
		{Name: "Selector", Type: "string", Priority: 1, Description: "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."},
	}
)

var deploymentColumns = append([]metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
	{Name: "Up-to-date", Type: "integer", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]},
	{Name: "Available", Type: "integer", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]},
	ageColumn,
}, wideWorkloadColumns...)

func printDeployment(obj runtime.Object, now time.Time) ([]interface{}, []metav1.TableRowCondition) {
	d := obj.(*appsv1.Deployment)
	desired := int32(0)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	names, images := templateContainers(&d.Spec.Template)
	return []interface{}{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, desired), int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas), age(d.CreationTimestamp, now), names, images, selectorString(d.Spec.Selector)}, nil
}

var replicaSetColumns = append([]metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Desired", Type: "integer", Description: appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]},
	{Name: "Current", Type: "integer", Description: appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]},
	{Name: "Ready", Type: "integer", Description: appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]},
	ageColumn,
}, wideWorkloadColumns...)

func printReplicaSet(obj runtime.Object, now time.Time) ([]interface{}, []metav1.TableRowCondition) {
	rs := obj.(*appsv1.ReplicaSet)
	desired := int32(0)
	if rs.Spec.Replicas != nil {
		desired = *rs.Spec.Replicas
	}
	names, images := templateContainers(&rs.Spec.Template)
	return []interface{}{rs.Name, int64(desired), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
		age(rs.CreationTimestamp, now), names, images, selectorString(rs.Spec.Selector)}, nil
}

// templateContainers are the comma-joined names and images of a template's
// containers (not its init containers).
func templateContainers(t *corev1.PodTemplateSpec) (string, string) {
	var names, images []string
	for _, c := range t.Spec.Containers {
		names, images = append(names, c.Name), append(images, c.Image)
	}
	return strings.Join(names, ","), strings.Join(images, ",")
}

// selectorString is metav1.FormatLabelSelector, "<invalid>" when it cannot
// be parsed.
func selectorString(sel *metav1.LabelSelector) string {
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		return "<invalid>"
	}
	return metav1.FormatLabelSelector(sel)
}
