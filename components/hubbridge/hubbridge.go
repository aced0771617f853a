// Package hubbridge is the Pulumi component of our hub bridge (the code is in
// functions/hubbridge; this package knows it only by image and settings): the Secret
// of the device tokens and the bridge's workload on the hub, which writes every
// reading to its MongoDB outbox (journaled, see Args.MongoURISecret) and relays it to
// Kafka. In standalone mode devices post EdgeX v3 events to the bridge itself; in
// EdgeX mode it subscribes to EdgeX's message bus instead and accepts no connection.
package hubbridge

import (
	"errors"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/edgex"
	"github.com/smartx-team/overcloud/components/kafka"
	"github.com/smartx-team/overcloud/components/mongodb"
	"github.com/smartx-team/overcloud/components/workload"
)

// TypeToken is the Pulumi type of a hub bridge.
const TypeToken = "smartx:components:HubBridge"

// Modes of the bridge (its HUB_MODE).
const (
	// ModeStandalone: the bridge accepts EdgeX v3 event requests itself.
	ModeStandalone = "standalone"
	// ModeEdgeX: EdgeX core-data accepts them and the bridge subscribes to its bus.
	ModeEdgeX = "edgex"
)

// Ports of the bridge.
const (
	// IngestPort is where devices post events (standalone mode).
	IngestPort = 59880
	// AdminPort serves health and metrics.
	AdminPort = 9102
	// DeviceCommandPort is the firmware's command endpoint (its command-listen
	// default), which set-points are forwarded to.
	DeviceCommandPort = 59990
)

// Where the bridge's Secrets are mounted, as its _FILE settings name them.
const (
	mongoDir   = "/var/run/secrets/smartx/mongodb"
	devicesDir = "/var/run/secrets/smartx/devices"
)

// Args configures the bridge.
type Args struct {
	// Namespace of the objects (required; the caller creates it).
	Namespace string
	// ObjectName names the Kubernetes objects and the Service (optional, default the
	// component's name); see workload.Args.ObjectName.
	ObjectName string
	// Image of the bridge, by digest (required).
	Image string
	// Role is the node role the pods run on (optional, default workload.RoleHub).
	Role string
	// RoleLabel is the node label holding the role (optional, default
	// workload.DefaultRoleLabel).
	RoleLabel string
	// Mode is ModeStandalone or ModeEdgeX (optional, default ModeStandalone).
	Mode string

	// KafkaBootstrap is Kafka's bootstrap address, host:port (required).
	KafkaBootstrap string
	// KafkaApp is Kafka's app name, for the egress policy (optional, default "kafka").
	KafkaApp string
	// Topic the readings are relayed to (required).
	Topic string
	// MongoURISecret names the Secret holding the outbox's MongoDB URI under key
	// "uri" (required). mongodb.New makes it, with journal=true: the connection's
	// default write concern is journaled, as the bridge's outbox writes ask for (j: true,
	// and w: majority when the server reports a replica set).
	MongoURISecret string
	// MongoApp is MongoDB's app name, for the egress policy (optional, default
	// "mongodb").
	MongoApp string
	// MQTTURL is EdgeX's message bus broker (required in ModeEdgeX, unused otherwise).
	MQTTURL string
	// MQTTApp is the broker's app name, for the egress policy (optional, default
	// "edgex-mqtt").
	MQTTApp string
	// DeviceTokens is the device -> token JSON object (required, a Pulumi secret).
	DeviceTokens pulumi.StringInput
	// LogLevel of the bridge (optional, default "info").
	LogLevel string

	// DependsOn are resources every child waits for (the Namespace).
	DependsOn []pulumi.Resource
	// Backends are what the bridge connects to (MongoDB, Kafka): its workload waits
	// for them as well (optional).
	Backends []pulumi.Resource
	// MetricsClients are the app names allowed to read the admin port's /metrics
	// (optional, default none: the kubelet's probes need no policy). The operators'
	// dashboard reads the pipeline's health there.
	MetricsClients []string
	// Overrides are the user's settings of the bridge (optional).
	Overrides workload.Overrides
}

// HubBridge is a deployed hub bridge.
type HubBridge struct {
	pulumi.ResourceState

	// Name of the Kubernetes objects and the pods' app name.
	Name string
	// Endpoint is the Service's host:port of the ingest port.
	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
}

// validate names the first missing or bad key.
func (a *Args) validate() error {
	// A list, not a map, so that the first missing key is the same on every run.
	for _, f := range []struct{ key, value string }{
		{"Namespace", a.Namespace}, {"Image", a.Image}, {"KafkaBootstrap", a.KafkaBootstrap},
		{"Topic", a.Topic}, {"MongoURISecret", a.MongoURISecret},
	} {
		if f.value == "" {
			return fmt.Errorf("%s is required", f.key)
		}
	}
	switch {
	case a.DeviceTokens == nil:
		return errors.New("DeviceTokens is required")
	case a.Mode != ModeStandalone && a.Mode != ModeEdgeX:
		return fmt.Errorf("unknown Mode %q: want %q or %q", a.Mode, ModeStandalone, ModeEdgeX)
	case a.Mode == ModeEdgeX && a.MQTTURL == "":
		return fmt.Errorf("MQTTURL is required in %s mode", ModeEdgeX)
	case a.Mode == ModeEdgeX && a.Overrides.Replicas != nil && *a.Overrides.Replicas > 1:
		return fmt.Errorf("Overrides.Replicas %d in %s mode: the bridge's broker session is one client, run one replica", *a.Overrides.Replicas, ModeEdgeX)
	}
	return workload.CheckClients("MetricsClients", a.MetricsClients)
}

// New declares the hub bridge name: its children are named from name. Pass the
// Kubernetes provider in opts.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*HubBridge, error) {
	if args == nil {
		return nil, fmt.Errorf("hubbridge %s: nil args", name)
	}
	a := *args
	a.Mode = workload.Or(a.Mode, ModeStandalone)
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("hubbridge %s: %w", name, err)
	}
	hb := &HubBridge{Name: workload.Or(a.ObjectName, name)}
	if err := ctx.RegisterComponentResource(TypeToken, name, hb, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	parent := pulumi.Parent(hb)
	tokens, err := workload.NewSecret(ctx, name+"-devices", &workload.SecretArgs{
		Name: hb.Name + "-devices", Namespace: a.Namespace,
		Data: map[string]pulumi.StringInput{"tokens.json": a.DeviceTokens},
	}, parent, pulumi.DependsOn(a.DependsOn))
	if err != nil {
		return nil, fmt.Errorf("hubbridge %s: %w", name, err)
	}
	env := map[string]string{
		"HUB_MODE":               a.Mode,
		"HUB_LISTEN":             fmt.Sprintf(":%d", IngestPort),
		"HUB_ADMIN_LISTEN":       fmt.Sprintf(":%d", AdminPort),
		"HUB_MONGO_DATABASE":     "smartx_hub",
		"HUB_MONGO_URI_FILE":     mongoDir + "/uri",
		"HUB_KAFKA_BROKERS":      a.KafkaBootstrap,
		"HUB_KAFKA_TOPIC":        a.Topic,
		"HUB_DEVICE_TOKENS_FILE": devicesDir + "/tokens.json",
		"HUB_LOG_LEVEL":          workload.Or(a.LogLevel, "info"),
	}
	ingress := []workload.Peer{{Ports: []int{IngestPort}}} // devices, from outside the cluster
	egress := []workload.Peer{
		{App: workload.Or(a.MongoApp, "mongodb"), Ports: []int{mongodb.Port}},
		{App: workload.Or(a.KafkaApp, "kafka"), Ports: []int{kafka.Port}},
		// core-command's set-points go on to the Pis' command endpoints, outside the
		// cluster (standalone mode; behind EdgeX, core-command sends them).
		{Ports: []int{DeviceCommandPort}},
	}
	if a.Mode == ModeEdgeX {
		egress = egress[:2]
		env["HUB_MQTT_URL"] = a.MQTTURL
		env["HUB_MQTT_TOPIC"] = "edgex/events/core/#"
		// A client id that outlives the pod keeps the broker's session, and what the
		// broker queued for it, across restarts.
		env["HUB_MQTT_CLIENT_ID"] = hb.Name
		ingress = nil
		egress = append(egress, workload.Peer{App: workload.Or(a.MQTTApp, "edgex-mqtt"), Ports: []int{edgex.MQTTPort}})
	}
	for _, c := range a.MetricsClients {
		ingress = append(ingress, workload.Peer{App: c, Ports: []int{AdminPort}})
	}
	w, err := workload.New(ctx, name, &workload.Args{
		// Behind EdgeX the bridge is one broker session: an update must not run two.
		Recreate:  a.Mode == ModeEdgeX,
		Namespace: a.Namespace, ObjectName: hb.Name,
		RoleLabel: a.RoleLabel, Role: workload.Or(a.Role, workload.RoleHub),
		Image: a.Image,
		Ports: []workload.Port{{Name: "ingest", Port: IngestPort}, {Name: "admin", Port: AdminPort}},
		Env:   env,
		SecretMounts: []workload.SecretMount{
			{Secret: a.MongoURISecret, Path: mongoDir},
			{Secret: hb.Name + "-devices", Path: devicesDir},
		},
		Liveness:  &workload.Probe{Path: "/healthz", Port: AdminPort},
		Readiness: &workload.Probe{Path: "/readyz", Port: AdminPort, Period: 5},
		Ingress:   ingress,
		Egress:    egress,
		DependsOn: append(append([]pulumi.Resource{tokens}, a.Backends...), a.DependsOn...),
		Overrides: a.Overrides,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("hubbridge %s: %w", name, err)
	}
	hb.Endpoint = w.Endpoint
	if err := ctx.RegisterResourceOutputs(hb, pulumi.Map{"endpoint": hb.Endpoint}); err != nil {
		return nil, fmt.Errorf("hubbridge %s outputs: %w", name, err)
	}
	return hb, nil
}
