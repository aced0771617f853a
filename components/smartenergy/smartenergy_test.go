package smartenergy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/smartenergy"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

func validArgs() *smartenergy.Args {
	s := func(v string) pulumi.StringInput { return pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput) }
	return &smartenergy.Args{
		Images: smartenergy.Images{HubBridge: "r/hub@sha256:aa", Sender: "r/sender@sha256:bb"},
		Secrets: smartenergy.Secrets{
			InfluxPassword: s("a"), InfluxToken: s("b"), MongoPassword: s("c"),
			GrafanaPassword: s("d"), DeviceTokens: s(`{}`), PostgresPassword: s("e"),
		},
	}
}

// Each bad Args is refused with an *ArgError whose Field, and message, name the bad
// field; key "" is a valid Args.
func TestArgsValidation(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*smartenergy.Args)
		key    string
	}{
		"defaults":         {func(*smartenergy.Args) {}, ""},
		"edgex":            {func(a *smartenergy.Args) { a.HubMode = smartenergy.HubEdgeX }, ""},
		"edgex without pg": {func(a *smartenergy.Args) { a.HubMode = smartenergy.HubEdgeX; a.Secrets.PostgresPassword = nil }, "Secrets.PostgresPassword"},
		"unknown mode":     {func(a *smartenergy.Args) { a.HubMode = "cloud" }, "HubMode"},
		"tag":              {func(a *smartenergy.Args) { a.Images.Sender = "r/sender:1.0" }, "Images.Sender"},
		"tag allowed":      {func(a *smartenergy.Args) { a.Images.Sender = "r/sender:1.0"; a.AllowTags = true }, ""},
		"no image":         {func(a *smartenergy.Args) { a.Images.HubBridge = "" }, "Images.HubBridge"},
		"two brokers":      {func(a *smartenergy.Args) { a.KafkaBrokers = 2 }, "KafkaBrokers"},
		"no device tokens": {func(a *smartenergy.Args) { a.Secrets.DeviceTokens = nil }, "Secrets.DeviceTokens"},
		"no influx token":  {func(a *smartenergy.Args) { a.Secrets.InfluxToken = nil }, "Secrets.InfluxToken"},
	} {
		t.Run(name, func(t *testing.T) {
			args := validArgs()
			tc.mutate(args)
			m, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
				_, err := smartenergy.New(ctx, "se", args)
				return err
			})
			if tc.key == "" {
				if err != nil {
					t.Fatalf("valid args refused: %v", err)
				}
				if len(pulumitest.Of(m.Resources(), "kubernetes:core/v1:Namespace")) != 1 {
					t.Error("no namespace declared")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("err = %v, want one naming %s", err, tc.key)
			}
			var bad *smartenergy.ArgError
			if !errors.As(err, &bad) || bad.Field != tc.key {
				t.Errorf("err = %v (%T), want an *ArgError of field %s", err, err, tc.key)
			}
		})
	}
}

// Two instances in one stack, in different namespaces, declare no URN twice and keep
// their Kubernetes object names inside their namespaces.
func TestTwoInstancesInOneStack(t *testing.T) {
	m, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		for _, in := range []struct{ name, namespace, mode string }{
			{"energy-a", "smartx-a", smartenergy.HubStandalone},
			{"energy-b", "smartx-b", smartenergy.HubEdgeX},
		} {
			args := validArgs()
			args.Namespace, args.HubMode = in.namespace, in.mode
			if _, err := smartenergy.New(ctx, in.name, args); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("two instances: %v", err)
	}
	rs := m.Resources()
	seen := map[string]bool{}
	for _, r := range rs {
		if seen[r.Key()] {
			t.Errorf("%s declared twice", r.Key())
		}
		seen[r.Key()] = true
	}
	ms, err := componenttest.Manifests(rs)
	if err != nil {
		t.Fatal(err)
	}
	byNamespace := map[string]map[string]bool{}
	for _, mf := range ms {
		if byNamespace[mf.Namespace] == nil {
			byNamespace[mf.Namespace] = map[string]bool{}
		}
		byNamespace[mf.Namespace][mf.Kind+"/"+mf.Name] = true
	}
	for _, ns := range []string{"smartx-a", "smartx-b"} {
		for _, want := range []string{"Service/kafka", "Deployment/hubbridge", "Deployment/sender", "NetworkPolicy/default-deny", "Secret/hubbridge-mongo"} {
			if !byNamespace[ns][want] {
				t.Errorf("namespace %s has no %s", ns, want)
			}
		}
	}
	if !byNamespace["smartx-b"]["Deployment/edgex-core-data"] || byNamespace["smartx-a"]["Deployment/edgex-core-data"] {
		t.Error("EdgeX is not in the EdgeX instance only")
	}
}

// With several keys wrong, the error names the same one on every run (validation
// does not follow map order).
func TestValidationIsStable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*smartenergy.Args)
		key    string
	}{
		{"both images", func(a *smartenergy.Args) { a.Images = smartenergy.Images{} }, "Images.HubBridge"},
		{"both tagged", func(a *smartenergy.Args) { a.Images = smartenergy.Images{HubBridge: "r/hub:1", Sender: "r/sender:1"} }, "Images.HubBridge"},
		{"all secrets", func(a *smartenergy.Args) { a.Secrets = smartenergy.Secrets{} }, "Secrets.DeviceTokens"},
		{"two secrets", func(a *smartenergy.Args) { a.Secrets.MongoPassword, a.Secrets.InfluxToken = nil, nil }, "Secrets.InfluxToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var first string
			for i := range 20 {
				args := validArgs()
				tc.mutate(args)
				_, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
					_, err := smartenergy.New(ctx, "se", args)
					return err
				})
				if err == nil {
					t.Fatal("accepted invalid args")
				}
				if i == 0 {
					first = err.Error()
					if !strings.Contains(first, tc.key) {
						t.Fatalf("error %q does not name %s", first, tc.key)
					}
				} else if err.Error() != first {
					t.Fatalf("run %d: error %q, run 0: %q", i, err, first)
				}
			}
		})
	}
}
