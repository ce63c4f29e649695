package pod

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAdmitServiceAccount(t *testing.T) {
	no := false
	accounts := map[string]*corev1.ServiceAccount{
		"default": {ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		"quiet":   {ObjectMeta: metav1.ObjectMeta{Name: "quiet"}, AutomountServiceAccountToken: &no},
		"puller":  {ObjectMeta: metav1.ObjectMeta{Name: "puller"}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "reg"}}},
	}
	s := &Strategy{ServiceAccounts: func(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
		if sa, ok := accounts[name]; ok {
			return sa, nil
		}
		return nil, apierrors.NewNotFound(corev1.Resource("serviceaccounts"), name)
	}}
	newPod := func(sa string, automount *bool) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{
			ServiceAccountName: sa, AutomountServiceAccountToken: automount,
			InitContainers: []corev1.Container{{Name: "init"}},
			Containers:     []corev1.Container{{Name: "a"}, {Name: "b", VolumeMounts: []corev1.VolumeMount{{Name: "own", MountPath: ServiceAccountMountPath}}}},
		}}
	}
	yes := true
	for _, tc := range []struct {
		name          string
		pod           *corev1.Pod
		wantErr       string
		wantMounted   []string // containers with the token volume
		wantPullNames []string
	}{
		{name: "default account", pod: newPod("", nil), wantMounted: []string{"init", "a"}},
		{name: "missing account", pod: newPod("ghost", nil),
			wantErr: `pods "p" is forbidden: error looking up service account ns/ghost: serviceaccount "ghost" not found`},
		{name: "missing account, generated name", pod: func() *corev1.Pod { p := newPod("ghost", nil); p.Name, p.GenerateName = "", "web-"; return p }(),
			wantErr: `pods "web-" is forbidden: error looking up service account ns/ghost: serviceaccount "ghost" not found`},
		{name: "pod opts out", pod: newPod("", &no)},
		{name: "account opts out", pod: newPod("quiet", nil)},
		{name: "pod overrides the account", pod: newPod("quiet", &yes), wantMounted: []string{"init", "a"}},
		{name: "account pull secrets", pod: newPod("puller", nil), wantMounted: []string{"init", "a"}, wantPullNames: []string{"reg"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.AdmitCreate(context.Background(), tc.pod)
			if tc.wantErr != "" {
				if err == nil || !apierrors.IsForbidden(err) || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want Forbidden %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var vol string
			for _, v := range tc.pod.Spec.Volumes {
				if strings.HasPrefix(v.Name, "kube-api-access-") && len(v.Name) == len("kube-api-access-")+5 {
					vol = v.Name
					if src := v.Projected.Sources; len(src) != 3 || src[0].ServiceAccountToken.Path != "token" ||
						src[1].ConfigMap.Name != "kube-root-ca.crt" || src[2].DownwardAPI.Items[0].FieldRef.FieldPath != "metadata.namespace" {
						t.Errorf("volume sources %+v", src)
					}
				}
			}
			var mounted []string
			for _, c := range append(tc.pod.Spec.InitContainers, tc.pod.Spec.Containers...) {
				for _, m := range c.VolumeMounts {
					if m.Name == vol && vol != "" && m.ReadOnly && m.MountPath == ServiceAccountMountPath {
						mounted = append(mounted, c.Name)
					}
				}
			}
			if strings.Join(mounted, ",") != strings.Join(tc.wantMounted, ",") {
				t.Errorf("mounted in %v, want %v", mounted, tc.wantMounted)
			}
			var pulls []string
			for _, r := range tc.pod.Spec.ImagePullSecrets {
				pulls = append(pulls, r.Name)
			}
			if strings.Join(pulls, ",") != strings.Join(tc.wantPullNames, ",") {
				t.Errorf("pull secrets %v, want %v", pulls, tc.wantPullNames)
			}
		})
	}
}
