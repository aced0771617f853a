package inference_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/inference"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

const image = "registry.local/inference@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func validArgs() *inference.Args {
	return &inference.Args{Namespace: "smartx", Image: image, ModelClaim: "models"}
}

// declare runs New(name) under mocks with a Kubernetes provider and returns what it
// registered, its manifests by kind/name, and the component.
func declare(t *testing.T, name string, args *inference.Args) ([]pulumitest.Resource, map[string]componenttest.Manifest, *inference.Inference) {
	t.Helper()
	var inf *inference.Inference
	rs, m := componenttest.Declare(t, func(ctx *pulumi.Context, provider pulumi.ResourceOption) error {
		var err error
		inf, err = inference.New(ctx, name, args, provider)
		return err
	})
	return rs, m, inf
}

func TestSettings(t *testing.T) {
	base := map[string]any{
		"INFERENCE_LISTEN": ":8501", "INFERENCE_ADMIN_LISTEN": ":9105",
		"INFERENCE_MODEL_BASE": "/models", "INFERENCE_LOG_LEVEL": "info",
	}
	for _, tc := range []struct {
		name    string
		mutate  func(*inference.Args)
		env     map[string]any
		ingress []string
	}{
		{"defaults", func(*inference.Args) {}, base, []string{"controller:TCP 8501"}},
		{
			"settings", func(a *inference.Args) {
				a.Poll, a.MaxBodyBytes, a.LogLevel = 30*time.Second, 4<<20, "debug"
				a.Clients = []string{"controller", "grafana"}
			},
			map[string]any{
				"INFERENCE_LISTEN": ":8501", "INFERENCE_ADMIN_LISTEN": ":9105", "INFERENCE_MODEL_BASE": "/models",
				"INFERENCE_LOG_LEVEL": "debug", "INFERENCE_POLL": "30s", "INFERENCE_MAX_BODY_BYTES": "4194304",
			},
			[]string{"controller:TCP 8501", "grafana:TCP 8501"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs()
			tc.mutate(args)
			_, m, inf := declare(t, "inference", args)
			if got := componenttest.Field(m["ConfigMap/inference-env"].Object, "data"); !reflect.DeepEqual(got, tc.env) {
				t.Errorf("env\n got %v\nwant %v", got, tc.env)
			}
			pod := componenttest.Field(m["Deployment/inference"].Object, "spec", "template", "spec")
			// The model claim, read-only at the model base.
			var claims []string
			for _, v := range componenttest.Field(pod, "volumes").([]any) {
				if c := componenttest.Field(v, "persistentVolumeClaim"); c != nil {
					claims = append(claims, componenttest.Field(c, "claimName").(string))
					if componenttest.Field(c, "readOnly") != true {
						t.Errorf("claim volume %v is not read-only", v)
					}
				}
			}
			if !reflect.DeepEqual(claims, []string{"models"}) {
				t.Errorf("claims %v, want [models]", claims)
			}
			container := componenttest.Field(pod, "containers", 0)
			found := false
			for _, mnt := range componenttest.Field(container, "volumeMounts").([]any) {
				if componenttest.Field(mnt, "mountPath") == "/models" {
					found = true
					if componenttest.Field(mnt, "readOnly") != true {
						t.Errorf("mount %v is not read-only", mnt)
					}
				}
			}
			if !found {
				t.Errorf("no mount at /models: %v", componenttest.Field(container, "volumeMounts"))
			}
			for _, p := range []struct {
				probe string
				path  string
			}{{"livenessProbe", "/healthz"}, {"readinessProbe", "/readyz"}} {
				if got := componenttest.Field(container, p.probe, "httpGet", "path"); got != p.path {
					t.Errorf("%s path %v, want %s", p.probe, got, p.path)
				}
				if got := componenttest.Field(container, p.probe, "httpGet", "port"); got != int64(inference.AdminPort) {
					t.Errorf("%s port %v, want %d", p.probe, got, inference.AdminPort)
				}
			}
			svc := m["Service/inference"].Object
			for i, want := range []int{inference.Port, inference.AdminPort} {
				if got := componenttest.Field(svc, "spec", "ports", i, "port"); got != int64(want) {
					t.Errorf("service port %d: %v, want %d", i, got, want)
				}
			}
			np := m["NetworkPolicy/inference"]
			if got := componenttest.PolicyRules(np, "ingress", "from"); !reflect.DeepEqual(got, tc.ingress) {
				t.Errorf("ingress %v, want %v", got, tc.ingress)
			}
			if got := componenttest.PolicyRules(np, "egress", "to"); !reflect.DeepEqual(got, []string{"*:TCP 53,UDP 53"}) {
				t.Errorf("egress %v, want DNS only", got)
			}
			if got := componenttest.Field(pod, "nodeSelector", "smartx.io/role"); got != "tower" {
				t.Errorf("placed on role %v, want tower", got)
			}
			if inf.URL != "http://inference.smartx.svc.cluster.local:8501" {
				t.Errorf("URL %s", inf.URL)
			}
		})
	}
}

// Every child is parented to the component and named from its name; the
// Kubernetes objects keep ObjectName.
func TestChildrenNamedFromName(t *testing.T) {
	args := validArgs()
	args.ObjectName = "inference"
	rs, m, _ := declare(t, "se-inference", args)
	componenttest.Children(t, rs, inference.TypeToken, "se-inference")
	for _, want := range []string{"Deployment/inference", "Service/inference", "ConfigMap/inference-env", "NetworkPolicy/inference"} {
		if _, ok := m[want]; !ok {
			t.Errorf("no %s", want)
		}
	}
}

func TestInvalidArgsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*inference.Args)
		says   string
	}{
		{"no namespace", func(a *inference.Args) { a.Namespace = "" }, "Namespace is required"},
		{"no image", func(a *inference.Args) { a.Image = "" }, "Image is required"},
		{"no claim", func(a *inference.Args) { a.ModelClaim = "" }, "ModelClaim is required"},
		{"empty client", func(a *inference.Args) { a.Clients = []string{"controller", ""} }, "Clients"},
		{"bad client", func(a *inference.Args) { a.Clients = []string{"Controller"} }, "Clients"},
		{"poll too short", func(a *inference.Args) { a.Poll = time.Millisecond }, "Poll"},
		{"body too small", func(a *inference.Args) { a.MaxBodyBytes = 10 }, "MaxBodyBytes"},
		// Several missing: always the first in declaration order.
		{"nothing", func(a *inference.Args) { *a = inference.Args{} }, "Namespace is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs()
			tc.mutate(args)
			_, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
				_, err := inference.New(ctx, "inference", args)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want one saying %q", err, tc.says)
			}
		})
	}
}
