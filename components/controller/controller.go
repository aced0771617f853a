// Package controller is the Pulumi component of our controller (the code is in
// functions/controller; this package knows it only by image and settings): one
// Deployment on the tower that closes the loop on the server room's air conditioners.
// Every interval it reads each sector from InfluxDB, asks inference which set-point
// keeps the sector cool enough, applies it through EdgeX core-command (or the hub
// bridge, which serves the same API in standalone mode) and audits every change in
// MongoDB. Operators read its state and set manual overrides through its API on port
// 8080, open only to the client apps listed in Args; its admin endpoints are on 9106.
//
// Its secrets (the InfluxDB token, the MongoDB URI and the optional bearer tokens)
// reach it only as mounted Secret files, named by its _FILE settings.
package controller

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/inference"
	"github.com/smartx-team/overcloud/components/influxdb"
	"github.com/smartx-team/overcloud/components/mongodb"
	"github.com/smartx-team/overcloud/components/workload"
)

// TypeToken is the Pulumi type of a controller.
const TypeToken = "smartx:components:Controller"

// Ports of the controller: its HTTP API (state, overrides, audit trail) and the
// admin endpoints (/healthz, /readyz, /metrics).
const (
	Port      = 8080
	AdminPort = 9106
)

// DefaultClients are the apps allowed to call the API unless Args.Clients says: the
// operators' dashboard.
var DefaultClients = []string{"dashboard"}

// Where the controller's Secrets are mounted, as its _FILE settings name them.
const (
	influxDir = "/var/run/secrets/smartx/influxdb"
	mongoDir  = "/var/run/secrets/smartx/mongodb"
	tokensDir = "/var/run/secrets/smartx/controller"
)

// Args configures the controller.
type Args struct {
	// Namespace of the objects (required; the caller creates it).
	Namespace string
	// ObjectName names the Kubernetes objects and the Service (optional, default the
	// component's name); see workload.Args.ObjectName.
	ObjectName string
	// Image of the controller, by digest (required).
	Image string
	// Role is the node role the pods run on (optional, default workload.RoleTower).
	Role string
	// RoleLabel is the node label holding the role (optional, default
	// workload.DefaultRoleLabel).
	RoleLabel string

	// Devices are the EdgeX device names of the Pis that drive an air conditioner, one
	// per air conditioner (required, at least one: the controller refuses to start
	// without any). Each is 1 to 128 letters, digits or any of -_~:;=. (EdgeX's rule),
	// named once.
	Devices []string

	// InfluxURL, InfluxOrg and InfluxBucket locate the readings, where the controller
	// also stores its recommendations (required).
	InfluxURL, InfluxOrg, InfluxBucket string
	// InfluxTokenSecret names the Secret holding the InfluxDB token under key "token"
	// (required); it is mounted as a file.
	InfluxTokenSecret string
	// InfluxApp is InfluxDB's app name, for the egress policy (optional, default
	// "influxdb"). InfluxDB must list this component's object name among its clients.
	InfluxApp string

	// InferenceURL is the model server's REST base URL, http://<service>:8501
	// (required; inference.Inference.URL).
	InferenceURL string
	// InferenceApp is the model server's app name, for the egress policy (optional,
	// default "inference"), which allows it on inference.Port.
	InferenceApp string
	// ModelName is the model to ask (optional, default the controller's, "service",
	// which is also the trainer's).
	ModelName string

	// CommandURL is the base URL set-points are sent to (required): EdgeX
	// core-command's, or the hub bridge's ingest URL in standalone mode, which serves
	// the same PUT /api/v3/device/name/{device}/setpoint.
	CommandURL string
	// CommandApp is the app serving CommandURL (required), for the egress policy,
	// which allows it on CommandURL's port (default 80 for http, 443 for https).
	CommandApp string

	// MongoURISecret names the Secret holding the MongoDB URI of the audit trail under
	// key "uri" (required); mongodb.New makes one for its clients.
	MongoURISecret string
	// MongoApp is MongoDB's app name, for the egress policy (optional, default
	// "mongodb"). MongoDB must list this component's object name among its clients.
	MongoApp string
	// MongoDatabase holds the audit trail and the overrides (optional, default the
	// controller's, "smartx_controller").
	MongoDatabase string

	// Clients are the app names (app.kubernetes.io/name) allowed to connect to the API
	// port (optional, default DefaultClients; an empty non-nil list admits none).
	Clients []string
	// APIToken, when set (a Pulumi secret), is the bearer token POST and DELETE of the
	// API need (optional; the GETs stay open). Without it any client the policy admits
	// may set overrides.
	APIToken pulumi.StringInput
	// CommandToken, when set (a Pulumi secret), is sent as the bearer token of every
	// set command (optional): the Pis' SMARTX_COMMAND_TOKEN, which the hub bridge
	// passes on to them.
	CommandToken pulumi.StringInput
	// LogLevel of the controller (optional, default "info"). Other settings (limits,
	// interval, CONTROLLER_DRY_RUN) go in Overrides.Env as CONTROLLER_*.
	LogLevel string

	// DependsOn are resources every child waits for (the Namespace).
	DependsOn []pulumi.Resource
	// Backends are what the controller connects to (InfluxDB, MongoDB, inference, the
	// command target): its workload waits for them as well (optional).
	Backends []pulumi.Resource
	// Overrides are the user's settings of the controller (optional). Replicas may be
	// 0 or 1 only: two controllers would both apply set-points.
	Overrides workload.Overrides
}

// Controller is a deployed controller.
type Controller struct {
	pulumi.ResourceState

	// Name of the Kubernetes objects and the pods' app name.
	Name string
	// URL is the API's base URL inside the cluster, http://<service>:8080.
	URL string
	// Endpoint is the Service's host:port of the API.
	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
}

var (
	// deviceName is EdgeX's rule for a device name, as the controller checks it.
	deviceName = regexp.MustCompile(`^[a-zA-Z0-9\-_~:;=.]{1,128}$`)
)

// validate names the first missing or bad key.
func (a *Args) validate() error {
	// A list, not a map, so that the first missing key is the same on every run.
	for _, f := range []struct{ key, value string }{
		{"Namespace", a.Namespace}, {"Image", a.Image},
		{"InfluxURL", a.InfluxURL}, {"InfluxOrg", a.InfluxOrg}, {"InfluxBucket", a.InfluxBucket},
		{"InfluxTokenSecret", a.InfluxTokenSecret}, {"InferenceURL", a.InferenceURL},
		{"CommandURL", a.CommandURL}, {"CommandApp", a.CommandApp}, {"MongoURISecret", a.MongoURISecret},
	} {
		if f.value == "" {
			return fmt.Errorf("%s is required", f.key)
		}
	}
	if len(a.Devices) == 0 {
		return fmt.Errorf("%s: at least one device name is required (one per air conditioner)", "Devices")
	}
	seen := map[string]bool{}
	for _, d := range a.Devices {
		if !deviceName.MatchString(d) || d == "." || d == ".." {
			return fmt.Errorf("%s: %q: want 1 to 128 letters, digits or any of -_~:;=. (an EdgeX device name)", "Devices", d)
		}
		if seen[d] {
			return fmt.Errorf("%s: %q is named twice", "Devices", d)
		}
		seen[d] = true
	}
	if _, err := workload.URLPort(a.CommandURL); err != nil {
		return fmt.Errorf("%s %q: %w", "CommandURL", a.CommandURL, err)
	}
	if !workload.IsAppName(a.CommandApp) {
		return fmt.Errorf("%s %q: want an app name (a DNS label)", "CommandApp", a.CommandApp)
	}
	if err := workload.CheckClients("Clients", a.Clients); err != nil {
		return err
	}
	if r := a.Overrides.Replicas; r != nil && *r > 1 {
		return fmt.Errorf("%s %d: the controller is one decision loop, run at most one replica", "Overrides.Replicas", *r)
	}
	return nil
}

// New declares the controller name: its children are named from name. Pass the
// Kubernetes provider in opts.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Controller, error) {
	if args == nil {
		return nil, fmt.Errorf("controller %s: nil args", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("controller %s: %w", name, err)
	}
	c := &Controller{Name: workload.Or(a.ObjectName, name)}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	parent := pulumi.Parent(c)
	cmdPort, _ := workload.URLPort(a.CommandURL) // checked in validate
	env := map[string]string{
		"CONTROLLER_LISTEN":            fmt.Sprintf(":%d", Port),
		"CONTROLLER_ADMIN_LISTEN":      fmt.Sprintf(":%d", AdminPort),
		"CONTROLLER_DEVICES":           strings.Join(a.Devices, ","),
		"CONTROLLER_INFLUX_URL":        a.InfluxURL,
		"CONTROLLER_INFLUX_ORG":        a.InfluxOrg,
		"CONTROLLER_INFLUX_BUCKET":     a.InfluxBucket,
		"CONTROLLER_INFLUX_TOKEN_FILE": influxDir + "/token",
		"CONTROLLER_INFERENCE_URL":     a.InferenceURL,
		"CONTROLLER_COMMAND_URL":       a.CommandURL,
		"CONTROLLER_MONGO_URI_FILE":    mongoDir + "/uri",
		"CONTROLLER_LOG_LEVEL":         workload.Or(a.LogLevel, "info"),
	}
	if a.ModelName != "" {
		env["CONTROLLER_MODEL_NAME"] = a.ModelName
	}
	if a.MongoDatabase != "" {
		env["CONTROLLER_MONGO_DATABASE"] = a.MongoDatabase
	}
	mounts := []workload.SecretMount{
		{Secret: a.InfluxTokenSecret, Path: influxDir},
		{Secret: a.MongoURISecret, Path: mongoDir},
	}
	depends := append(append([]pulumi.Resource(nil), a.Backends...), a.DependsOn...)
	tokens := map[string]pulumi.StringInput{}
	if a.APIToken != nil {
		tokens["api-token"] = a.APIToken
		env["CONTROLLER_API_TOKEN_FILE"] = tokensDir + "/api-token"
	}
	if a.CommandToken != nil {
		tokens["command-token"] = a.CommandToken
		env["CONTROLLER_COMMAND_TOKEN_FILE"] = tokensDir + "/command-token"
	}
	if len(tokens) > 0 {
		s, err := workload.NewSecret(ctx, name+"-tokens", &workload.SecretArgs{
			Name: c.Name + "-tokens", Namespace: a.Namespace, Data: tokens,
		}, parent, pulumi.DependsOn(a.DependsOn))
		if err != nil {
			return nil, fmt.Errorf("controller %s: %w", name, err)
		}
		depends = append(depends, s)
		mounts = append(mounts, workload.SecretMount{Secret: c.Name + "-tokens", Path: tokensDir})
	}
	clients := a.Clients
	if clients == nil {
		clients = DefaultClients
	}
	var ingress []workload.Peer
	for _, cl := range clients {
		ingress = append(ingress, workload.Peer{App: cl, Ports: []int{Port}})
	}
	w, err := workload.New(ctx, name, &workload.Args{
		// An update must not run two controllers at once: both would send set-points.
		Recreate:  true,
		Namespace: a.Namespace, ObjectName: c.Name,
		RoleLabel: a.RoleLabel, Role: workload.Or(a.Role, workload.RoleTower),
		Image:        a.Image,
		Ports:        []workload.Port{{Name: "api", Port: Port}, {Name: "admin", Port: AdminPort}},
		Env:          env,
		SecretMounts: mounts,
		Liveness:     &workload.Probe{Path: "/healthz", Port: AdminPort},
		Readiness:    &workload.Probe{Path: "/readyz", Port: AdminPort, Period: 5},
		Ingress:      ingress,
		Egress: []workload.Peer{
			{App: workload.Or(a.InfluxApp, "influxdb"), Ports: []int{influxdb.Port}},
			{App: workload.Or(a.InferenceApp, "inference"), Ports: []int{inference.Port}},
			{App: workload.Or(a.MongoApp, "mongodb"), Ports: []int{mongodb.Port}},
			{App: a.CommandApp, Ports: []int{cmdPort}},
		},
		DependsOn: depends,
		Overrides: a.Overrides,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("controller %s: %w", name, err)
	}
	c.URL = w.URL("http")
	c.Endpoint = w.Endpoint
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"endpoint": c.Endpoint}); err != nil {
		return nil, fmt.Errorf("controller %s outputs: %w", name, err)
	}
	return c, nil
}
