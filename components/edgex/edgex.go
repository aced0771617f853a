// Package edgex is the Pulumi component of EdgeX Foundry 4 on the hub: core-data,
// core-metadata, core-command, PostgreSQL (EdgeX 4's store) and an MQTT broker (its
// message bus, which the hub bridge subscribes to).
//
// EdgeX runs in non-secure mode (EDGEX_SECURITY_SECRET_STORE=false): no Vault, no
// API gateway, no registry or configuration service; each service reads the common
// settings from a file and its own from environment overrides. The hub's only
// outside-facing port is core-data's event API (what the Pi firmware posts to); the
// NetworkPolicies keep every other port inside the namespace, which is what non-secure
// mode relies on. Use EdgeX's secure mode, outside this component, where the hub
// network cannot be trusted.
package edgex

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/function"
)

// TypeToken is the Pulumi type of an EdgeX deployment.
const TypeToken = "smartx:components:EdgeX"

// Pinned upstream images.
const (
	Version       = "4.0.0"
	CoreData      = "docker.io/edgexfoundry/core-data:" + Version
	CoreMetadata  = "docker.io/edgexfoundry/core-metadata:" + Version
	CoreCommand   = "docker.io/edgexfoundry/core-command:" + Version
	PostgresImage = "docker.io/library/postgres:16.4-alpine"
	MQTTImage     = "docker.io/library/eclipse-mosquitto:2.0.20"
)

// Ports of the services.
const (
	CoreDataPort     = 59880
	CoreMetadataPort = 59881
	CoreCommandPort  = 59882
	PostgresPort     = 5432
	MQTTPort         = 1883
)

// Args configures EdgeX. Role defaults to hub for every service.
type Args struct {
	function.Base
	// PostgresPassword of EdgeX's database user (required, a Pulumi secret).
	PostgresPassword pulumi.StringInput
	// BusClients are the apps allowed to subscribe to the message bus (the hub bridge).
	BusClients []string
	// Overrides per service, keyed by the service's name: <name>-core-data,
	// <name>-core-metadata, <name>-core-command, <name>-postgres, <name>-mqtt.
	Overrides map[string]function.Overrides
}

// EdgeX is a running EdgeX deployment.
type EdgeX struct {
	pulumi.ResourceState

	// MQTTURL is the message bus broker URL.
	MQTTURL string
	// CoreDataURL is core-data's base URL (the firmware's target).
	CoreDataURL string
	// CoreDataName is core-data's app name, for Service overrides and policies.
	CoreDataName string
	// CoreDataOutput is CoreDataURL as an output.
	CoreDataOutput pulumi.StringOutput `pulumi:"coreData"`
}

// New declares EdgeX name.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*EdgeX, error) {
	if args == nil || args.PostgresPassword == nil {
		return nil, fmt.Errorf("edgex %s: PostgresPassword is required", name)
	}
	e := &EdgeX{}
	if err := ctx.RegisterComponentResource(TypeToken, name, e, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	parent := pulumi.Parent(e)
	ns := args.Namespace
	host := func(svc string) string { return fmt.Sprintf("%s-%s.%s.svc.cluster.local", name, svc, ns) }
	role := function.Or(args.Role, function.RoleHub)
	e.MQTTURL = fmt.Sprintf("mqtt://%s:%d", host("mqtt"), MQTTPort)
	e.CoreDataName = name + "-core-data"
	e.CoreDataURL = fmt.Sprintf("http://%s:%d", host("core-data"), CoreDataPort)

	auth, err := function.NewSecret(ctx, name+"-postgres-auth", ns, map[string]pulumi.StringInput{"password": args.PostgresPassword},
		parent, pulumi.DependsOn(args.DependsOn))
	if err != nil {
		return nil, err
	}
	deps := append([]pulumi.Resource{auth}, args.DependsOn...)
	base := func(svc, image string) *function.Args {
		return &function.Args{
			Namespace: ns, Role: role, RoleLabel: args.RoleLabel, Image: image,
			DependsOn: deps, Overrides: args.Overrides[name+"-"+svc],
		}
	}
	core := []string{name + "-core-data", name + "-core-metadata", name + "-core-command"}

	pg := base("postgres", PostgresImage)
	pg.Ports = []function.Port{{Name: "postgres", Port: PostgresPort}}
	pg.Env = map[string]string{"POSTGRES_USER": "edgex", "POSTGRES_DB": "edgex_db", "PGDATA": "/var/lib/postgresql/data/pgdata"}
	pg.SecretEnv = []function.SecretEnv{{Name: "POSTGRES_PASSWORD", Secret: name + "-postgres-auth", Key: "password"}}
	pg.Writable = []string{"/var/run/postgresql", "/tmp"}
	pg.Storage = &function.Storage{Size: "5Gi", Path: "/var/lib/postgresql/data"}
	pg.RunAsUser, pg.RunAsGroup = 70, 70 // the alpine image's postgres user
	pg.Liveness = &function.Probe{Port: PostgresPort, InitialDelay: 20, Period: 15}
	pg.Readiness = &function.Probe{Exec: []string{"pg_isready", "-U", "edgex", "-d", "edgex_db"}, Period: 5}
	pg.Ingress = peers(core, PostgresPort)

	mq := base("mqtt", MQTTImage)
	mq.Ports = []function.Port{{Name: "mqtt", Port: MQTTPort}}
	mq.Files = map[string]string{"/mosquitto/config/mosquitto.conf": "listener 1883\nallow_anonymous true\npersistence false\nlog_dest stdout\n"}
	mq.Writable = []string{"/mosquitto/data", "/mosquitto/log"}
	mq.RunAsUser, mq.RunAsGroup = 1883, 1883
	mq.Liveness = &function.Probe{Port: MQTTPort, Period: 15}
	mq.Readiness = &function.Probe{Port: MQTTPort, Period: 5}
	mq.Ingress = peers(append(append([]string(nil), core...), args.BusClients...), MQTTPort)

	common := map[string]string{
		"EDGEX_SECURITY_SECRET_STORE":                     "false",
		"SERVICE_SERVERBINDADDR":                          "0.0.0.0",
		"DATABASE_HOST":                                   host("postgres"),
		"DATABASE_PORT":                                   fmt.Sprint(PostgresPort),
		"MESSAGEBUS_HOST":                                 host("mqtt"),
		"MESSAGEBUS_PORT":                                 fmt.Sprint(MQTTPort),
		"MESSAGEBUS_PROTOCOL":                             "tcp",
		"MESSAGEBUS_TYPE":                                 "mqtt",
		"CLIENTS_CORE_METADATA_HOST":                      host("core-metadata"),
		"CLIENTS_CORE_DATA_HOST":                          host("core-data"),
		"EDGEX_USE_REGISTRY":                              "false",
		"WRITABLE_INSECURESECRETS_DB_SECRETDATA_USERNAME": "edgex",
	}
	service := func(svc, image string, port int, ingress []function.Peer, egress []function.Peer) *function.Args {
		a := base(svc, image)
		a.Ports = []function.Port{{Name: "http", Port: port}}
		a.Env = map[string]string{"SERVICE_HOST": host(svc), "SERVICE_PORT": fmt.Sprint(port)}
		for k, v := range common {
			a.Env[k] = v
		}
		a.SecretEnv = []function.SecretEnv{{Name: "WRITABLE_INSECURESECRETS_DB_SECRETDATA_PASSWORD", Secret: name + "-postgres-auth", Key: "password"}}
		// EdgeX images run as 2002:2001.
		a.RunAsUser, a.RunAsGroup = 2002, 2001
		a.Liveness = &function.Probe{Path: "/api/v3/ping", Port: port, InitialDelay: 15, Period: 15}
		a.Readiness = &function.Probe{Path: "/api/v3/ping", Port: port, Period: 5}
		a.Ingress = ingress
		a.Egress = append([]function.Peer{
			{App: name + "-postgres", Ports: []int{PostgresPort}},
			{App: name + "-mqtt", Ports: []int{MQTTPort}},
		}, egress...)
		return a
	}
	metadata := []function.Peer{{App: name + "-core-metadata", Ports: []int{CoreMetadataPort}}}
	all := []*struct {
		name string
		args *function.Args
	}{
		{name + "-postgres", pg},
		{name + "-mqtt", mq},
		{name + "-core-metadata", service("core-metadata", CoreMetadata, CoreMetadataPort,
			peers([]string{name + "-core-data", name + "-core-command"}, CoreMetadataPort), nil)},
		// Devices post events from outside the cluster.
		{name + "-core-data", service("core-data", CoreData, CoreDataPort, []function.Peer{{Ports: []int{CoreDataPort}}}, metadata)},
		{name + "-core-command", service("core-command", CoreCommand, CoreCommandPort, []function.Peer{{Ports: []int{CoreCommandPort}}}, metadata)},
	}
	for _, s := range all {
		if _, err := function.New(ctx, s.name, s.args, parent); err != nil {
			return nil, err
		}
	}
	e.CoreDataOutput = pulumi.String(e.CoreDataURL).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(e, pulumi.Map{"coreData": e.CoreDataOutput, "mqtt": pulumi.String(e.MQTTURL)}); err != nil {
		return nil, err
	}
	return e, nil
}

func peers(apps []string, port int) []function.Peer {
	out := make([]function.Peer, 0, len(apps))
	for _, a := range apps {
		out = append(out, function.Peer{App: a, Ports: []int{port}})
	}
	return out
}
