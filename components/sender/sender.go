// Package sender is the Pulumi component of our sender (the code is in
// functions/sender; this package knows it only by image and settings): a Kafka consumer
// group member on the tower that enriches readings with the weather and writes them to
// InfluxDB, with a dead-letter topic for what it cannot write.
package sender

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/influxdb"
	"github.com/smartx-team/overcloud/components/kafka"
	"github.com/smartx-team/overcloud/components/workload"
)

// TypeToken is the Pulumi type of a sender.
const TypeToken = "smartx:components:Sender"

// AdminPort serves health and metrics (the sender listens on nothing else).
const AdminPort = 9103

// WeatherPort is the weather APIs' port (HTTPS), outside the cluster.
const WeatherPort = 443

// Where the sender's Secrets are mounted, as its _FILE settings name them.
const (
	influxDir  = "/var/run/secrets/smartx/influxdb"
	weatherDir = "/var/run/secrets/smartx/weather"
)

// Args configures the sender.
type Args struct {
	// Namespace of the objects (required; the caller creates it).
	Namespace string
	// ObjectName names the Kubernetes objects and the Service (optional, default the
	// component's name); see workload.Args.ObjectName.
	ObjectName string
	// Image of the sender, by digest (required).
	Image string
	// Role is the node role the pods run on (optional, default workload.RoleTower).
	Role string
	// RoleLabel is the node label holding the role (optional, default
	// workload.DefaultRoleLabel).
	RoleLabel string

	// KafkaBootstrap is Kafka's bootstrap address, host:port (required).
	KafkaBootstrap string
	// KafkaApp is Kafka's app name, for the egress policy (optional, default "kafka").
	KafkaApp string
	// Topic the readings are consumed from (required).
	Topic string
	// DeadLetterTopic takes what cannot be written (required).
	DeadLetterTopic string
	// Group is the Kafka consumer group (optional, default "smartx-sender").
	Group string
	// InfluxURL, InfluxOrg and InfluxBucket locate the store (required).
	InfluxURL, InfluxOrg, InfluxBucket string
	// InfluxTokenSecret names the Secret holding the InfluxDB token under key "token"
	// (required).
	InfluxTokenSecret string
	// InfluxApp is InfluxDB's app name, for the egress policy (optional, default
	// "influxdb").
	InfluxApp string
	// Location and WeatherProvider (optional, default: the sender's own).
	Location, WeatherProvider string
	// OWMAPIKey is the OpenWeatherMap API key (optional, a Pulumi secret: without it
	// the sender uses Open-Meteo).
	OWMAPIKey pulumi.StringInput
	// LogLevel of the sender (optional, default "info").
	LogLevel string

	// DependsOn are resources every child waits for (the Namespace).
	DependsOn []pulumi.Resource
	// Backends are what the sender connects to (Kafka, InfluxDB): its workload waits
	// for them as well (optional).
	Backends []pulumi.Resource
	// MetricsClients are the app names allowed to read the admin port's /metrics
	// (optional, default none: the kubelet's probes need no policy). The operators'
	// dashboard reads the pipeline's health there.
	MetricsClients []string
	// Overrides are the user's settings of the sender (optional).
	Overrides workload.Overrides
}

// Sender is a deployed sender.
type Sender struct {
	pulumi.ResourceState

	// Name of the Kubernetes objects and the pods' app name.
	Name string
	// Endpoint is the Service's host:port of the admin port.
	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
}

// validate names the first missing key.
func (a *Args) validate() error {
	// A list, not a map, so that the first missing key is the same on every run.
	for _, f := range []struct{ key, value string }{
		{"Namespace", a.Namespace}, {"Image", a.Image}, {"KafkaBootstrap", a.KafkaBootstrap},
		{"Topic", a.Topic}, {"DeadLetterTopic", a.DeadLetterTopic},
		{"InfluxURL", a.InfluxURL}, {"InfluxOrg", a.InfluxOrg}, {"InfluxBucket", a.InfluxBucket},
		{"InfluxTokenSecret", a.InfluxTokenSecret},
	} {
		if f.value == "" {
			return fmt.Errorf("%s is required", f.key)
		}
	}
	return workload.CheckClients("MetricsClients", a.MetricsClients)
}

// New declares the sender name: its children are named from name. Pass the Kubernetes
// provider in opts.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Sender, error) {
	if args == nil {
		return nil, fmt.Errorf("sender %s: nil args", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("sender %s: %w", name, err)
	}
	s := &Sender{Name: workload.Or(a.ObjectName, name)}
	if err := ctx.RegisterComponentResource(TypeToken, name, s, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	parent := pulumi.Parent(s)
	env := map[string]string{
		"SENDER_ADMIN_LISTEN":      fmt.Sprintf(":%d", AdminPort),
		"SENDER_KAFKA_BROKERS":     a.KafkaBootstrap,
		"SENDER_KAFKA_TOPIC":       a.Topic,
		"SENDER_KAFKA_GROUP":       workload.Or(a.Group, "smartx-sender"),
		"SENDER_DEAD_LETTER_TOPIC": a.DeadLetterTopic,
		"SENDER_INFLUX_URL":        a.InfluxURL,
		"SENDER_INFLUX_ORG":        a.InfluxOrg,
		"SENDER_INFLUX_BUCKET":     a.InfluxBucket,
		"SENDER_INFLUX_TOKEN_FILE": influxDir + "/token",
		"SENDER_LOG_LEVEL":         workload.Or(a.LogLevel, "info"),
	}
	if a.Location != "" {
		env["SENDER_LOCATION"] = a.Location
	}
	if a.WeatherProvider != "" {
		env["SENDER_WEATHER_PROVIDER"] = a.WeatherProvider
	}
	mounts := []workload.SecretMount{{Secret: a.InfluxTokenSecret, Path: influxDir}}
	depends := append(append([]pulumi.Resource(nil), a.Backends...), a.DependsOn...)
	if a.OWMAPIKey != nil {
		key, err := workload.NewSecret(ctx, name+"-weather", &workload.SecretArgs{
			Name: s.Name + "-weather", Namespace: a.Namespace,
			Data: map[string]pulumi.StringInput{"owm-api-key": a.OWMAPIKey},
		}, parent, pulumi.DependsOn(a.DependsOn))
		if err != nil {
			return nil, fmt.Errorf("sender %s: %w", name, err)
		}
		depends = append(depends, key)
		env["SENDER_OWM_API_KEY_FILE"] = weatherDir + "/owm-api-key"
		mounts = append(mounts, workload.SecretMount{Secret: s.Name + "-weather", Path: weatherDir})
	}
	var ingress []workload.Peer
	for _, c := range a.MetricsClients {
		ingress = append(ingress, workload.Peer{App: c, Ports: []int{AdminPort}})
	}
	w, err := workload.New(ctx, name, &workload.Args{
		Namespace: a.Namespace, ObjectName: s.Name,
		Ingress:   ingress,
		RoleLabel: a.RoleLabel, Role: workload.Or(a.Role, workload.RoleTower),
		Image:        a.Image,
		Ports:        []workload.Port{{Name: "admin", Port: AdminPort}},
		Env:          env,
		SecretMounts: mounts,
		Liveness:     &workload.Probe{Path: "/healthz", Port: AdminPort},
		Readiness:    &workload.Probe{Path: "/readyz", Port: AdminPort, Period: 5},
		Egress: []workload.Peer{
			{App: workload.Or(a.KafkaApp, "kafka"), Ports: []int{kafka.Port}},
			{App: workload.Or(a.InfluxApp, "influxdb"), Ports: []int{influxdb.Port}},
			{Ports: []int{WeatherPort}}, // the weather API, outside the cluster
		},
		DependsOn: depends,
		Overrides: a.Overrides,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("sender %s: %w", name, err)
	}
	s.Endpoint = w.Endpoint
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{"endpoint": s.Endpoint}); err != nil {
		return nil, fmt.Errorf("sender %s outputs: %w", name, err)
	}
	return s, nil
}
