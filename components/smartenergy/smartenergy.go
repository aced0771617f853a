// Package smartenergy is the composite Pulumi component of the Smart Energy service:
// the namespace, the platform (Kafka, MongoDB, InfluxDB, Grafana and, in EdgeX mode,
// EdgeX Foundry) and our functions (hub bridge, sender), wired by Service names and
// placed on the original deployment's node roles: hub for EdgeX, MongoDB and the hub
// bridge; storage for InfluxDB; tower for Kafka, Grafana and the sender.
package smartenergy

import (
	"fmt"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/edgex"
	"github.com/smartx-team/overcloud/components/function"
	"github.com/smartx-team/overcloud/components/grafana"
	"github.com/smartx-team/overcloud/components/influxdb"
	"github.com/smartx-team/overcloud/components/kafka"
	"github.com/smartx-team/overcloud/components/mongodb"
)

// TypeToken is the Pulumi type of the service.
const TypeToken = "smartx:components:SmartEnergy"

// Hub modes.
const (
	// HubStandalone: the hub bridge accepts EdgeX v3 event requests itself.
	HubStandalone = "standalone"
	// HubEdgeX: EdgeX core-data accepts them and the bridge subscribes to its bus.
	HubEdgeX = "edgex"
)

// Names of the functions (and their Kubernetes objects); Args.Components and
// Args.Roles are keyed by them (EdgeX's services by "edgex-core-data" and so on).
const (
	HubBridge = "hubbridge"
	Sender    = "sender"
	Kafka     = "kafka"
	MongoDB   = "mongodb"
	InfluxDB  = "influxdb"
	Grafana   = "grafana"
	EdgeX     = "edgex"
)

// Topics of the data path.
const (
	ReadingsTopic   = "readings"
	DeadLetterTopic = "readings.dead"
)

// Images are our functions' images, by digest (required).
type Images struct {
	HubBridge, Sender string
}

// Secrets are the secret settings; each must be a Pulumi secret. All but OWMAPIKey
// are required.
type Secrets struct {
	InfluxPassword, InfluxToken pulumi.StringInput
	MongoPassword               pulumi.StringInput
	PostgresPassword            pulumi.StringInput
	GrafanaPassword             pulumi.StringInput
	// DeviceTokens is the hub's device -> token JSON object.
	DeviceTokens pulumi.StringInput
	// OWMAPIKey is the OpenWeatherMap API key (optional: the sender falls back to
	// Open-Meteo without it).
	OWMAPIKey pulumi.StringInput
}

// Args configures the service.
type Args struct {
	// Namespace of everything (default "smartx"); the component creates it.
	Namespace string
	// RoleLabel is the node label holding the role (default function.DefaultRoleLabel).
	RoleLabel string
	// HubMode is HubStandalone (default) or HubEdgeX.
	HubMode string
	// Images of our functions (required, by digest).
	Images Images
	// AllowTags accepts image references by tag; by default only references by
	// digest are, so that a deployment runs exactly the image that was built.
	AllowTags bool
	// KafkaBrokers is 1 (default, small stacks) or 3 (production, replicated).
	KafkaBrokers int
	// InfluxOrg, InfluxBucket, InfluxRetention set up InfluxDB (defaults "smartx",
	// "Sensordata", forever).
	InfluxOrg, InfluxBucket, InfluxRetention string
	// Location and WeatherProvider of the sender (defaults: the sender's own).
	Location, WeatherProvider string
	// LogLevel of our functions (default "info").
	LogLevel string
	// Secrets (see Secrets).
	Secrets Secrets
	// Roles moves a function to another node role: name -> role.
	Roles map[string]string
	// Components holds per-function overrides: name -> overrides.
	Components map[string]function.Overrides
}

// SmartEnergy is the deployed service.
type SmartEnergy struct {
	pulumi.ResourceState

	// Namespace of the service.
	Namespace string
	// HubEndpoint is where devices send EdgeX v3 events (inside the cluster; expose it
	// with Components[...].ServiceType).
	HubEndpoint pulumi.StringOutput `pulumi:"hubEndpoint"`
	// DashboardURL is Grafana's Smart Energy dashboard.
	DashboardURL pulumi.StringOutput `pulumi:"dashboardUrl"`
	// KafkaBootstrap and InfluxURL locate the bus and the store.
	KafkaBootstrap pulumi.StringOutput `pulumi:"kafkaBootstrap"`
	InfluxURL      pulumi.StringOutput `pulumi:"influxUrl"`
}

func (a *Args) validate() error {
	switch {
	case a.HubMode != HubStandalone && a.HubMode != HubEdgeX:
		return fmt.Errorf("HubMode %q: want %q or %q", a.HubMode, HubStandalone, HubEdgeX)
	case a.KafkaBrokers != 1 && a.KafkaBrokers != 3:
		return fmt.Errorf("KafkaBrokers %d: want 1 or 3", a.KafkaBrokers)
	}
	for n, img := range map[string]string{"Images.HubBridge": a.Images.HubBridge, "Images.Sender": a.Images.Sender} {
		if img == "" {
			return fmt.Errorf("%s is required", n)
		}
		if !a.AllowTags && !strings.Contains(img, "@sha256:") {
			return fmt.Errorf("%s %q: want a reference by digest (name@sha256:...)", n, img)
		}
	}
	s := a.Secrets
	for n, v := range map[string]pulumi.StringInput{
		"Secrets.InfluxPassword": s.InfluxPassword, "Secrets.InfluxToken": s.InfluxToken,
		"Secrets.MongoPassword": s.MongoPassword, "Secrets.GrafanaPassword": s.GrafanaPassword,
		"Secrets.DeviceTokens": s.DeviceTokens,
	} {
		if v == nil {
			return fmt.Errorf("%s is required", n)
		}
	}
	if a.HubMode == HubEdgeX && s.PostgresPassword == nil {
		return fmt.Errorf("Secrets.PostgresPassword is required in EdgeX mode")
	}
	return nil
}

func (a *Args) defaults() {
	a.Namespace = function.Or(a.Namespace, "smartx")
	a.HubMode = function.Or(a.HubMode, HubStandalone)
	if a.KafkaBrokers == 0 {
		a.KafkaBrokers = 1
	}
	a.LogLevel = function.Or(a.LogLevel, "info")
}

func (a *Args) role(name, def string) string { return function.Or(a.Roles[name], def) }

// New declares the service name. Pass the Kubernetes provider in opts.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*SmartEnergy, error) {
	if args == nil {
		return nil, fmt.Errorf("smartenergy %s: nil args", name)
	}
	a := *args
	a.defaults()
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("smartenergy %s: %w", name, err)
	}
	se := &SmartEnergy{Namespace: a.Namespace}
	if err := ctx.RegisterComponentResource(TypeToken, name, se, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	if err := se.declare(ctx, &a); err != nil {
		return nil, fmt.Errorf("smartenergy %s: %w", name, err)
	}
	if err := ctx.RegisterResourceOutputs(se, pulumi.Map{
		"hubEndpoint": se.HubEndpoint, "dashboardUrl": se.DashboardURL,
		"kafkaBootstrap": se.KafkaBootstrap, "influxUrl": se.InfluxURL,
	}); err != nil {
		return nil, err
	}
	return se, nil
}

func (se *SmartEnergy) declare(ctx *pulumi.Context, a *Args) error {
	parent := pulumi.Parent(se)
	ns, err := corev1.NewNamespace(ctx, a.Namespace, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(a.Namespace),
			Labels: pulumi.StringMap{
				function.LabelPartOf: pulumi.String("smartx"),
				// Pods must meet the restricted Pod Security Standard.
				"pod-security.kubernetes.io/enforce": pulumi.String("restricted"),
			},
		},
	}, parent)
	if err != nil {
		return fmt.Errorf("namespace: %w", err)
	}
	deps := []pulumi.Resource{ns}
	// Whatever has no policy of its own gets no traffic at all.
	if _, err := networkingv1.NewNetworkPolicy(ctx, a.Namespace+"-default-deny", &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("default-deny"), Namespace: pulumi.String(a.Namespace)},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
		},
	}, parent, pulumi.DependsOn(deps)); err != nil {
		return fmt.Errorf("default deny: %w", err)
	}
	base := func(n, role string) function.Base {
		return function.Base{Namespace: a.Namespace, RoleLabel: a.RoleLabel, Role: a.role(n, role), Image: a.Components[n].Image, DependsOn: deps}
	}
	over := func(n string) function.Overrides { o := a.Components[n]; o.Image = ""; return o }

	edgeMode := a.HubMode == HubEdgeX
	k, err := kafka.New(ctx, Kafka, &kafka.Args{
		Base:    base(Kafka, function.RoleTower),
		Brokers: a.KafkaBrokers,
		Topics:  []kafka.Topic{{Name: ReadingsTopic, Partitions: 6}, {Name: DeadLetterTopic, Partitions: 1}},
		Clients: []string{HubBridge, Sender}, Overrides: over(Kafka),
	}, parent)
	if err != nil {
		return err
	}
	mongo, err := mongodb.New(ctx, MongoDB, &mongodb.Args{
		Base: base(MongoDB, function.RoleHub), Password: a.Secrets.MongoPassword,
		Clients: []string{HubBridge}, URISecret: HubBridge + "-mongo", Overrides: over(MongoDB),
	}, parent)
	if err != nil {
		return err
	}
	influx, err := influxdb.New(ctx, InfluxDB, &influxdb.Args{
		Base: base(InfluxDB, function.RoleStorage),
		Org:  a.InfluxOrg, Bucket: a.InfluxBucket, Retention: a.InfluxRetention,
		Password: a.Secrets.InfluxPassword, Token: a.Secrets.InfluxToken,
		Clients: []string{Sender, Grafana}, Overrides: over(InfluxDB),
	}, parent)
	if err != nil {
		return err
	}
	graf, err := grafana.New(ctx, Grafana, &grafana.Args{
		Base:      base(Grafana, function.RoleTower),
		InfluxURL: influx.URL, InfluxOrg: influx.Org, InfluxBucket: influx.Bucket,
		InfluxTokenSecret: influx.TokenSecret, InfluxApp: InfluxDB,
		AdminPassword: a.Secrets.GrafanaPassword, Overrides: over(Grafana),
	}, parent)
	if err != nil {
		return err
	}
	var edge *edgex.EdgeX
	if edgeMode {
		edgeOver := map[string]function.Overrides{}
		for n, o := range a.Components {
			if strings.HasPrefix(n, EdgeX+"-") {
				edgeOver[n] = o
			}
		}
		edge, err = edgex.New(ctx, EdgeX, &edgex.Args{
			Base: base(EdgeX, function.RoleHub), PostgresPassword: a.Secrets.PostgresPassword,
			BusClients: []string{HubBridge}, Overrides: edgeOver,
		}, parent)
		if err != nil {
			return err
		}
	}
	hub, err := se.hubBridge(ctx, a, k, mongo, edge, deps)
	if err != nil {
		return err
	}
	if err := se.sender(ctx, a, k, influx, deps); err != nil {
		return err
	}
	se.HubEndpoint = hub
	se.DashboardURL = graf.URLOutput
	se.KafkaBootstrap = k.BootstrapOutput
	se.InfluxURL = influx.URLOutput
	return nil
}

// hubBridge declares the hub bridge (see functions/hubbridge) and returns where
// devices send events: the bridge itself, or EdgeX core-data in EdgeX mode.
func (se *SmartEnergy) hubBridge(ctx *pulumi.Context, a *Args, k *kafka.Kafka, mongo *mongodb.MongoDB, edge *edgex.EdgeX, deps []pulumi.Resource) (pulumi.StringOutput, error) {
	parent := pulumi.Parent(se)
	tokens, err := function.NewSecret(ctx, HubBridge+"-devices", a.Namespace, map[string]pulumi.StringInput{"tokens.json": a.Secrets.DeviceTokens},
		parent, pulumi.DependsOn(deps))
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	env := map[string]string{
		"HUB_MODE":               a.HubMode,
		"HUB_LISTEN":             ":59880",
		"HUB_ADMIN_LISTEN":       ":9102",
		"HUB_MONGO_DATABASE":     "smartx_hub",
		"HUB_MONGO_URI_FILE":     "/var/run/secrets/smartx/mongodb/uri",
		"HUB_KAFKA_BROKERS":      k.Bootstrap,
		"HUB_KAFKA_TOPIC":        ReadingsTopic,
		"HUB_DEVICE_TOKENS_FILE": "/var/run/secrets/smartx/devices/tokens.json",
		"HUB_LOG_LEVEL":          a.LogLevel,
	}
	ingress := []function.Peer{{Ports: []int{59880}}} // devices, from outside the cluster
	egress := []function.Peer{{App: MongoDB, Ports: []int{mongodb.Port}}, {App: Kafka, Ports: []int{kafka.Port}}}
	if edge != nil {
		env["HUB_MQTT_URL"] = edge.MQTTURL
		env["HUB_MQTT_TOPIC"] = "edgex/events/core/#"
		ingress = nil
		egress = append(egress, function.Peer{App: EdgeX + "-mqtt", Ports: []int{edgex.MQTTPort}})
	}
	f, err := function.New(ctx, HubBridge, &function.Args{
		Namespace: a.Namespace, RoleLabel: a.RoleLabel, Role: a.role(HubBridge, function.RoleHub),
		Image: a.Images.HubBridge,
		Ports: []function.Port{{Name: "ingest", Port: 59880}, {Name: "admin", Port: 9102}},
		Env:   env,
		SecretMounts: []function.SecretMount{
			{Secret: mongo.URISecret, Path: "/var/run/secrets/smartx/mongodb"},
			{Secret: HubBridge + "-devices", Path: "/var/run/secrets/smartx/devices"},
		},
		Liveness:  &function.Probe{Path: "/healthz", Port: 9102},
		Readiness: &function.Probe{Path: "/readyz", Port: 9102, Period: 5},
		Ingress:   ingress,
		Egress:    egress,
		DependsOn: append([]pulumi.Resource{tokens, mongo, k}, deps...),
		Overrides: a.Components[HubBridge],
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	if edge != nil {
		return edge.CoreDataOutput, nil
	}
	return pulumi.Sprintf("http://%s", f.Endpoint), nil
}

// sender declares the sender (see functions/sender).
func (se *SmartEnergy) sender(ctx *pulumi.Context, a *Args, k *kafka.Kafka, influx *influxdb.InfluxDB, deps []pulumi.Resource) error {
	parent := pulumi.Parent(se)
	env := map[string]string{
		"SENDER_ADMIN_LISTEN":      ":9103",
		"SENDER_KAFKA_BROKERS":     k.Bootstrap,
		"SENDER_KAFKA_TOPIC":       ReadingsTopic,
		"SENDER_KAFKA_GROUP":       "smartx-sender",
		"SENDER_DEAD_LETTER_TOPIC": DeadLetterTopic,
		"SENDER_INFLUX_URL":        influx.URL,
		"SENDER_INFLUX_ORG":        influx.Org,
		"SENDER_INFLUX_BUCKET":     influx.Bucket,
		"SENDER_INFLUX_TOKEN_FILE": "/var/run/secrets/smartx/influxdb/token",
		"SENDER_LOG_LEVEL":         a.LogLevel,
	}
	if a.Location != "" {
		env["SENDER_LOCATION"] = a.Location
	}
	if a.WeatherProvider != "" {
		env["SENDER_WEATHER_PROVIDER"] = a.WeatherProvider
	}
	mounts := []function.SecretMount{{Secret: influx.TokenSecret, Path: "/var/run/secrets/smartx/influxdb"}}
	depends := append([]pulumi.Resource{k, influx}, deps...)
	if a.Secrets.OWMAPIKey != nil {
		s, err := function.NewSecret(ctx, Sender+"-weather", a.Namespace, map[string]pulumi.StringInput{"owm-api-key": a.Secrets.OWMAPIKey},
			parent, pulumi.DependsOn(deps))
		if err != nil {
			return err
		}
		depends = append(depends, s)
		env["SENDER_OWM_API_KEY_FILE"] = "/var/run/secrets/smartx/weather/owm-api-key"
		mounts = append(mounts, function.SecretMount{Secret: Sender + "-weather", Path: "/var/run/secrets/smartx/weather"})
	}
	_, err := function.New(ctx, Sender, &function.Args{
		Namespace: a.Namespace, RoleLabel: a.RoleLabel, Role: a.role(Sender, function.RoleTower),
		Image:        a.Images.Sender,
		Ports:        []function.Port{{Name: "admin", Port: 9103}},
		Env:          env,
		SecretMounts: mounts,
		Liveness:     &function.Probe{Path: "/healthz", Port: 9103},
		Readiness:    &function.Probe{Path: "/readyz", Port: 9103, Period: 5},
		Egress: []function.Peer{
			{App: Kafka, Ports: []int{kafka.Port}}, {App: InfluxDB, Ports: []int{influxdb.Port}},
			{Ports: []int{443}}, // the weather API, outside the cluster
		},
		DependsOn: depends,
		Overrides: a.Components[Sender],
	}, parent)
	return err
}
