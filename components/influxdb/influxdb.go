// Package influxdb is the Pulumi component of the time-series store: InfluxDB 2 as a
// StatefulSet on the storage node, set up on first start with the organization,
// bucket, retention, admin password and token from the stack's secret config.
package influxdb

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/workload"
)

// TypeToken is the Pulumi type of an InfluxDB.
const TypeToken = "smartx:components:InfluxDB"

// DefaultImage is the pinned upstream server image.
const DefaultImage = "docker.io/library/influxdb:2.7.11"

// Port is the HTTP API port.
const Port = 8086

// Args configures the server. Role defaults to storage.
type Args struct {
	workload.Base
	// Org and Bucket created at setup (defaults "smartx", "Sensordata").
	Org, Bucket string
	// Retention of the bucket, an InfluxDB duration ("0" or empty keeps forever).
	Retention string
	// Password of the admin user and Token, the admin API token (both required,
	// Pulumi secrets).
	Password, Token pulumi.StringInput
	// Clients are the apps allowed to connect (app.kubernetes.io/name).
	Clients []string
	// Overrides of the server (default storage 20Gi).
	Overrides workload.Overrides
}

// InfluxDB is a running server.
type InfluxDB struct {
	pulumi.ResourceState

	// URL of the HTTP API inside the cluster.
	URL string
	// Org and Bucket as set up.
	Org, Bucket string
	// TokenSecret is the Secret holding only the API token, under key "token", for
	// clients to mount.
	TokenSecret string
	// URLOutput is URL as an output.
	URLOutput pulumi.StringOutput `pulumi:"url"`
}

// validate names the first missing key, in declaration order, so that the message
// says which one to set rather than a list to check.
func (a *Args) validate() error {
	for _, f := range []struct {
		key string
		set bool
	}{
		{"Namespace", a.Namespace != ""}, {"Password", a.Password != nil}, {"Token", a.Token != nil},
	} {
		if !f.set {
			return fmt.Errorf("%s is required", f.key)
		}
	}
	return nil
}

// New declares the server name.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*InfluxDB, error) {
	if args == nil {
		return nil, fmt.Errorf("influxdb %s: nil args", name)
	}
	if err := args.validate(); err != nil {
		return nil, fmt.Errorf("influxdb %s: %w", name, err)
	}
	obj := workload.Or(args.ObjectName, name)
	db := &InfluxDB{
		Org: workload.Or(args.Org, "smartx"), Bucket: workload.Or(args.Bucket, "Sensordata"),
		URL:         fmt.Sprintf("http://%s.%s.svc.cluster.local:%d", obj, args.Namespace, Port),
		TokenSecret: obj + "-token",
	}
	if err := ctx.RegisterComponentResource(TypeToken, name, db, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	parent, deps := pulumi.Parent(db), pulumi.DependsOn(args.DependsOn)
	auth, err := workload.NewSecret(ctx, name+"-auth", &workload.SecretArgs{
		Name: obj + "-auth", Namespace: args.Namespace,
		Data: map[string]pulumi.StringInput{"password": args.Password, "token": args.Token},
	}, parent, deps)
	if err != nil {
		return nil, err
	}
	token, err := workload.NewSecret(ctx, name+"-token", &workload.SecretArgs{
		Name: db.TokenSecret, Namespace: args.Namespace, Data: map[string]pulumi.StringInput{"token": args.Token},
	}, parent, deps)
	if err != nil {
		return nil, err
	}
	var ingress []workload.Peer
	for _, c := range args.Clients {
		ingress = append(ingress, workload.Peer{App: c, Ports: []int{Port}})
	}
	_, err = workload.New(ctx, name, &workload.Args{
		Namespace: args.Namespace, ObjectName: obj, Role: workload.Or(args.Role, workload.RoleStorage), RoleLabel: args.RoleLabel,
		Image: workload.Or(args.Image, DefaultImage),
		Ports: []workload.Port{{Name: "http", Port: Port}},
		Env: map[string]string{
			"DOCKER_INFLUXDB_INIT_MODE":      "setup",
			"DOCKER_INFLUXDB_INIT_USERNAME":  "admin",
			"DOCKER_INFLUXDB_INIT_ORG":       db.Org,
			"DOCKER_INFLUXDB_INIT_BUCKET":    db.Bucket,
			"DOCKER_INFLUXDB_INIT_RETENTION": workload.Or(args.Retention, "0"),
			"INFLUXD_REPORTING_DISABLED":     "true",
		},
		SecretEnv: []workload.SecretEnv{
			{Name: "DOCKER_INFLUXDB_INIT_PASSWORD", Secret: obj + "-auth", Key: "password"},
			{Name: "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN", Secret: obj + "-auth", Key: "token"},
		},
		Writable:  []string{"/etc/influxdb2", "/tmp"},
		Storage:   &workload.Storage{Size: "20Gi", Path: "/var/lib/influxdb2"},
		RunAsUser: 1000, RunAsGroup: 1000,
		Liveness:  &workload.Probe{Path: "/health", Port: Port, InitialDelay: 20, Period: 15},
		Readiness: &workload.Probe{Path: "/health", Port: Port, Period: 5},
		Ingress:   ingress,
		DependsOn: append([]pulumi.Resource{auth, token}, args.DependsOn...),
		Overrides: args.Overrides,
	}, parent)
	if err != nil {
		return nil, err
	}
	db.URLOutput = pulumi.String(db.URL).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(db, pulumi.Map{"url": db.URLOutput, "org": pulumi.String(db.Org), "bucket": pulumi.String(db.Bucket)}); err != nil {
		return nil, err
	}
	return db, nil
}
