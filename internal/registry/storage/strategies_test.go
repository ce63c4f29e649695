package storage

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func claim(size string, phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
	class, mode := "local-path", corev1.PersistentVolumeFilesystem
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
			StorageClassName: &class, VolumeMode: &mode,
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: phase},
	}
	if phase == corev1.ClaimBound {
		pvc.Spec.VolumeName = "pvc-1"
	}
	return pvc
}

func TestClaimValidateUpdate(t *testing.T) {
	s := &ClaimStrategy{}
	for _, tc := range []struct {
		name     string
		old, new *corev1.PersistentVolumeClaim
		want     []string // error messages, in order
	}{
		{"bound grows", claim("1Gi", corev1.ClaimBound), claim("2Gi", corev1.ClaimBound), nil},
		{"bound same", claim("1Gi", corev1.ClaimBound), claim("1Gi", corev1.ClaimBound), nil},
		{"bound shrinks", claim("2Gi", corev1.ClaimBound), claim("1Gi", corev1.ClaimBound),
			[]string{"spec.resources.requests.storage: Forbidden: field can not be less than previous value"}},
		{"pending grows", claim("1Gi", corev1.ClaimPending), claim("2Gi", corev1.ClaimPending),
			[]string{"spec: Forbidden: spec is immutable after creation except resources.requests for bound claims"}},
		{"pending shrinks", claim("2Gi", corev1.ClaimPending), claim("1Gi", corev1.ClaimPending),
			[]string{"spec: Forbidden: spec is immutable after creation except resources.requests for bound claims",
				"spec.resources.requests.storage: Forbidden: field can not be less than previous value"}},
		{"pending gets its volume name", claim("1Gi", corev1.ClaimPending), func() *corev1.PersistentVolumeClaim {
			c := claim("1Gi", corev1.ClaimPending)
			c.Spec.VolumeName = "pv-a"
			return c
		}(), nil},
		{"bound changes volume name", claim("1Gi", corev1.ClaimBound), func() *corev1.PersistentVolumeClaim {
			c := claim("1Gi", corev1.ClaimBound)
			c.Spec.VolumeName = "pv-b"
			return c
		}(), []string{"spec: Forbidden: spec is immutable after creation except resources.requests for bound claims"}},
		{"bound changes access modes", claim("1Gi", corev1.ClaimBound), func() *corev1.PersistentVolumeClaim {
			c := claim("1Gi", corev1.ClaimBound)
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
			return c
		}(), []string{"spec: Forbidden: spec is immutable after creation except resources.requests for bound claims"}},
		{"volumeAttributesClassName refused", claim("1Gi", corev1.ClaimBound), func() *corev1.PersistentVolumeClaim {
			c := claim("1Gi", corev1.ClaimBound)
			vac := "fast"
			c.Spec.VolumeAttributesClassName = &vac
			return c
		}(), []string{"spec.volumeAttributesClassName: Forbidden: VolumeAttributesClasses are not supported by peapod",
			"spec: Forbidden: spec is immutable after creation except resources.requests for bound claims"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.PrepareForUpdate(context.Background(), tc.new, tc.old)
			errs := s.ValidateUpdate(context.Background(), tc.new, tc.old)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestClaimAdmitUpdate(t *testing.T) {
	yes, no := true, false
	classes := []storagev1.StorageClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "local-path"}, Provisioner: "peapod.io/local-path", AllowVolumeExpansion: &yes},
		{ObjectMeta: metav1.ObjectMeta{Name: "fixed"}, Provisioner: "peapod.io/local-path", AllowVolumeExpansion: &no},
		{ObjectMeta: metav1.ObjectMeta{Name: "unset"}, Provisioner: "peapod.io/local-path"},
	}
	volumes := map[string]*corev1.PersistentVolume{
		"pvc-1": {ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", Annotations: map[string]string{ProvisionedByAnnotation: "peapod.io/local-path"}},
			Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}}},
		"manual": {ObjectMeta: metav1.ObjectMeta{Name: "manual"},
			Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/y"}}}},
	}
	s := &ClaimStrategy{
		Classes: func(context.Context) ([]storagev1.StorageClass, error) { return classes, nil },
		Volume: func(_ context.Context, name string) (*corev1.PersistentVolume, error) {
			if pv, ok := volumes[name]; ok {
				return pv, nil
			}
			return nil, apierrors.NewNotFound(corev1.Resource("persistentvolumes"), name)
		},
		Resizer: "peapod.io/local-path",
	}
	const resizeMsg = `persistentvolumeclaims "data" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize`
	withClass := func(c *corev1.PersistentVolumeClaim, class string) *corev1.PersistentVolumeClaim {
		c.Spec.StorageClassName = &class
		return c
	}
	withVolume := func(c *corev1.PersistentVolumeClaim, pv string) *corev1.PersistentVolumeClaim {
		c.Spec.VolumeName = pv
		return c
	}
	for _, tc := range []struct {
		name     string
		old, new *corev1.PersistentVolumeClaim
		want     string
	}{
		{"grows", claim("1Gi", corev1.ClaimBound), claim("2Gi", corev1.ClaimBound), ""},
		{"same size", claim("1Gi", corev1.ClaimBound), claim("1Gi", corev1.ClaimBound), ""},
		{"unbound", claim("1Gi", corev1.ClaimPending), claim("2Gi", corev1.ClaimPending),
			`persistentvolumeclaims "data" is forbidden: Only bound persistent volume claims can be expanded`},
		{"class refuses", withClass(claim("1Gi", corev1.ClaimBound), "fixed"), withClass(claim("2Gi", corev1.ClaimBound), "fixed"), resizeMsg},
		{"class does not say", withClass(claim("1Gi", corev1.ClaimBound), "unset"), withClass(claim("2Gi", corev1.ClaimBound), "unset"), resizeMsg},
		{"no class", withClass(claim("1Gi", corev1.ClaimBound), ""), withClass(claim("2Gi", corev1.ClaimBound), ""), resizeMsg},
		{"unknown class", withClass(claim("1Gi", corev1.ClaimBound), "gone"), withClass(claim("2Gi", corev1.ClaimBound), "gone"), resizeMsg},
		{"volume made by hand", withVolume(claim("1Gi", corev1.ClaimBound), "manual"), withVolume(claim("2Gi", corev1.ClaimBound), "manual"), resizeMsg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.AdmitUpdate(context.Background(), tc.new, tc.old)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want || !apierrors.IsForbidden(err)):
				t.Fatalf("got %v, want Forbidden %q", err, tc.want)
			}
		})
	}
}

func TestVolumeValidate(t *testing.T) {
	hostPV := func() *corev1.PersistentVolume {
		return &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pv"},
			Spec: corev1.PersistentVolumeSpec{
				AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv"}},
			},
		}
	}
	for _, tc := range []struct {
		name string
		pv   func() *corev1.PersistentVolume
		want string
	}{
		{"hostPath", hostPV, ""},
		{"hostPath mountOptions", func() *corev1.PersistentVolume {
			pv := hostPV()
			pv.Spec.MountOptions = []string{"ro"}
			return pv
		}, "spec.mountOptions: Forbidden: may not specify mount options for this volume type"},
		{"hostPath mount-options annotation", func() *corev1.PersistentVolume {
			pv := hostPV()
			pv.Annotations = map[string]string{MountOptionsAnnotation: "ro"}
			return pv
		}, "metadata.annotations[volume.beta.kubernetes.io/mount-options]: Forbidden: may not specify mount options for this volume type"},
		{"local without node affinity", func() *corev1.PersistentVolume {
			pv := hostPV()
			pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/srv"}}
			return pv
		}, "spec.nodeAffinity: Required value: Local volume requires node affinity"},
		{"nfs", func() *corev1.PersistentVolume {
			pv := hostPV()
			pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "x", Path: "/"}}
			return pv
		}, "spec: Forbidden: only hostPath and local persistent volumes are supported by peapod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := VolumeStrategy{}.Validate(context.Background(), tc.pv())
			got := errs.ToAggregate()
			switch {
			case tc.want == "" && got != nil:
				t.Fatalf("refused: %v", got)
			case tc.want != "" && (got == nil || got.Error() != tc.want):
				t.Fatalf("got %v, want %q", got, tc.want)
			}
		})
	}
}

// TestStoredObjectsStayUpdatable: a volume stored with mount options
// before peapod refused them can still lose its finalizer (deletion
// goes through updates), while an update that adds them is refused.
func TestStoredObjectsStayUpdatable(t *testing.T) {
	ctx := context.Background()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv", Finalizers: []string{"kubernetes.io/pv-protection"}},
		Spec: corev1.PersistentVolumeSpec{
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv"}},
		},
	}
	var s VolumeStrategy
	stored := pv.DeepCopy()
	stored.Spec.MountOptions = []string{"ro"}
	unfinalized := stored.DeepCopy()
	unfinalized.Finalizers = nil
	if errs := s.ValidateUpdate(ctx, unfinalized, stored); len(errs) != 0 {
		t.Errorf("removing the finalizer of a stored volume: %v", errs)
	}
	if errs := s.ValidateUpdate(ctx, stored, pv); len(errs) != 1 || !strings.Contains(errs[0].Error(), "mount options") {
		t.Errorf("adding mount options: %v, want the mount options refusal", errs)
	}
}
