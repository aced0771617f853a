package dashboard_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/dashboard"
	"github.com/smartx-team/overcloud/components/workload"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

const (
	image      = "registry.local/dashboard@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	users      = "kim:$2y$10$abcdefghijklmnopqrstuu5Jq2f4c0eW2a3Q9aJ0m7Yc3nY2b6c1e"
	ctlToken   = "controller-token-7c7c"
	influxURL  = "http://influxdb.smartx.svc.cluster.local:8086"
	controller = "http://controller.smartx.svc.cluster.local:8080"
	hub        = "http://hubbridge.smartx.svc.cluster.local:9102/metrics"
	sender     = "http://sender.smartx.svc.cluster.local:9103/metrics"
)

func secret(v string) pulumi.StringInput {
	return pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput)
}

func validArgs() *dashboard.Args {
	return &dashboard.Args{
		Base:      workload.Base{Namespace: "smartx", Image: image},
		Users:     secret(users),
		InfluxURL: influxURL, InfluxOrg: "smartx", InfluxBucket: "Sensordata", InfluxTokenSecret: "influxdb-token",
		ControllerURL: controller, HubMetricsURL: hub, SenderMetricsURL: sender,
	}
}

func declare(t *testing.T, name string, args *dashboard.Args) ([]pulumitest.Resource, map[string]componenttest.Manifest, *dashboard.Dashboard) {
	t.Helper()
	var d *dashboard.Dashboard
	rs, m := componenttest.Declare(t, func(ctx *pulumi.Context, provider pulumi.ResourceOption) error {
		var err error
		d, err = dashboard.New(ctx, name, args, provider)
		return err
	})
	return rs, m, d
}

func TestSettingsAndPolicy(t *testing.T) {
	args := validArgs()
	args.ControllerToken = secret(ctlToken)
	args.Secure = true
	rs, m, d := declare(t, "dashboard", args)
	componenttest.Children(t, rs, dashboard.TypeToken, "dashboard")
	want := map[string]any{
		"DASHBOARD_LISTEN": ":8090", "DASHBOARD_ADMIN_LISTEN": ":9107",
		"DASHBOARD_USERS_FILE": "/var/run/secrets/smartx/dashboard/users",
		"DASHBOARD_INFLUX_URL": influxURL, "DASHBOARD_INFLUX_ORG": "smartx", "DASHBOARD_INFLUX_BUCKET": "Sensordata",
		"DASHBOARD_INFLUX_TOKEN_FILE": "/var/run/secrets/smartx/influxdb/token",
		"DASHBOARD_CONTROLLER_URL":    controller, "DASHBOARD_CONTROLLER_TOKEN_FILE": "/var/run/secrets/smartx/dashboard/controller-token",
		"DASHBOARD_HUB_METRICS_URL": hub, "DASHBOARD_SENDER_METRICS_URL": sender,
		"DASHBOARD_COOKIE_SECURE": "always", "DASHBOARD_TIME_ZONE": "UTC", "DASHBOARD_LOG_LEVEL": "info",
	}
	if got := componenttest.Field(m["ConfigMap/dashboard-env"].Object, "data"); !reflect.DeepEqual(got, want) {
		t.Errorf("env\n got %v\nwant %v", got, want)
	}
	np := m["NetworkPolicy/dashboard"]
	if got := componenttest.PolicyRules(np, "ingress", "from"); !reflect.DeepEqual(got, []string{"*:TCP 8090"}) {
		t.Errorf("ingress %v, want browsers on 8090 only", got)
	}
	wantEgress := []string{"*:TCP 53,UDP 53", "influxdb:TCP 8086", "controller:TCP 8080", "hubbridge:TCP 9102", "sender:TCP 9103"}
	if got := componenttest.PolicyRules(np, "egress", "to"); !reflect.DeepEqual(got, wantEgress) {
		t.Errorf("egress %v, want %v", got, wantEgress)
	}
	pod := componenttest.Field(m["Deployment/dashboard"].Object, "spec", "template", "spec")
	if got := componenttest.Field(pod, "nodeSelector", "smartx.io/role"); got != "tower" {
		t.Errorf("placed on role %v, want tower", got)
	}
	if d.URL != "http://dashboard.smartx.svc.cluster.local:8090" {
		t.Errorf("URL %s", d.URL)
	}
	// The users and the controller's token are in the dashboard's Secret only, marked
	// secret.
	for _, r := range rs {
		pulumitest.Strings(resource.NewObjectProperty(r.Inputs), func(s string, isSecret bool) {
			for _, v := range []string{users, ctlToken} {
				if strings.Contains(s, v) && (r.Type != "kubernetes:core/v1:Secret" || !isSecret) {
					t.Errorf("%s holds a secret (marked secret: %v)", r.Key(), isSecret)
				}
			}
		})
	}
	if got := componenttest.Field(m["Secret/dashboard-secrets"].Object, "stringData", "users"); got != users {
		t.Errorf("users Secret holds %v", got)
	}
}

func TestInvalidArgsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*dashboard.Args)
		say    string
	}{
		{"no users", func(a *dashboard.Args) { a.Users = nil }, "Users is required"},
		{"no namespace", func(a *dashboard.Args) { a.Namespace = "" }, "Namespace is required"},
		{"no image", func(a *dashboard.Args) { a.Image = "" }, "Image is required"},
		{"no influxdb", func(a *dashboard.Args) { a.InfluxURL = "" }, "InfluxURL is required"},
		{"no token", func(a *dashboard.Args) { a.InfluxTokenSecret = "" }, "InfluxTokenSecret is required"},
		{"no controller", func(a *dashboard.Args) { a.ControllerURL = "" }, "ControllerURL is required"},
		{"bad controller", func(a *dashboard.Args) { a.ControllerURL = "controller:8080" }, `ControllerURL "controller:8080": want an http(s)`},
		{"bad metrics port", func(a *dashboard.Args) { a.HubMetricsURL = "http://hub:99999/metrics" }, `HubMetricsURL "http://hub:99999/metrics": bad port`},
		{"bad app", func(a *dashboard.Args) { a.SenderApp = "Sender!" }, `SenderApp "Sender!": want an app name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs()
			tc.mutate(args)
			_, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
				_, err := dashboard.New(ctx, "dashboard", args)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.say) {
				t.Fatalf("err = %v, want one saying %q", err, tc.say)
			}
		})
	}
}
