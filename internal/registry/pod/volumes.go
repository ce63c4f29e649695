package pod

import (
	"fmt"
	"path"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Volume validation follows validateVolumes, validateVolumeMounts and the
// per-source validators of pkg/apis/core/validation/validation.go, with
// upstream's messages. Volume types peapod cannot provide on one machine
// (network and cloud storage, claims) are refused here, never ignored.

// supportedVolumeTypes are the volume sources the kubelet sets up.
var supportedVolumeTypes = []string{"emptyDir", "hostPath", "configMap", "secret", "downwardAPI", "projected", "image", "persistentVolumeClaim"}

var (
	supportedHostPathTypes = sets.New(string(corev1.HostPathUnset), string(corev1.HostPathDirectoryOrCreate), string(corev1.HostPathDirectory),
		string(corev1.HostPathFileOrCreate), string(corev1.HostPathFile), string(corev1.HostPathSocket), string(corev1.HostPathCharDev), string(corev1.HostPathBlockDev))
	supportedMountPropagations = sets.New(string(corev1.MountPropagationNone), string(corev1.MountPropagationHostToContainer), string(corev1.MountPropagationBidirectional))
	supportedStorageMedia      = sets.New(string(corev1.StorageMediumDefault), string(corev1.StorageMediumMemory))
)

const fileModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"

// volumeTypes are the json names of the sources set in a volume source
// (one for a valid volume).
func volumeTypes(src any) []string {
	v := reflect.ValueOf(src)
	t := v.Type()
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			out = append(out, strings.Split(t.Field(i).Tag.Get("json"), ",")[0])
		}
	}
	return out
}

// validateVolumes checks the pod's volumes and returns their names.
func validateVolumes(vols []corev1.Volume, fldPath *field.Path) (sets.Set[string], field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	for i := range vols {
		vol := &vols[i]
		idx := fldPath.Index(i)
		errs = append(errs, validateUniqueName(vol.Name, names, idx.Child("name"))...)
		types := volumeTypes(vol.VolumeSource)
		switch {
		case len(types) == 0:
			errs = append(errs, field.Required(idx, "must specify a volume type"))
			continue
		case len(types) > 1:
			for _, t := range types[1:] {
				errs = append(errs, field.Forbidden(idx.Child(t), "may not specify more than 1 volume type"))
			}
			continue
		}
		errs = append(errs, validateVolumeSource(&vol.VolumeSource, types[0], idx)...)
	}
	return names, errs
}

func unsupportedVolume(p *field.Path, kind string) *field.Error {
	return field.Forbidden(p, fmt.Sprintf("%s volumes are not supported by peapod (supported: %s)", kind, strings.Join(supportedVolumeTypes, ", ")))
}

func validateVolumeSource(src *corev1.VolumeSource, kind string, idx *field.Path) field.ErrorList {
	var errs field.ErrorList
	p := idx.Child(kind)
	switch kind {
	case "emptyDir":
		if !supportedStorageMedia.Has(string(src.EmptyDir.Medium)) {
			errs = append(errs, field.NotSupported(p.Child("medium"), src.EmptyDir.Medium, sets.List(supportedStorageMedia)))
		}
		if l := src.EmptyDir.SizeLimit; l != nil && l.Sign() < 0 {
			errs = append(errs, field.Invalid(p.Child("sizeLimit"), l.String(), "must be greater than or equal to 0"))
		}
	case "hostPath":
		if src.HostPath.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		}
		if t := src.HostPath.Type; t != nil && !supportedHostPathTypes.Has(string(*t)) {
			errs = append(errs, field.NotSupported(p.Child("type"), *t, sets.List(supportedHostPathTypes)))
		}
	case "configMap":
		if src.ConfigMap.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		errs = append(errs, validateMode(src.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(src.ConfigMap.Items, p.Child("items"))...)
	case "secret":
		if src.Secret.SecretName == "" {
			errs = append(errs, field.Required(p.Child("secretName"), ""))
		}
		errs = append(errs, validateMode(src.Secret.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(src.Secret.Items, p.Child("items"))...)
	case "persistentVolumeClaim":
		if src.PersistentVolumeClaim.ClaimName == "" {
			errs = append(errs, field.Required(p.Child("claimName"), ""))
		}
	case "image":
		// validateImageVolumeSource: mounts of it need not say readOnly
		// (the kubelet mounts it read-only whatever they say), and may
		// take a subPath (since 1.33).
		if src.Image.Reference == "" {
			errs = append(errs, field.Required(p.Child("reference"), ""))
		}
		switch pp := src.Image.PullPolicy; {
		case pp == "":
			errs = append(errs, field.Required(p.Child("pullPolicy"), ""))
		case !supportedPullPolicies.Has(string(pp)):
			errs = append(errs, notSupported(p.Child("pullPolicy"), pp, supportedPullPolicies))
		}
	case "downwardAPI":
		errs = append(errs, validateMode(src.DownwardAPI.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateDownwardAPIFiles(src.DownwardAPI.Items, p.Child("items"))...)
	case "projected":
		errs = append(errs, validateMode(src.Projected.DefaultMode, p.Child("defaultMode"))...)
		for j, s := range src.Projected.Sources {
			sp := p.Child("sources").Index(j)
			types := volumeTypes(s)
			if len(types) != 1 {
				errs = append(errs, field.Forbidden(sp, "may not specify more than 1 volume type per source"))
				continue
			}
			switch types[0] {
			case "configMap":
				if s.ConfigMap.Name == "" {
					errs = append(errs, field.Required(sp.Child("configMap", "name"), ""))
				}
				errs = append(errs, validateKeyToPaths(s.ConfigMap.Items, sp.Child("configMap", "items"))...)
			case "secret":
				if s.Secret.Name == "" {
					errs = append(errs, field.Required(sp.Child("secret", "name"), ""))
				}
				errs = append(errs, validateKeyToPaths(s.Secret.Items, sp.Child("secret", "items"))...)
			case "downwardAPI":
				errs = append(errs, validateDownwardAPIFiles(s.DownwardAPI.Items, sp.Child("downwardAPI", "items"))...)
			case "serviceAccountToken":
				errs = append(errs, validateTokenProjection(s.ServiceAccountToken, sp.Child("serviceAccountToken"))...)
			default:
				errs = append(errs, field.Forbidden(sp.Child(types[0]), fmt.Sprintf("%s projections are not supported by peapod (supported: configMap, secret, downwardAPI, serviceAccountToken)", types[0])))
			}
		}
	default:
		errs = append(errs, unsupportedVolume(idx.Child(kind), kind))
	}
	return errs
}

func validateMode(mode *int32, p *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0o777 || *mode < 0) {
		return field.ErrorList{field.Invalid(p, *mode, fileModeErrorMsg)}
	}
	return nil
}

func validateKeyToPaths(items []corev1.KeyToPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		idx := p.Index(i)
		if it.Key == "" {
			errs = append(errs, field.Required(idx.Child("key"), ""))
		}
		if it.Path == "" {
			errs = append(errs, field.Required(idx.Child("path"), ""))
		}
		errs = append(errs, validateLocalNonReservedPath(it.Path, idx.Child("path"))...)
		errs = append(errs, validateMode(it.Mode, idx.Child("mode"))...)
	}
	return errs
}

func validateDownwardAPIFiles(items []corev1.DownwardAPIVolumeFile, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		idx := p.Index(i)
		if it.Path == "" {
			errs = append(errs, field.Required(idx.Child("path"), ""))
		}
		errs = append(errs, validateLocalNonReservedPath(it.Path, idx.Child("path"))...)
		errs = append(errs, validateMode(it.Mode, idx.Child("mode"))...)
		switch {
		case it.FieldRef != nil && it.ResourceFieldRef != nil:
			errs = append(errs, field.Invalid(idx, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		case it.FieldRef == nil && it.ResourceFieldRef == nil:
			errs = append(errs, field.Required(idx, "one of fieldRef and resourceFieldRef is required"))
		}
	}
	return errs
}

// validateLocalDescendingPath: a relative path without "..".
func validateLocalDescendingPath(p string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(p) {
		errs = append(errs, field.Invalid(fldPath, p, "must be a relative path"))
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			errs = append(errs, field.Invalid(fldPath, p, "must not contain '..'"))
			break
		}
	}
	return errs
}

// validateLocalNonReservedPath: a descending path not starting with "..".
func validateLocalNonReservedPath(p string, fldPath *field.Path) field.ErrorList {
	errs := validateLocalDescendingPath(p, fldPath)
	if strings.HasPrefix(p, "..") {
		errs = append(errs, field.Invalid(fldPath, p, "must not start with '..'"))
	}
	return errs
}

// validateVolumeMounts checks a container's mounts against the volumes.
func validateVolumeMounts(c *corev1.Container, volumes sets.Set[string], ctrPath *field.Path) field.ErrorList {
	fldPath := ctrPath.Child("volumeMounts")
	var errs field.ErrorList
	paths := sets.New[string]()
	privileged := c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged
	for i, m := range c.VolumeMounts {
		idx := fldPath.Index(i)
		switch {
		case m.Name == "":
			errs = append(errs, field.Required(idx.Child("name"), ""))
		case !volumes.Has(m.Name):
			errs = append(errs, field.NotFound(idx.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(idx.Child("mountPath"), ""))
		} else if paths.Has(m.MountPath) {
			errs = append(errs, field.Invalid(idx.Child("mountPath"), m.MountPath, "must be unique"))
		}
		paths.Insert(m.MountPath)
		if m.SubPath != "" {
			errs = append(errs, validateLocalDescendingPath(m.SubPath, idx.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				errs = append(errs, field.Invalid(idx.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			errs = append(errs, validateLocalDescendingPath(m.SubPathExpr, idx.Child("subPathExpr"))...)
		}
		if p := m.MountPropagation; p != nil {
			switch {
			case !supportedMountPropagations.Has(string(*p)):
				errs = append(errs, field.NotSupported(idx.Child("mountPropagation"), *p, sets.List(supportedMountPropagations)))
			case *p == corev1.MountPropagationBidirectional && !privileged:
				errs = append(errs, field.Forbidden(idx.Child("mountPropagation"), "Bidirectional mount propagation is available only to privileged containers"))
			}
		}
		if rro := m.RecursiveReadOnly; rro != nil {
			switch *rro {
			case corev1.RecursiveReadOnlyDisabled:
			case corev1.RecursiveReadOnlyEnabled, corev1.RecursiveReadOnlyIfPossible:
				if !m.ReadOnly {
					errs = append(errs, field.Forbidden(idx.Child("recursiveReadOnly"), "may only be specified when readOnly is true"))
				}
				if p := m.MountPropagation; p != nil && *p != corev1.MountPropagationNone {
					errs = append(errs, field.Forbidden(idx.Child("recursiveReadOnly"), "may only be specified when mountPropagation is None or not specified"))
				}
			default:
				errs = append(errs, field.NotSupported(idx.Child("recursiveReadOnly"), *rro,
					[]string{string(corev1.RecursiveReadOnlyDisabled), string(corev1.RecursiveReadOnlyEnabled), string(corev1.RecursiveReadOnlyIfPossible)}))
			}
		}
	}
	for i, d := range c.VolumeDevices {
		errs = append(errs, field.Forbidden(ctrPath.Child("volumeDevices").Index(i), fmt.Sprintf("block devices (%q) are not supported by peapod", d.Name)))
	}
	return errs
}

// validateTokenProjection is upstream's validateProjectionSources for a
// serviceAccountToken source.
func validateTokenProjection(t *corev1.ServiceAccountTokenProjection, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.ExpirationSeconds != nil {
		switch s := *t.ExpirationSeconds; {
		case s < 10*60:
			errs = append(errs, field.Invalid(p.Child("expirationSeconds"), s, "may not specify a duration less than 10 minutes"))
		case s > 1<<32:
			errs = append(errs, field.Invalid(p.Child("expirationSeconds"), s, "may not specify a duration larger than 2^32 seconds"))
		}
	}
	if t.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	} else {
		errs = append(errs, validateLocalNonReservedPath(t.Path, p.Child("path"))...)
	}
	return errs
}
