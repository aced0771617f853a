package influxdb_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/influxdb"
	"github.com/smartx-team/overcloud/components/workload"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

// Clients mount a Secret holding the token only, never the admin password.
func TestClientSecretHoldsOnlyTheToken(t *testing.T) {
	secret := func(s string) pulumi.StringInput { return pulumi.ToSecret(pulumi.String(s)).(pulumi.StringOutput) }
	var db *influxdb.InfluxDB
	m, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		var err error
		db, err = influxdb.New(ctx, "influxdb", &influxdb.Args{
			Base: workload.Base{Namespace: "smartx"}, Retention: "30d",
			Password: secret("pw"), Token: secret("tok"), Clients: []string{"sender"},
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if db.URL != "http://influxdb.smartx.svc.cluster.local:8086" || db.Org != "smartx" || db.Bucket != "Sensordata" {
		t.Errorf("url %s org %s bucket %s", db.URL, db.Org, db.Bucket)
	}
	ms, err := componenttest.Manifests(m.Resources())
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, mf := range ms {
		switch mf.ID() {
		case "Secret/smartx/" + db.TokenSecret:
			found++
			data := mf.Object["stringData"].(map[string]any)
			if len(data) != 1 || data["token"] != "tok" {
				t.Errorf("client secret holds %v", data)
			}
		case "ConfigMap/smartx/influxdb-env":
			found++
			if r := mf.Object["data"].(map[string]any)["DOCKER_INFLUXDB_INIT_RETENTION"]; r != "30d" {
				t.Errorf("retention %v", r)
			}
		}
	}
	if found != 2 {
		t.Errorf("found %d of the token Secret and the env ConfigMap", found)
	}
}

func TestInvalidArgsNameTheKey(t *testing.T) {
	valid := func() *influxdb.Args {
		return &influxdb.Args{
			Base:     workload.Base{Namespace: "smartx"},
			Password: pulumi.ToSecret(pulumi.String("pw")).(pulumi.StringOutput),
			Token:    pulumi.ToSecret(pulumi.String("tok")).(pulumi.StringOutput),
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*influxdb.Args)
		want   string
	}{
		{"no namespace", func(a *influxdb.Args) { a.Namespace = "" }, "Namespace is required"},
		{"no password", func(a *influxdb.Args) { a.Password = nil }, "Password is required"},
		{"no token", func(a *influxdb.Args) { a.Token = nil }, "Token is required"},
		// Several missing: always the first in declaration order.
		{"nothing", func(a *influxdb.Args) { *a = influxdb.Args{} }, "Namespace is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := valid()
			tc.mutate(args)
			_, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
				_, err := influxdb.New(ctx, "influxdb", args)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}
