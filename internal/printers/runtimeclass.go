package printers

import (
	"time"

	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// runtimeClassColumns are upstream's RuntimeClass columns.
var runtimeClassColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Handler", Type: "string", Description: "Handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class"},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

func printRuntimeClass(obj runtime.Object, now time.Time) ([]interface{}, []metav1.TableRowCondition) {
	rc := obj.(*nodev1.RuntimeClass)
	return []interface{}{rc.Name, rc.Handler, age(rc.CreationTimestamp, now)}, nil
}
