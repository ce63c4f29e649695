// Package printers renders objects as server-side metav1.Table rows, the
// output `kubectl get` shows. kubectl has no built-in printers for pods any
// more: STATUS, READY and RESTARTS are computed here, after
// pkg/printers/internalversion/printers.go. As on the real server every
// column is generated (wide included) and kubectl hides priority-1 columns.
package printers

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Options select how a Table is built.
type Options struct {
	// NoHeaders leaves out column definitions (watch events after the first).
	NoHeaders bool
	// IncludeObject is the row object policy: Metadata (default), Object or None.
	IncludeObject metav1.IncludeObjectPolicy
	// Now is the time ages are computed against.
	Now time.Time
}

// printer renders one object as one row's cells.
type printer struct {
	columns []metav1.TableColumnDefinition
	cells   func(obj runtime.Object, now time.Time) ([]interface{}, []metav1.TableRowCondition)
}

// Printer knows the column layouts of peapod's resources.
type Printer struct {
	byKind map[string]printer
	// objectMeta turns an object into the row object for IncludeObject=Object
	// (it sets apiVersion and kind).
	setKind func(runtime.Object) error
}

// New returns a Printer; setKind fills TypeMeta of full row objects.
func New(setKind func(runtime.Object) error) *Printer {
	return &Printer{setKind: setKind, byKind: map[string]printer{
		"Pod":       {podColumns, printPod},
		"Namespace": {namespaceColumns, printNamespace},
		"Node":      {nodeColumns, printNode},
		"Event":     {eventColumns, printEvent},
		"ConfigMap": {configMapColumns, printConfigMap},
		"Secret":    {secretColumns, printSecret},
		// ServiceAccount's SECRETS column counts its legacy token secrets.
		"ServiceAccount":        {serviceAccountColumns, printServiceAccount},
		"ResourceQuota":         {resourceQuotaColumns, printResourceQuota},
		"RuntimeClass":          {runtimeClassColumns, printRuntimeClass},
		"PriorityClass":         {priorityClassColumns, printPriorityClass},
		"Deployment":            {deploymentColumns, printDeployment},
		"ReplicaSet":            {replicaSetColumns, printReplicaSet},
		"Job":                   {jobColumns, printJob},
		"CronJob":               {cronJobColumns, printCronJob},
		"DaemonSet":             {daemonSetColumns, printDaemonSet},
		"StatefulSet":           {statefulSetColumns, printStatefulSet},
		"PersistentVolumeClaim": {persistentVolumeClaimColumns, printPersistentVolumeClaim},
		"PersistentVolume":      {persistentVolumeColumns, printPersistentVolume},
		"StorageClass":          {storageClassColumns, printStorageClass},
		"ControllerRevision":    {controllerRevisionColumns, printControllerRevision},
		"RoleBinding":           {roleBindingColumns, printRoleBinding},
		"ClusterRoleBinding":    {clusterRoleBindingColumns, printClusterRoleBinding},
		// CertificateSigningRequest's CONDITION column sums up its conditions.
		"CertificateSigningRequest": {certificateSigningRequestColumns, printCertificateSigningRequest},
	}}
}

// Table renders obj (one object or a list) for a resource of kind kind.
func (p *Printer) Table(kind string, obj runtime.Object, opts Options) (*metav1.Table, error) {
	pr, ok := p.byKind[kind]
	if !ok {
		pr = printer{defaultColumns, printDefault}
	}
	table := &metav1.Table{}
	if !opts.NoHeaders {
		table.ColumnDefinitions = pr.columns
	}
	var items []runtime.Object
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, err
		}
		la, err := meta.ListAccessor(obj)
		if err != nil {
			return nil, err
		}
		table.ResourceVersion = la.GetResourceVersion()
		table.Continue = la.GetContinue()
	} else {
		items = []runtime.Object{obj}
		if a, err := meta.Accessor(obj); err == nil {
			table.ResourceVersion = a.GetResourceVersion()
		}
	}
	table.Rows = make([]metav1.TableRow, 0, len(items))
	for _, item := range items {
		cells, conds := pr.cells(item, opts.Now)
		row := metav1.TableRow{Cells: cells, Conditions: conds}
		ro, err := p.rowObject(item, opts.IncludeObject)
		if err != nil {
			return nil, err
		}
		row.Object = ro
		table.Rows = append(table.Rows, row)
	}
	return table, nil
}

func (p *Printer) rowObject(obj runtime.Object, policy metav1.IncludeObjectPolicy) (runtime.RawExtension, error) {
	switch policy {
	case metav1.IncludeNone:
		return runtime.RawExtension{}, nil
	case metav1.IncludeObject:
		cp := obj.DeepCopyObject()
		if err := p.setKind(cp); err != nil {
			return runtime.RawExtension{}, err
		}
		return runtime.RawExtension{Object: cp}, nil
	default:
		om, err := ObjectMeta(obj)
		if err != nil {
			return runtime.RawExtension{}, err
		}
		pom := &metav1.PartialObjectMetadata{
			TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"},
		}
		om.DeepCopyInto(&pom.ObjectMeta)
		pom.ManagedFields = nil
		return runtime.RawExtension{Object: pom}, nil
	}
}

// ObjectMeta returns the ObjectMeta embedded in obj.
func ObjectMeta(obj runtime.Object) (*metav1.ObjectMeta, error) {
	if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if om, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			return om, nil
		}
	}
	return nil, fmt.Errorf("%T has no ObjectMeta", obj)
}

// age is translateTimestampSince upstream.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

var defaultColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

// printDefault is the apiserver's defaultTableConvertor row.
func printDefault(obj runtime.Object, now time.Time) ([]interface{}, []metav1.TableRowCondition) {
	a, err := meta.Accessor(obj)
	if err != nil {
		return []interface{}{"", ""}, nil
	}
	return []interface{}{a.GetName(), a.GetCreationTimestamp().UTC().Format(time.RFC3339)}, nil
}
