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
	_ "embed"
	"fmt"
	"maps"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/workload"
)

// TypeToken is the Pulumi type of an EdgeX deployment.
const TypeToken = "smartx:components:EdgeX"

// Pinned upstream images. Version is the EdgeX release whose core services the tests
// run (built from its source by .ci/tools.sh edgex).
const (
	Version       = "4.0.2"
	CoreData      = "docker.io/edgexfoundry/core-data:" + Version
	CoreMetadata  = "docker.io/edgexfoundry/core-metadata:" + Version
	CoreCommand   = "docker.io/edgexfoundry/core-command:" + Version
	PostgresImage = "docker.io/library/postgres:16.4-alpine"
	MQTTImage     = "docker.io/library/eclipse-mosquitto:2.0.20"
)

// Ports of the services.
const (
	// DeviceCommandPort is the Pi firmware's command endpoint (its command-listen
	// default), where core-command sends the set-points.
	DeviceCommandPort = 59990
	CoreDataPort      = 59880
	CoreMetadataPort  = 59881
	CoreCommandPort   = 59882
	PostgresPort      = 5432
	MQTTPort          = 1883
)

// CommonConfig is the common configuration of the core services, mounted from a
// ConfigMap at CommonConfigPath: EdgeX's settings with the message bus at QoS 1, and
// no address or secret in it (those come by environment, see Env).
//
//go:embed common-configuration.yaml
var CommonConfig string

// CommonConfigPath is where the core services read CommonConfig (EDGEX_COMMON_CONFIG).
const CommonConfigPath = "/edgex/common-configuration.yaml"

// BrokerQueue is the broker's limit on what it queues for a client that is away (the
// hub bridge, between a restart and its return). Mosquitto's default, 1000 messages,
// is seconds of a large fleet's events; 200000 events of about 1 KiB is some 200 MiB.
const BrokerQueue = "max_queued_messages 200000\n"

// Addresses locate one core service and what it talks to, for Env.
type Addresses struct {
	Host           string // the service's own host name
	Port           int    // and port
	DatabaseHost   string
	DatabasePort   int
	BusHost        string
	BusPort        int
	MetadataHost   string
	MetadataPort   int
	ServerBindAddr string // where it listens (the component: 0.0.0.0)
}

// Env is the environment of a core service besides the database password (a Secret):
// non-secure mode without registry, CommonConfig, and every address as an override.
func Env(a Addresses) map[string]string {
	return map[string]string{
		"EDGEX_SECURITY_SECRET_STORE": "false",
		"EDGEX_USE_REGISTRY":          "false",
		"EDGEX_COMMON_CONFIG":         CommonConfigPath,
		"SERVICE_HOST":                a.Host,
		"SERVICE_PORT":                strconv.Itoa(a.Port),
		"SERVICE_SERVERBINDADDR":      a.ServerBindAddr,
		"DATABASE_HOST":               a.DatabaseHost,
		"DATABASE_PORT":               strconv.Itoa(a.DatabasePort),
		"MESSAGEBUS_HOST":             a.BusHost,
		"MESSAGEBUS_PORT":             strconv.Itoa(a.BusPort),
		"CLIENTS_CORE_METADATA_HOST":  a.MetadataHost,
		"CLIENTS_CORE_METADATA_PORT":  strconv.Itoa(a.MetadataPort),
	}
}

// CoreDataMaxConns is core-data's database pool (EdgeX's own is 4). Core-data 4.0.2
// looks up a device's first readings on a second pool connection while their event's
// transaction holds one, so when more new devices post at once than the pool has
// connections (a site's Pis after a power cut), every transaction waits for a
// connection none gives back and core-data stores nothing more. A larger pool raises
// that number of devices from 4 to this; PostgreSQL's 100 connections leave room for
// core-metadata's and core-command's 4 each.
const CoreDataMaxConns = 64

// CoreDataEnv is core-data's environment besides Env's.
func CoreDataEnv() map[string]string {
	return map[string]string{"DATABASE_MAXCONNS": strconv.Itoa(CoreDataMaxConns)}
}

// DatabasePasswordEnv is the override that carries EdgeX's database password.
const DatabasePasswordEnv = "WRITABLE_INSECURESECRETS_DB_SECRETDATA_PASSWORD"

// Args configures EdgeX. Role defaults to hub for every service.
type Args struct {
	workload.Base
	// PostgresPassword of EdgeX's database user (required, a Pulumi secret).
	PostgresPassword pulumi.StringInput
	// BusClients are the apps allowed to subscribe to the message bus (the hub bridge).
	BusClients []string
	// Overrides per service, keyed by the service's object name: <object>-core-data,
	// <object>-core-metadata, <object>-core-command, <object>-postgres, <object>-mqtt,
	// where <object> is ObjectName (default the component's name).
	Overrides map[string]workload.Overrides
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

// validate names the first missing key, in declaration order.
func (a *Args) validate() error {
	for _, f := range []struct {
		key string
		set bool
	}{
		{"Namespace", a.Namespace != ""}, {"PostgresPassword", a.PostgresPassword != nil},
	} {
		if !f.set {
			return fmt.Errorf("%s is required", f.key)
		}
	}
	return nil
}

// New declares EdgeX name.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*EdgeX, error) {
	if args == nil {
		return nil, fmt.Errorf("edgex %s: nil args", name)
	}
	if err := args.validate(); err != nil {
		return nil, fmt.Errorf("edgex %s: %w", name, err)
	}
	e := &EdgeX{}
	if err := ctx.RegisterComponentResource(TypeToken, name, e, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	parent := pulumi.Parent(e)
	ns, obj := args.Namespace, workload.Or(args.ObjectName, name)
	host := func(svc string) string { return fmt.Sprintf("%s-%s.%s.svc.cluster.local", obj, svc, ns) }
	role := workload.Or(args.Role, workload.RoleHub)
	e.MQTTURL = fmt.Sprintf("mqtt://%s:%d", host("mqtt"), MQTTPort)
	e.CoreDataName = obj + "-core-data"
	e.CoreDataURL = fmt.Sprintf("http://%s:%d", host("core-data"), CoreDataPort)

	auth, err := workload.NewSecret(ctx, name+"-postgres-auth", &workload.SecretArgs{
		Name: obj + "-postgres-auth", Namespace: ns, Data: map[string]pulumi.StringInput{"password": args.PostgresPassword},
	}, parent, pulumi.DependsOn(args.DependsOn))
	if err != nil {
		return nil, err
	}
	deps := append([]pulumi.Resource{auth}, args.DependsOn...)
	base := func(svc, image string) *workload.Args {
		return &workload.Args{
			Namespace: ns, ObjectName: obj + "-" + svc, Role: role, RoleLabel: args.RoleLabel, Image: image,
			DependsOn: deps, Overrides: args.Overrides[obj+"-"+svc],
		}
	}
	core := []string{obj + "-core-data", obj + "-core-metadata", obj + "-core-command"}

	pg := base("postgres", PostgresImage)
	pg.Ports = []workload.Port{{Name: "postgres", Port: PostgresPort}}
	pg.Env = map[string]string{"POSTGRES_USER": "edgex", "POSTGRES_DB": "edgex_db", "PGDATA": "/var/lib/postgresql/data/pgdata"}
	pg.SecretEnv = []workload.SecretEnv{{Name: "POSTGRES_PASSWORD", Secret: obj + "-postgres-auth", Key: "password"}}
	pg.Writable = []string{"/var/run/postgresql", "/tmp"}
	pg.Storage = &workload.Storage{Size: "5Gi", Path: "/var/lib/postgresql/data"}
	pg.RunAsUser, pg.RunAsGroup = 70, 70 // the alpine image's postgres user
	pg.Liveness = &workload.Probe{Port: PostgresPort, InitialDelay: 20, Period: 15}
	pg.Readiness = &workload.Probe{Exec: []string{"pg_isready", "-U", "edgex", "-d", "edgex_db"}, Period: 5}
	pg.Ingress = peers(core, PostgresPort)

	mq := base("mqtt", MQTTImage)
	mq.Ports = []workload.Port{{Name: "mqtt", Port: MQTTPort}}
	mq.Files = map[string]string{"/mosquitto/config/mosquitto.conf": "listener 1883\nallow_anonymous true\npersistence false\nlog_dest stdout\n" + BrokerQueue}
	mq.Writable = []string{"/mosquitto/data", "/mosquitto/log"}
	mq.RunAsUser, mq.RunAsGroup = 1883, 1883
	mq.Liveness = &workload.Probe{Port: MQTTPort, Period: 15}
	mq.Readiness = &workload.Probe{Port: MQTTPort, Period: 5}
	mq.Ingress = peers(append(append([]string(nil), core...), args.BusClients...), MQTTPort)

	service := func(svc, image string, port int, ingress []workload.Peer, egress []workload.Peer) *workload.Args {
		a := base(svc, image)
		a.Ports = []workload.Port{{Name: "http", Port: port}}
		a.Env = Env(Addresses{
			Host: host(svc), Port: port, ServerBindAddr: "0.0.0.0",
			DatabaseHost: host("postgres"), DatabasePort: PostgresPort,
			BusHost: host("mqtt"), BusPort: MQTTPort,
			MetadataHost: host("core-metadata"), MetadataPort: CoreMetadataPort,
		})
		a.Files = map[string]string{CommonConfigPath: CommonConfig}
		a.SecretEnv = []workload.SecretEnv{{Name: DatabasePasswordEnv, Secret: obj + "-postgres-auth", Key: "password"}}
		// EdgeX images run as 2002:2001.
		a.RunAsUser, a.RunAsGroup = 2002, 2001
		a.Liveness = &workload.Probe{Path: "/api/v3/ping", Port: port, InitialDelay: 15, Period: 15}
		a.Readiness = &workload.Probe{Path: "/api/v3/ping", Port: port, Period: 5}
		a.Ingress = ingress
		a.Egress = append([]workload.Peer{
			{App: obj + "-postgres", Ports: []int{PostgresPort}},
			{App: obj + "-mqtt", Ports: []int{MQTTPort}},
		}, egress...)
		return a
	}
	metadata := []workload.Peer{{App: obj + "-core-metadata", Ports: []int{CoreMetadataPort}}}
	coreData := service("core-data", CoreData, CoreDataPort, []workload.Peer{{Ports: []int{CoreDataPort}}}, metadata)
	maps.Copy(coreData.Env, CoreDataEnv())
	all := []*struct {
		svc  string
		args *workload.Args
	}{
		{"postgres", pg},
		{"mqtt", mq},
		{"core-metadata", service("core-metadata", CoreMetadata, CoreMetadataPort,
			peers([]string{obj + "-core-data", obj + "-core-command"}, CoreMetadataPort), nil)},
		// Devices post events from outside the cluster.
		{"core-data", coreData},
		// core-command sends commands on to the devices' services: the Pis' command
		// endpoints, outside the cluster.
		{"core-command", service("core-command", CoreCommand, CoreCommandPort, []workload.Peer{{Ports: []int{CoreCommandPort}}},
			append(metadata, workload.Peer{Ports: []int{DeviceCommandPort}}))},
	}
	for _, s := range all {
		if _, err := workload.New(ctx, name+"-"+s.svc, s.args, parent); err != nil {
			return nil, err
		}
	}
	e.CoreDataOutput = pulumi.String(e.CoreDataURL).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(e, pulumi.Map{"coreData": e.CoreDataOutput, "mqtt": pulumi.String(e.MQTTURL)}); err != nil {
		return nil, err
	}
	return e, nil
}

func peers(apps []string, port int) []workload.Peer {
	out := make([]workload.Peer, 0, len(apps))
	for _, a := range apps {
		out = append(out, workload.Peer{App: a, Ports: []int{port}})
	}
	return out
}
