package smartenergy_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/smartenergy"
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

func TestArgsValidation(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*smartenergy.Args)
		ok     bool
	}{
		"defaults":         {func(*smartenergy.Args) {}, true},
		"edgex":            {func(a *smartenergy.Args) { a.HubMode = smartenergy.HubEdgeX }, true},
		"edgex without pg": {func(a *smartenergy.Args) { a.HubMode = smartenergy.HubEdgeX; a.Secrets.PostgresPassword = nil }, false},
		"unknown mode":     {func(a *smartenergy.Args) { a.HubMode = "cloud" }, false},
		"tag":              {func(a *smartenergy.Args) { a.Images.Sender = "r/sender:1.0" }, false},
		"tag allowed":      {func(a *smartenergy.Args) { a.Images.Sender = "r/sender:1.0"; a.AllowTags = true }, true},
		"no image":         {func(a *smartenergy.Args) { a.Images.HubBridge = "" }, false},
		"two brokers":      {func(a *smartenergy.Args) { a.KafkaBrokers = 2 }, false},
		"no device tokens": {func(a *smartenergy.Args) { a.Secrets.DeviceTokens = nil }, false},
		"no influx token":  {func(a *smartenergy.Args) { a.Secrets.InfluxToken = nil }, false},
	} {
		t.Run(name, func(t *testing.T) {
			args := validArgs()
			tc.mutate(args)
			m, err := componenttest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
				_, err := smartenergy.New(ctx, "se", args)
				return err
			})
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && len(componenttest.Of(m.Resources(), "kubernetes:core/v1:Namespace")) != 1 {
				t.Error("no namespace declared")
			}
		})
	}
}
