package workload_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/workload"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

const digest = "registry.local/hubbridge@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func baseArgs() *workload.Args {
	return &workload.Args{
		Namespace: "smartx",
		Image:     digest,
		Role:      workload.RoleHub,
		Ports:     []workload.Port{{Name: "ingest", Port: 59880}, {Name: "admin", Port: 9102}},
		Env:       map[string]string{"HUB_MODE": "standalone"},
		SecretEnv: []workload.SecretEnv{{Name: "HUB_MONGO_URI", Secret: "hub-mongo", Key: "uri"}},
		Liveness:  &workload.Probe{Path: "/healthz", Port: 9102},
		Readiness: &workload.Probe{Path: "/readyz", Port: 9102},
		Ingress:   []workload.Peer{{Ports: []int{59880}}},
		Egress:    []workload.Peer{{App: "mongodb", Ports: []int{27017}}},
	}
}

// declare runs New under mocks with a Kubernetes provider and returns the manifests.
func declare(t *testing.T, args *workload.Args) ([]pulumitest.Resource, map[string]componenttest.Manifest) {
	t.Helper()
	m, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		_, err = workload.New(ctx, "hubbridge", args, pulumi.Provider(p))
		return err
	})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	ms, err := componenttest.Manifests(m.Resources())
	if err != nil {
		t.Fatalf("manifests: %v", err)
	}
	byKind := map[string]componenttest.Manifest{}
	for _, mf := range ms {
		byKind[mf.Kind+"/"+mf.Name] = mf
	}
	return m.Resources(), byKind
}

// get walks obj along a path of map keys and array indexes.
func get(t *testing.T, obj any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := obj.(map[string]any)
			if !ok {
				t.Fatalf("path %v: %T is not an object at %q", path, obj, k)
			}
			obj = m[k]
		case int:
			a, ok := obj.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("path %v: no element %d", path, k)
			}
			obj = a[k]
		}
	}
	return obj
}

func TestDeploymentIsHardenedAndPlaced(t *testing.T) {
	rs, m := declare(t, baseArgs())
	for _, want := range []string{"ServiceAccount/hubbridge", "ConfigMap/hubbridge-env", "Deployment/hubbridge", "Service/hubbridge", "PodDisruptionBudget/hubbridge", "NetworkPolicy/hubbridge"} {
		if _, ok := m[want]; !ok {
			t.Errorf("missing %s", want)
		}
	}
	if _, ok := m["StatefulSet/hubbridge"]; ok {
		t.Error("a function without storage must not be a StatefulSet")
	}
	pod := get(t, m["Deployment/hubbridge"].Object, "spec", "template", "spec")
	c := get(t, pod, "containers", 0)
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"image", get(t, c, "image"), digest},
		{"node selector", get(t, pod, "nodeSelector", workload.DefaultRoleLabel), "hub"},
		{"pod non-root", get(t, pod, "securityContext", "runAsNonRoot"), true},
		{"read-only root", get(t, c, "securityContext", "readOnlyRootFilesystem"), true},
		{"no escalation", get(t, c, "securityContext", "allowPrivilegeEscalation"), false},
		{"caps dropped", get(t, c, "securityContext", "capabilities", "drop", 0), "ALL"},
		{"liveness", get(t, c, "livenessProbe", "httpGet", "path"), "/healthz"},
		{"readiness", get(t, c, "readinessProbe", "httpGet", "path"), "/readyz"},
		{"cpu request", get(t, c, "resources", "requests", "cpu"), workload.DefaultResources.CPURequest},
		{"memory limit", get(t, c, "resources", "limits", "memory"), workload.DefaultResources.MemoryLimit},
		{"env from config map", get(t, c, "envFrom", 0, "configMapRef", "name"), "hubbridge-env"},
		{"secret env", get(t, c, "env", 0, "valueFrom", "secretKeyRef", "name"), "hub-mongo"},
		{"no token", get(t, pod, "automountServiceAccountToken"), false},
		{"replicas", get(t, m["Deployment/hubbridge"].Object, "spec", "replicas"), int64(1)},
		{"service type", get(t, m["Service/hubbridge"].Object, "spec", "type"), "ClusterIP"},
		{"egress to mongodb", get(t, m["NetworkPolicy/hubbridge"].Object, "spec", "egress", 1, "to", 0, "podSelector", "matchLabels", workload.LabelName), "mongodb"},
		{"dns allowed", get(t, m["NetworkPolicy/hubbridge"].Object, "spec", "egress", 0, "ports", 0, "port"), int64(53)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v (%T), want %v", c.name, c.got, c.got, c.want)
		}
	}

	// Every child is parented to the component and uses the provider given to it.
	comp, err := pulumitest.Find(rs, workload.TypeToken, "hubbridge")
	if err != nil {
		t.Fatal(err)
	}
	children := pulumitest.Children(rs, comp)
	if len(children) != 6 {
		t.Errorf("component has %d children, want 6", len(children))
	}
	for _, ch := range children {
		if !strings.Contains(ch.Provider, "pulumi:providers:kubernetes::k8s") {
			t.Errorf("%s uses provider %q, want the one passed to the component", ch.Key(), ch.Provider)
		}
	}
}

func TestOverridesAndStorage(t *testing.T) {
	args := baseArgs()
	three := 3
	args.Storage = &workload.Storage{Path: "/data"}
	args.Overrides = workload.Overrides{
		Image:        "example.org/other@sha256:abc",
		Replicas:     &three,
		NodeSelector: map[string]string{"kubernetes.io/hostname": "pi-7"},
		Tolerations:  []workload.Toleration{{Key: "edge", Operator: "Exists", Effect: "NoSchedule"}},
		Resources:    &workload.Resources{CPURequest: "1", MemoryLimit: "1Gi"},
		Env:          map[string]string{"HUB_LOG_LEVEL": "debug"},
		StorageSize:  "5Gi",
		ServiceType:  "LoadBalancer",
	}
	_, m := declare(t, args)
	sts := m["StatefulSet/hubbridge"].Object
	if _, ok := m["Deployment/hubbridge"]; ok {
		t.Error("a function with storage must not be a Deployment")
	}
	pod := get(t, sts, "spec", "template", "spec")
	c := get(t, pod, "containers", 0)
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"image", get(t, c, "image"), "example.org/other@sha256:abc"},
		{"replicas", get(t, sts, "spec", "replicas"), int64(3)},
		{"node selector", get(t, pod, "nodeSelector", "kubernetes.io/hostname"), "pi-7"},
		{"role selector replaced", get(t, pod, "nodeSelector", workload.DefaultRoleLabel), nil},
		{"toleration", get(t, pod, "tolerations", 0, "key"), "edge"},
		{"cpu", get(t, c, "resources", "requests", "cpu"), "1"},
		{"extra env", get(t, m["ConfigMap/hubbridge-env"].Object, "data", "HUB_LOG_LEVEL"), "debug"},
		{"env kept", get(t, m["ConfigMap/hubbridge-env"].Object, "data", "HUB_MODE"), "standalone"},
		{"storage", get(t, sts, "spec", "volumeClaimTemplates", 0, "spec", "resources", "requests", "storage"), "5Gi"},
		{"data mount", get(t, c, "volumeMounts", 0, "mountPath"), "/data"},
		{"headless", get(t, m["Service/hubbridge-headless"].Object, "spec", "clusterIP"), "None"},
		{"service type", get(t, m["Service/hubbridge"].Object, "spec", "type"), "LoadBalancer"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestFilesChangeTheConfigHash(t *testing.T) {
	hash := func(content string) any {
		args := baseArgs()
		args.Files = map[string]string{"/etc/app/app.conf": content, "/etc/other/x.yaml": "x"}
		_, m := declare(t, args)
		pod := get(t, m["Deployment/hubbridge"].Object, "spec", "template")
		if got := get(t, pod, "spec", "volumes", 0, "configMap", "items", 0, "path"); got != "app.conf" {
			t.Errorf("first file volume item path = %v, want app.conf", got)
		}
		return get(t, pod, "metadata", "annotations", "smartx.io/config-hash")
	}
	if a, b := hash("a"), hash("b"); a == b {
		t.Errorf("config hash %v did not change with a file's content", a)
	}
}

// Each bad Args is refused with an error naming the bad field.
func TestInvalidArgsAreRejected(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*workload.Args)
		key    string
	}{
		"no namespace":   {func(a *workload.Args) { a.Namespace = "" }, "Namespace"},
		"no image":       {func(a *workload.Args) { a.Image = "" }, "Image"},
		"no role":        {func(a *workload.Args) { a.Role = "" }, "Role"},
		"no ports":       {func(a *workload.Args) { a.Ports = nil }, "Ports"},
		"bad port":       {func(a *workload.Args) { a.Ports[0].Port = 70000 }, "Ports"},
		"no probes":      {func(a *workload.Args) { a.Liveness = nil }, "Liveness"},
		"bad env":        {func(a *workload.Args) { a.Env["1X"] = "y" }, "Env"},
		"relative file":  {func(a *workload.Args) { a.Files = map[string]string{"etc/x": ""} }, "Files"},
		"storage path":   {func(a *workload.Args) { a.Storage = &workload.Storage{} }, "Storage.Path"},
		"negative count": {func(a *workload.Args) { n := -1; a.Overrides.Replicas = &n }, "Overrides.Replicas"},
		"bad name":       {func(a *workload.Args) { a.ObjectName = "Hub_Bridge" }, "ObjectName"},
		"bad schedule":   {func(a *workload.Args) { a.Schedule = "hourly" }, "Schedule"},
		"schedule+disk":  {func(a *workload.Args) { a.Schedule, a.Storage = "0 * * * *", &workload.Storage{Path: "/d"} }, "Storage"},
		"bad claim":      {func(a *workload.Args) { a.Claims = []workload.ClaimMount{{Claim: "models", Path: "m"}} }, "Claims"},
	} {
		t.Run(name, func(t *testing.T) {
			args := baseArgs()
			tc.mutate(args)
			_, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
				_, err := workload.New(ctx, "hubbridge", args)
				return err
			})
			if err == nil {
				t.Fatal("New accepted invalid args")
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Errorf("error %q does not name %s", err, tc.key)
			}
		})
	}
}

// ObjectName names the Kubernetes objects, the component's name its Pulumi children,
// so one object name can be declared by several components in one stack.
func TestObjectNameKeepsKubernetesNames(t *testing.T) {
	args := baseArgs()
	args.ObjectName = "hubbridge"
	args.Storage = &workload.Storage{Path: "/data"}
	var w *workload.Workload
	m, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		var err error
		w, err = workload.New(ctx, "energy-a-hubbridge", args)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if w.Name != "hubbridge" || w.URL("http") != "http://hubbridge.smartx.svc.cluster.local:59880" {
		t.Errorf("name %s url %s", w.Name, w.URL("http"))
	}
	for _, r := range m.Resources() {
		if !strings.HasPrefix(r.Name, "energy-a-hubbridge") {
			t.Errorf("%s is not named from the component's name", r.Key())
		}
	}
	ms, err := componenttest.Manifests(m.Resources())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var sts map[string]any
	for _, mf := range ms {
		names = append(names, mf.Kind+"/"+mf.Name)
		if mf.Kind == "StatefulSet" {
			sts = mf.Object
		}
	}
	want := "ServiceAccount/hubbridge ConfigMap/hubbridge-env Service/hubbridge-headless StatefulSet/hubbridge Service/hubbridge NetworkPolicy/hubbridge PodDisruptionBudget/hubbridge"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("objects\n got %s\nwant %s", got, want)
	}
	if got := fmt.Sprint(get(t, sts, "spec", "serviceName"), " ", get(t, sts, "spec", "template", "spec", "serviceAccountName")); got != "hubbridge-headless hubbridge" {
		t.Errorf("StatefulSet refers to %s", got)
	}
}

// A scheduled function is a CronJob that never overlaps its runs, with a pod that runs
// to completion, as hardened as any other, mounting a shared claim; it has no Service,
// no disruption budget and no ingress.
func TestScheduledFunctionIsACronJob(t *testing.T) {
	args := baseArgs()
	args.Schedule = "17 * * * *"
	args.Ports, args.Liveness, args.Readiness, args.Ingress = nil, nil, nil, nil
	args.Claims = []workload.ClaimMount{{Claim: "models", Path: "/models"}}
	_, ms := declare(t, args)
	cj, ok := ms["CronJob/hubbridge"]
	if !ok {
		t.Fatalf("no CronJob among %v", keys(ms))
	}
	for _, k := range []string{"Deployment/hubbridge", "Service/hubbridge", "PodDisruptionBudget/hubbridge"} {
		if _, ok := ms[k]; ok {
			t.Errorf("a scheduled function has a %s", k)
		}
	}
	if got := get(t, cj.Object, "spec", "schedule"); got != "17 * * * *" {
		t.Errorf("schedule %v", got)
	}
	if got := get(t, cj.Object, "spec", "concurrencyPolicy"); got != "Forbid" {
		t.Errorf("concurrencyPolicy %v, want Forbid", got)
	}
	pod := get(t, cj.Object, "spec", "jobTemplate", "spec", "template", "spec")
	if got := get(t, pod, "restartPolicy"); got != "Never" {
		t.Errorf("restartPolicy %v, want Never", got)
	}
	if got := get(t, pod, "containers", 0, "securityContext", "readOnlyRootFilesystem"); got != true {
		t.Errorf("readOnlyRootFilesystem %v", got)
	}
	if got := get(t, pod, "volumes", 0, "persistentVolumeClaim", "claimName"); got != "models" {
		t.Errorf("claim volume %v", got)
	}
	if got := get(t, pod, "containers", 0, "volumeMounts", 0, "mountPath"); got != "/models" {
		t.Errorf("claim mount %v", got)
	}
	np := ms["NetworkPolicy/hubbridge"]
	if in, _ := get(t, np.Object, "spec", "ingress").([]any); len(in) != 0 {
		t.Errorf("a scheduled function accepts connections: %v", in)
	}
}

// A shared claim is one PersistentVolumeClaim, ReadWriteOnce by default.
func TestNewClaim(t *testing.T) {
	m, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		_, err := workload.NewClaim(ctx, "models", &workload.ClaimArgs{Name: "models", Namespace: "smartx", Size: "2Gi"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := componenttest.Manifests(m.Resources())
	if err != nil || len(ms) != 1 || ms[0].Kind != "PersistentVolumeClaim" {
		t.Fatalf("manifests %v, %v; want one claim", ms, err)
	}
	if got := get(t, ms[0].Object, "spec", "resources", "requests", "storage"); got != "2Gi" {
		t.Errorf("size %v", got)
	}
	if got := get(t, ms[0].Object, "spec", "accessModes", 0); got != "ReadWriteOnce" {
		t.Errorf("access mode %v", got)
	}
	if _, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		_, err := workload.NewClaim(ctx, "models", &workload.ClaimArgs{Name: "Models"})
		return err
	}); err == nil {
		t.Error("a claim without a namespace and with a bad name was accepted")
	}
}

func keys(ms map[string]componenttest.Manifest) []string {
	var out []string
	for k := range ms {
		out = append(out, k)
	}
	return out
}

// Recreate makes the Deployment stop its old pods before it starts new ones; without
// it the update is rolling.
func TestRecreate(t *testing.T) {
	for _, recreate := range []bool{false, true} {
		args := baseArgs()
		args.Recreate = recreate
		_, ms := declare(t, args)
		got := componenttest.Field(ms["Deployment/hubbridge"].Object, "spec", "strategy", "type")
		if want := map[bool]any{false: nil, true: "Recreate"}[recreate]; got != want {
			t.Errorf("Recreate %v: strategy %v, want %v", recreate, got, want)
		}
	}
}
