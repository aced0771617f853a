package workload

import (
	"fmt"
	"path"
	"sort"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// fileKey maps a file path to its ConfigMap key (keys cannot hold slashes).
type fileKey struct{ path, key string }

func fileKeys(files map[string]string) []fileKey {
	out := make([]fileKey, 0, len(files))
	for i, p := range sortedKeys(files) {
		out = append(out, fileKey{path: p, key: fmt.Sprintf("f%d-%s", i, sanitizeKey(path.Base(p)))})
	}
	return out
}

func sanitizeKey(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// podTemplate builds the hardened pod of a function; name is its object name.
func podTemplate(name string, a *Args, labels map[string]string, hash string, files []fileKey) *corev1.PodTemplateSpecArgs {
	user, group, fsGroup := a.ids()
	volumes, mounts := podVolumes(name, a, files)
	spec := &corev1.PodSpecArgs{
		ServiceAccountName:           pulumi.String(name),
		AutomountServiceAccountToken: pulumi.Bool(false),
		NodeSelector:                 stringMap(a.nodeSelector()),
		SecurityContext: &corev1.PodSecurityContextArgs{
			RunAsNonRoot:   pulumi.Bool(true),
			RunAsUser:      pulumi.Int(user),
			RunAsGroup:     pulumi.Int(group),
			FsGroup:        pulumi.Int(fsGroup),
			SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
		},
		Containers: corev1.ContainerArray{container(name, a, mounts)},
	}
	if a.Schedule != "" {
		// A job's pod runs to completion; the Job retries a failed run (backoffLimit).
		spec.RestartPolicy = pulumi.String("Never")
	}
	if len(volumes) > 0 {
		spec.Volumes = volumes
	}
	if len(a.Overrides.Tolerations) > 0 {
		var tol corev1.TolerationArray
		for _, t := range a.Overrides.Tolerations {
			tol = append(tol, corev1.TolerationArgs{
				Key: optional(t.Key), Operator: optional(t.Operator), Value: optional(t.Value), Effect: optional(t.Effect),
			})
		}
		spec.Tolerations = tol
	}
	return &corev1.PodTemplateSpecArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Labels:      stringMap(labels),
			Annotations: pulumi.StringMap{"smartx.io/config-hash": pulumi.String(hash)},
		},
		Spec: spec,
	}
}

// container is the pod's one container, named name like its objects: unprivileged,
// read-only but for mounts, its settings from the env ConfigMap and the Secrets.
func container(name string, a *Args, mounts corev1.VolumeMountArray) *corev1.ContainerArgs {
	user, group, _ := a.ids()
	c := &corev1.ContainerArgs{
		Name:            pulumi.String(name),
		Image:           pulumi.String(a.image()),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Resources:       resources(a.resources()),
		SecurityContext: &corev1.SecurityContextArgs{
			RunAsNonRoot:             pulumi.Bool(true),
			RunAsUser:                pulumi.Int(user),
			RunAsGroup:               pulumi.Int(group),
			AllowPrivilegeEscalation: pulumi.Bool(false),
			ReadOnlyRootFilesystem:   pulumi.Bool(true),
			Privileged:               pulumi.Bool(false),
			Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
		},
	}
	if len(a.Ports) > 0 {
		c.Ports = containerPorts(a.Ports)
	}
	if a.Liveness != nil {
		c.LivenessProbe = probe(a.Liveness)
	}
	if a.Readiness != nil {
		c.ReadinessProbe = probe(a.Readiness)
	}
	if len(a.Command) > 0 {
		c.Command = pulumi.ToStringArray(a.Command)
	}
	if len(a.CommandArgs) > 0 {
		c.Args = pulumi.ToStringArray(a.CommandArgs)
	}
	if len(a.env()) > 0 {
		c.EnvFrom = corev1.EnvFromSourceArray{corev1.EnvFromSourceArgs{
			ConfigMapRef: &corev1.ConfigMapEnvSourceArgs{Name: pulumi.String(name + "-env")},
		}}
	}
	var env corev1.EnvVarArray
	for _, s := range a.SecretEnv {
		env = append(env, corev1.EnvVarArgs{
			Name: pulumi.String(s.Name),
			ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
				Name: pulumi.String(s.Secret), Key: pulumi.String(s.Key),
			}},
		})
	}
	if len(env) > 0 {
		c.Env = env
	}
	if len(mounts) > 0 {
		c.VolumeMounts = mounts
	}
	return c
}

// podVolumes lists the pod's volumes and the container's mounts: an emptyDir per
// writable directory, the Secret mounts, one ConfigMap volume per directory of files
// and the StatefulSet's data volume (a claim template, so no pod volume).
func podVolumes(name string, a *Args, files []fileKey) (corev1.VolumeArray, corev1.VolumeMountArray) {
	var volumes corev1.VolumeArray
	var mounts corev1.VolumeMountArray
	for i, dir := range a.Writable {
		v := fmt.Sprintf("tmp%d", i)
		volumes = append(volumes, corev1.VolumeArgs{Name: pulumi.String(v), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}})
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String(v), MountPath: pulumi.String(dir)})
	}
	for i, s := range a.SecretMounts {
		v := fmt.Sprintf("secret%d", i)
		volumes = append(volumes, corev1.VolumeArgs{Name: pulumi.String(v), Secret: &corev1.SecretVolumeSourceArgs{
			SecretName:  pulumi.String(s.Secret),
			DefaultMode: pulumi.Int(0o440),
		}})
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String(v), MountPath: pulumi.String(s.Path), ReadOnly: pulumi.Bool(true)})
	}
	// Files are grouped by directory: one ConfigMap volume per directory, holding just
	// that directory's files.
	byDir := map[string][]fileKey{}
	for _, fk := range files {
		byDir[path.Dir(fk.path)] = append(byDir[path.Dir(fk.path)], fk)
	}
	for i, dir := range sortedKeys(byDir) {
		v := fmt.Sprintf("files%d", i)
		var items corev1.KeyToPathArray
		for _, fk := range byDir[dir] {
			items = append(items, corev1.KeyToPathArgs{Key: pulumi.String(fk.key), Path: pulumi.String(path.Base(fk.path))})
		}
		volumes = append(volumes, corev1.VolumeArgs{Name: pulumi.String(v), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{
			Name: pulumi.String(name + "-files"), Items: items,
		}})
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String(v), MountPath: pulumi.String(dir), ReadOnly: pulumi.Bool(true)})
	}
	for i, c := range a.Claims {
		v := fmt.Sprintf("claim%d", i)
		volumes = append(volumes, corev1.VolumeArgs{Name: pulumi.String(v), PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{
			ClaimName: pulumi.String(c.Claim), ReadOnly: pulumi.Bool(c.ReadOnly),
		}})
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String(v), MountPath: pulumi.String(c.Path), ReadOnly: pulumi.Bool(c.ReadOnly)})
	}
	if a.Storage != nil {
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String("data"), MountPath: pulumi.String(a.Storage.Path)})
	}
	return volumes, mounts
}

func optional(s string) pulumi.StringPtrInput {
	if s == "" {
		return nil
	}
	return pulumi.String(s)
}

func containerPorts(ports []Port) corev1.ContainerPortArray {
	out := make(corev1.ContainerPortArray, 0, len(ports))
	for _, p := range ports {
		out = append(out, corev1.ContainerPortArgs{
			Name: pulumi.String(p.Name), ContainerPort: pulumi.Int(p.Port), Protocol: pulumi.String(protocol(p.Protocol)),
		})
	}
	return out
}

func probe(p *Probe) *corev1.ProbeArgs {
	period, failures := 10, 3
	if p.Period > 0 {
		period = p.Period
	}
	if p.FailureThreshold > 0 {
		failures = p.FailureThreshold
	}
	out := &corev1.ProbeArgs{
		PeriodSeconds:    pulumi.Int(period),
		FailureThreshold: pulumi.Int(failures),
		TimeoutSeconds:   pulumi.Int(3),
	}
	if p.InitialDelay > 0 {
		out.InitialDelaySeconds = pulumi.Int(p.InitialDelay)
	}
	switch {
	case p.Path != "":
		out.HttpGet = &corev1.HTTPGetActionArgs{Path: pulumi.String(p.Path), Port: pulumi.Int(p.Port)}
	case len(p.Exec) > 0:
		out.Exec = &corev1.ExecActionArgs{Command: pulumi.ToStringArray(p.Exec)}
	default:
		out.TcpSocket = &corev1.TCPSocketActionArgs{Port: pulumi.Int(p.Port)}
	}
	return out
}

func resources(r Resources) *corev1.ResourceRequirementsArgs {
	req, lim := pulumi.StringMap{}, pulumi.StringMap{}
	for _, q := range []struct {
		m        pulumi.StringMap
		key, val string
	}{{req, "cpu", r.CPURequest}, {req, "memory", r.MemoryRequest}, {lim, "cpu", r.CPULimit}, {lim, "memory", r.MemoryLimit}} {
		if q.val != "" {
			q.m[q.key] = pulumi.String(q.val)
		}
	}
	out := &corev1.ResourceRequirementsArgs{}
	if len(req) > 0 {
		out.Requests = req
	}
	if len(lim) > 0 {
		out.Limits = lim
	}
	return out
}

// sortedInts returns ports in order, for stable policies.
func sortedInts(in []int) []int {
	out := append([]int(nil), in...)
	sort.Ints(out)
	return out
}
