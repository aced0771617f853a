package function_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/function"
)

const digest = "registry.local/hubbridge@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func baseArgs() *function.Args {
	return &function.Args{
		Namespace: "smartx",
		Image:     digest,
		Role:      function.RoleHub,
		Ports:     []function.Port{{Name: "ingest", Port: 59880}, {Name: "admin", Port: 9102}},
		Env:       map[string]string{"HUB_MODE": "standalone"},
		SecretEnv: []function.SecretEnv{{Name: "HUB_MONGO_URI", Secret: "hub-mongo", Key: "uri"}},
		Liveness:  &function.Probe{Path: "/healthz", Port: 9102},
		Readiness: &function.Probe{Path: "/readyz", Port: 9102},
		Ingress:   []function.Peer{{Ports: []int{59880}}},
		Egress:    []function.Peer{{App: "mongodb", Ports: []int{27017}}},
	}
}

// declare runs New under mocks with a Kubernetes provider and returns the manifests.
func declare(t *testing.T, args *function.Args) ([]componenttest.Resource, map[string]componenttest.Manifest) {
	t.Helper()
	m, err := componenttest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		p, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		_, err = function.New(ctx, "hubbridge", args, pulumi.Provider(p))
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
		{"node selector", get(t, pod, "nodeSelector", function.DefaultRoleLabel), "hub"},
		{"pod non-root", get(t, pod, "securityContext", "runAsNonRoot"), true},
		{"read-only root", get(t, c, "securityContext", "readOnlyRootFilesystem"), true},
		{"no escalation", get(t, c, "securityContext", "allowPrivilegeEscalation"), false},
		{"caps dropped", get(t, c, "securityContext", "capabilities", "drop", 0), "ALL"},
		{"liveness", get(t, c, "livenessProbe", "httpGet", "path"), "/healthz"},
		{"readiness", get(t, c, "readinessProbe", "httpGet", "path"), "/readyz"},
		{"cpu request", get(t, c, "resources", "requests", "cpu"), function.DefaultResources.CPURequest},
		{"memory limit", get(t, c, "resources", "limits", "memory"), function.DefaultResources.MemoryLimit},
		{"env from config map", get(t, c, "envFrom", 0, "configMapRef", "name"), "hubbridge-env"},
		{"secret env", get(t, c, "env", 0, "valueFrom", "secretKeyRef", "name"), "hub-mongo"},
		{"no token", get(t, pod, "automountServiceAccountToken"), false},
		{"replicas", get(t, m["Deployment/hubbridge"].Object, "spec", "replicas"), int64(1)},
		{"service type", get(t, m["Service/hubbridge"].Object, "spec", "type"), "ClusterIP"},
		{"egress to mongodb", get(t, m["NetworkPolicy/hubbridge"].Object, "spec", "egress", 1, "to", 0, "podSelector", "matchLabels", function.LabelName), "mongodb"},
		{"dns allowed", get(t, m["NetworkPolicy/hubbridge"].Object, "spec", "egress", 0, "ports", 0, "port"), int64(53)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v (%T), want %v", c.name, c.got, c.got, c.want)
		}
	}

	// Every child is parented to the component and uses the provider given to it.
	comp, err := componenttest.Find(rs, function.TypeToken, "hubbridge")
	if err != nil {
		t.Fatal(err)
	}
	children := componenttest.Children(rs, comp)
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
	args.Storage = &function.Storage{Path: "/data"}
	args.Overrides = function.Overrides{
		Image:        "example.org/other@sha256:abc",
		Replicas:     &three,
		NodeSelector: map[string]string{"kubernetes.io/hostname": "pi-7"},
		Tolerations:  []function.Toleration{{Key: "edge", Operator: "Exists", Effect: "NoSchedule"}},
		Resources:    &function.Resources{CPURequest: "1", MemoryLimit: "1Gi"},
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
		{"role selector replaced", get(t, pod, "nodeSelector", function.DefaultRoleLabel), nil},
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

func TestInvalidArgsAreRejected(t *testing.T) {
	for name, mutate := range map[string]func(*function.Args){
		"no namespace":   func(a *function.Args) { a.Namespace = "" },
		"no image":       func(a *function.Args) { a.Image = "" },
		"no role":        func(a *function.Args) { a.Role = "" },
		"no ports":       func(a *function.Args) { a.Ports = nil },
		"bad port":       func(a *function.Args) { a.Ports[0].Port = 70000 },
		"no probes":      func(a *function.Args) { a.Liveness = nil },
		"bad env":        func(a *function.Args) { a.Env["1X"] = "y" },
		"relative file":  func(a *function.Args) { a.Files = map[string]string{"etc/x": ""} },
		"storage path":   func(a *function.Args) { a.Storage = &function.Storage{} },
		"negative count": func(a *function.Args) { n := -1; a.Overrides.Replicas = &n },
	} {
		t.Run(name, func(t *testing.T) {
			args := baseArgs()
			mutate(args)
			_, err := componenttest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
				_, err := function.New(ctx, "hubbridge", args)
				return err
			})
			if err == nil {
				t.Fatal("New accepted invalid args")
			}
		})
	}
}
