// Package dashboard is the Pulumi component of our operators' web page (the code is in
// functions/dashboard; this package knows it only by image and settings): one
// Deployment on the tower serving the server room, the air-conditioner panel, the rack
// Pis and the pipeline's health on port 8090, with its admin endpoints on 9107. It
// reads InfluxDB, calls the controller's API, and reads the hub bridge's and the
// sender's /metrics, and its NetworkPolicy allows exactly those; those components
// must list "dashboard" among their clients.
//
// The users file (name:bcrypt-hash lines), the InfluxDB token and the controller's API
// token reach it only as mounted Secret files.
package dashboard

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/influxdb"
	"github.com/smartx-team/overcloud/components/workload"
)

// TypeToken is the Pulumi type of a dashboard.
const TypeToken = "smartx:components:Dashboard"

// Ports of the dashboard: the web UI and the admin endpoints.
const (
	Port      = 8090
	AdminPort = 9107
)

// AppName is the app name the controller, the hub bridge and the sender admit.
const AppName = "dashboard"

const (
	influxDir = "/var/run/secrets/smartx/influxdb"
	ownDir    = "/var/run/secrets/smartx/dashboard"
)

// Args configures the dashboard.
type Args struct {
	workload.Base
	// Users is the users file, one name:bcrypt-hash line per operator (`htpasswd -nbB
	// name password` makes one), as a Pulumi secret (required).
	Users pulumi.StringInput
	// InfluxURL, InfluxOrg and InfluxBucket locate the readings (required).
	InfluxURL, InfluxOrg, InfluxBucket string
	// InfluxTokenSecret names the Secret holding the InfluxDB token under key "token"
	// (required).
	InfluxTokenSecret string
	// InfluxApp is InfluxDB's app name, for the egress policy (default "influxdb").
	InfluxApp string
	// ControllerURL is the controller's API base URL (required).
	ControllerURL string
	// ControllerApp is the controller's app name (default "controller").
	ControllerApp string
	// ControllerToken is the controller's API token, if it has one (a Pulumi secret).
	ControllerToken pulumi.StringInput
	// HubMetricsURL and SenderMetricsURL are the hub bridge's and the sender's
	// /metrics (required), served by the apps HubApp and SenderApp (defaults
	// "hubbridge" and "sender").
	HubMetricsURL, SenderMetricsURL string
	HubApp, SenderApp               string
	// Secure marks the session cookie Secure always: set it when the page is served
	// through a TLS ingress (default: Secure when the request says it came over TLS).
	Secure bool
	// TimeZone of the times shown (default "UTC").
	TimeZone string
	// LogLevel (default "info"). Other settings go in Overrides.Env as DASHBOARD_*.
	LogLevel string
	// Backends are what the dashboard connects to; its workload waits for them.
	Backends []pulumi.Resource
	// Overrides of the dashboard's pod.
	Overrides workload.Overrides
}

// Dashboard is a deployed dashboard.
type Dashboard struct {
	pulumi.ResourceState

	// Name of the Kubernetes objects and the Service.
	Name string
	// URL is the web UI inside the cluster.
	URL string
	// URLOutput is URL, as an output.
	URLOutput pulumi.StringOutput `pulumi:"url"`
}

// validate names the first missing or bad key.
func (a *Args) validate() error {
	if a.Users == nil {
		return fmt.Errorf("%s is required: name:bcrypt-hash lines", "Users")
	}
	for _, f := range []struct{ key, value string }{
		{"Namespace", a.Namespace}, {"Image", a.Image},
		{"InfluxURL", a.InfluxURL}, {"InfluxBucket", a.InfluxBucket}, {"InfluxTokenSecret", a.InfluxTokenSecret},
		{"ControllerURL", a.ControllerURL}, {"HubMetricsURL", a.HubMetricsURL}, {"SenderMetricsURL", a.SenderMetricsURL},
	} {
		if f.value == "" {
			return fmt.Errorf("%s is required", f.key)
		}
	}
	for _, f := range []struct{ key, value string }{
		{"ControllerURL", a.ControllerURL}, {"HubMetricsURL", a.HubMetricsURL}, {"SenderMetricsURL", a.SenderMetricsURL},
	} {
		if _, err := workload.URLPort(f.value); err != nil {
			return fmt.Errorf("%s %q: %w", f.key, f.value, err)
		}
	}
	for _, f := range []struct{ key, value string }{
		{"InfluxApp", a.InfluxApp}, {"ControllerApp", a.ControllerApp}, {"HubApp", a.HubApp}, {"SenderApp", a.SenderApp},
	} {
		if f.value != "" && !workload.IsAppName(f.value) {
			return fmt.Errorf("%s %q: want an app name (a DNS label)", f.key, f.value)
		}
	}
	return nil
}

// New declares the dashboard name: its children are named from name. Pass the
// Kubernetes provider in opts.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Dashboard, error) {
	if args == nil {
		return nil, fmt.Errorf("dashboard %s: nil args", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", name, err)
	}
	d := &Dashboard{Name: workload.Or(a.ObjectName, name)}
	if err := ctx.RegisterComponentResource(TypeToken, name, d, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	parent := pulumi.Parent(d)
	data := map[string]pulumi.StringInput{"users": a.Users}
	env := map[string]string{
		"DASHBOARD_LISTEN":             fmt.Sprintf(":%d", Port),
		"DASHBOARD_ADMIN_LISTEN":       fmt.Sprintf(":%d", AdminPort),
		"DASHBOARD_USERS_FILE":         ownDir + "/users",
		"DASHBOARD_INFLUX_URL":         a.InfluxURL,
		"DASHBOARD_INFLUX_ORG":         a.InfluxOrg,
		"DASHBOARD_INFLUX_BUCKET":      a.InfluxBucket,
		"DASHBOARD_INFLUX_TOKEN_FILE":  influxDir + "/token",
		"DASHBOARD_CONTROLLER_URL":     a.ControllerURL,
		"DASHBOARD_HUB_METRICS_URL":    a.HubMetricsURL,
		"DASHBOARD_SENDER_METRICS_URL": a.SenderMetricsURL,
		"DASHBOARD_TIME_ZONE":          workload.Or(a.TimeZone, "UTC"),
		"DASHBOARD_LOG_LEVEL":          workload.Or(a.LogLevel, "info"),
	}
	if a.Secure {
		env["DASHBOARD_COOKIE_SECURE"] = "always"
	}
	if a.ControllerToken != nil {
		data["controller-token"] = a.ControllerToken
		env["DASHBOARD_CONTROLLER_TOKEN_FILE"] = ownDir + "/controller-token"
	}
	secret, err := workload.NewSecret(ctx, name+"-secrets", &workload.SecretArgs{
		Name: d.Name + "-secrets", Namespace: a.Namespace, Data: data,
	}, parent, pulumi.DependsOn(a.DependsOn))
	if err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", name, err)
	}
	ctlPort, _ := workload.URLPort(a.ControllerURL) // checked in validate
	hubPort, _ := workload.URLPort(a.HubMetricsURL)
	senderPort, _ := workload.URLPort(a.SenderMetricsURL)
	w, err := workload.New(ctx, name, &workload.Args{
		Namespace: a.Namespace, ObjectName: d.Name,
		RoleLabel: a.RoleLabel, Role: workload.Or(a.Role, workload.RoleTower),
		Image: a.Image,
		Ports: []workload.Port{{Name: "http", Port: Port}, {Name: "admin", Port: AdminPort}},
		Env:   env,
		SecretMounts: []workload.SecretMount{
			{Secret: a.InfluxTokenSecret, Path: influxDir},
			{Secret: d.Name + "-secrets", Path: ownDir},
		},
		Liveness:  &workload.Probe{Path: "/healthz", Port: AdminPort},
		Readiness: &workload.Probe{Path: "/readyz", Port: AdminPort, Period: 5},
		// Operators' browsers, from wherever the Service or the ingress exposes it.
		Ingress: []workload.Peer{{Ports: []int{Port}}},
		Egress: []workload.Peer{
			{App: workload.Or(a.InfluxApp, "influxdb"), Ports: []int{influxdb.Port}},
			{App: workload.Or(a.ControllerApp, "controller"), Ports: []int{ctlPort}},
			{App: workload.Or(a.HubApp, "hubbridge"), Ports: []int{hubPort}},
			{App: workload.Or(a.SenderApp, "sender"), Ports: []int{senderPort}},
		},
		DependsOn: append(append([]pulumi.Resource{secret}, a.Backends...), a.DependsOn...),
		Overrides: a.Overrides,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", name, err)
	}
	d.URL = w.URL("http")
	d.URLOutput = pulumi.String(d.URL).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{"url": d.URLOutput}); err != nil {
		return nil, fmt.Errorf("dashboard %s outputs: %w", name, err)
	}
	return d, nil
}
