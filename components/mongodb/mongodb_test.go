package mongodb_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/mongodb"
	"github.com/smartx-team/overcloud/components/workload"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

func TestPasswordOnlyInSecrets(t *testing.T) {
	const pw = "mongo-test-pw-77"
	m, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		db, err := mongodb.New(ctx, "mongodb", &mongodb.Args{
			Base:     workload.Base{Namespace: "smartx"},
			Password: pulumi.ToSecret(pulumi.String(pw)).(pulumi.StringOutput),
			Clients:  []string{"hubbridge"},
		})
		if err == nil && db.URISecret != "mongodb-uri" {
			t.Errorf("URISecret = %q", db.URISecret)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var uri string
	for _, r := range m.Resources() {
		pulumitest.Strings(resource.NewObjectProperty(r.Inputs), func(s string, secret bool) {
			if !strings.Contains(s, pw) {
				return
			}
			if r.Type != "kubernetes:core/v1:Secret" || !secret {
				t.Errorf("%s holds the password (secret %v)", r.Key(), secret)
			}
			if strings.HasPrefix(s, "mongodb://") {
				uri = s
			}
		})
	}
	if uri != "mongodb://root:"+pw+"@mongodb.smartx.svc.cluster.local:27017/?authSource=admin&journal=true" {
		t.Errorf("client URI %q", uri)
	}
	ms, err := componenttest.Manifests(m.Resources())
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range ms {
		if mf.ID() == "NetworkPolicy/smartx/mongodb" {
			rules := mf.Object["spec"].(map[string]any)["ingress"].([]any)
			if len(rules) != 1 {
				t.Fatalf("ingress rules %v, want one for the hub bridge", rules)
			}
		}
	}
}

func TestPasswordRequired(t *testing.T) {
	_, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		_, err := mongodb.New(ctx, "mongodb", &mongodb.Args{Base: workload.Base{Namespace: "smartx"}})
		return err
	})
	if err == nil {
		t.Fatal("accepted a MongoDB without a password")
	}
	if !strings.Contains(err.Error(), "Password") {
		t.Errorf("error %q does not name Password", err)
	}
}
