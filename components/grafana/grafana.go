// Package grafana is the Pulumi component of the operators' dashboard: Grafana with the
// InfluxDB data source and the dashboards of dashboards/ provisioned from files, so a
// fresh deployment shows the room at once and nothing is configured by hand.
package grafana

import (
	"embed"
	"fmt"
	"io/fs"
	"path"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/workload"
)

// TypeToken is the Pulumi type of a Grafana.
const TypeToken = "smartx:components:Grafana"

// DefaultImage is the pinned upstream image.
const DefaultImage = "docker.io/grafana/grafana:11.3.0"

// Port is the HTTP port.
const Port = 3000

// DatasourceUID is the uid of the provisioned InfluxDB data source, which every panel
// of dashboards/ names.
const DatasourceUID = "smartx-influxdb"

// The dashboards' Flux queries read v.defaultBucket, the data source's bucket, so one
// JSON serves every stack. A test (functions/e2e, TestClosedLoop) runs every panel's
// query against an InfluxDB the real data path filled, so none ships empty.
//
//go:embed dashboards/*.json
var dashboards embed.FS

// Dashboards returns the provisioned dashboards: file name -> JSON.
func Dashboards() (map[string]string, error) {
	names, err := fs.Glob(dashboards, "dashboards/*.json")
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		b, err := dashboards.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out[path.Base(n)] = string(b)
	}
	return out, nil
}

// Args configures Grafana. Role defaults to tower.
type Args struct {
	workload.Base
	// InfluxURL, InfluxOrg and InfluxBucket locate the data (required).
	InfluxURL, InfluxOrg, InfluxBucket string
	// InfluxTokenSecret is the Secret holding the InfluxDB token under key "token"
	// (required); it reaches Grafana as an environment variable the data source
	// file refers to, never as text in a ConfigMap.
	InfluxTokenSecret string
	// InfluxApp is the InfluxDB's app name, for the egress policy (default "influxdb").
	InfluxApp string
	// AdminPassword of the admin user (required, a Pulumi secret).
	AdminPassword pulumi.StringInput
	// Overrides of the Grafana pod.
	Overrides workload.Overrides
}

// Grafana is a running dashboard server.
type Grafana struct {
	pulumi.ResourceState

	// URL of the dashboard inside the cluster.
	URL string
	// URLOutput is the dashboard URL, as an output.
	URLOutput pulumi.StringOutput `pulumi:"url"`
}

// New declares Grafana name.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Grafana, error) {
	if args == nil || args.AdminPassword == nil || args.InfluxURL == "" || args.InfluxTokenSecret == "" {
		return nil, fmt.Errorf("grafana %s: AdminPassword, InfluxURL and InfluxTokenSecret are required", name)
	}
	boards, err := Dashboards()
	if err != nil {
		return nil, fmt.Errorf("grafana %s dashboards: %w", name, err)
	}
	obj := workload.Or(args.ObjectName, name)
	g := &Grafana{URL: fmt.Sprintf("http://%s.%s.svc.cluster.local:%d/d/smartx-energy", obj, args.Namespace, Port)}
	if err := ctx.RegisterComponentResource(TypeToken, name, g, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	parent := pulumi.Parent(g)
	auth, err := workload.NewSecret(ctx, name+"-auth", &workload.SecretArgs{
		Name: obj + "-auth", Namespace: args.Namespace, Data: map[string]pulumi.StringInput{"password": args.AdminPassword},
	}, parent, pulumi.DependsOn(args.DependsOn))
	if err != nil {
		return nil, err
	}
	files := map[string]string{
		"/etc/grafana/provisioning/datasources/influxdb.yaml": fmt.Sprintf(`apiVersion: 1
datasources:
  - name: InfluxDB
    uid: %s
    type: influxdb
    access: proxy
    url: %s
    isDefault: true
    jsonData:
      version: Flux
      organization: %s
      defaultBucket: %s
    secureJsonData:
      token: $INFLUX_TOKEN
`, DatasourceUID, args.InfluxURL, args.InfluxOrg, args.InfluxBucket),
		"/etc/grafana/provisioning/dashboards/smartx.yaml": `apiVersion: 1
providers:
  - name: smartx
    folder: SmartX
    type: file
    disableDeletion: true
    allowUiUpdates: false
    options:
      path: /etc/grafana/dashboards/smartx
`,
	}
	for n, b := range boards {
		files["/etc/grafana/dashboards/smartx/"+n] = b
	}
	_, err = workload.New(ctx, name, &workload.Args{
		Namespace: args.Namespace, ObjectName: obj, Role: workload.Or(args.Role, workload.RoleTower), RoleLabel: args.RoleLabel,
		Image: workload.Or(args.Image, DefaultImage),
		Ports: []workload.Port{{Name: "http", Port: Port}},
		Env: map[string]string{
			"GF_SECURITY_ADMIN_USER":         "admin",
			"GF_AUTH_ANONYMOUS_ENABLED":      "false",
			"GF_ANALYTICS_REPORTING_ENABLED": "false",
			"GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
			"GF_PATHS_DATA":                  "/var/lib/grafana",
			"GF_PATHS_PROVISIONING":          "/etc/grafana/provisioning",
		},
		SecretEnv: []workload.SecretEnv{
			{Name: "GF_SECURITY_ADMIN_PASSWORD", Secret: obj + "-auth", Key: "password"},
			{Name: "INFLUX_TOKEN", Secret: args.InfluxTokenSecret, Key: "token"},
		},
		Files:     files,
		Writable:  []string{"/var/lib/grafana", "/tmp"},
		RunAsUser: 472, RunAsGroup: 472,
		Liveness:  &workload.Probe{Path: "/api/health", Port: Port, InitialDelay: 30, Period: 15},
		Readiness: &workload.Probe{Path: "/api/health", Port: Port, Period: 5},
		// Operators' browsers, from anywhere the Service is exposed to.
		Ingress:   []workload.Peer{{Ports: []int{Port}}},
		Egress:    []workload.Peer{{App: workload.Or(args.InfluxApp, "influxdb"), Ports: []int{8086}}},
		DependsOn: append([]pulumi.Resource{auth}, args.DependsOn...),
		Overrides: args.Overrides,
	}, parent)
	if err != nil {
		return nil, err
	}
	g.URLOutput = pulumi.String(g.URL).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(g, pulumi.Map{"url": g.URLOutput}); err != nil {
		return nil, err
	}
	return g, nil
}
