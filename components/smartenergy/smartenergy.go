// Package smartenergy is the composite Pulumi component of the Smart Energy service:
// the namespace, the platform (Kafka, MongoDB, InfluxDB, Grafana and, in EdgeX mode,
// EdgeX Foundry) and our functions (hub bridge, sender), wired by Service names and
// placed on the original deployment's node roles: hub for EdgeX, MongoDB and the hub
// bridge; storage for InfluxDB; tower for Kafka, Grafana and the sender. It only wires
// the components together; each declares its own objects.
//
// The Pulumi children are named from the instance's name, so several instances fit in
// one stack (in different namespaces); the Kubernetes objects keep the names below
// inside their namespace, since the functions find each other by those DNS names.
package smartenergy

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/edgex"
	"github.com/smartx-team/overcloud/components/grafana"
	"github.com/smartx-team/overcloud/components/hubbridge"
	"github.com/smartx-team/overcloud/components/influxdb"
	"github.com/smartx-team/overcloud/components/kafka"
	"github.com/smartx-team/overcloud/components/mongodb"
	"github.com/smartx-team/overcloud/components/sender"
	"github.com/smartx-team/overcloud/components/workload"
)

// TypeToken is the Pulumi type of the service.
const TypeToken = "smartx:components:SmartEnergy"

// Hub modes.
const (
	// HubStandalone: the hub bridge accepts EdgeX v3 event requests itself.
	HubStandalone = hubbridge.ModeStandalone
	// HubEdgeX: EdgeX core-data accepts them and the bridge subscribes to its bus.
	HubEdgeX = hubbridge.ModeEdgeX
)

// Names of the functions' Kubernetes objects (and the suffixes of their Pulumi
// names); Args.Components and Args.Roles are keyed by them (EdgeX's services by
// "edgex-core-data" and so on).
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
// are required (PostgresPassword in EdgeX mode only); nil is unset.
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
	// RoleLabel is the node label holding the role (default workload.DefaultRoleLabel).
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
	Components map[string]workload.Overrides
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

// ArgError is the error of a bad Args field. Its message begins with Field (for example
// "Images.Sender" or "Secrets.PostgresPassword"), and Field lets a caller name where
// the value came from (the stack program names its config key).
type ArgError struct {
	// Field is the bad field, as Args spells it (nested fields joined by a dot).
	Field string
	msg   string
}

func (e *ArgError) Error() string { return e.msg }

// argError returns an *ArgError of field, its message made from format (which should
// name field).
func argError(field, format string, v ...any) error {
	return &ArgError{Field: field, msg: fmt.Sprintf(format, v...)}
}

// validate returns an *ArgError naming the first bad field.
func (a *Args) validate() error {
	switch {
	case a.HubMode != HubStandalone && a.HubMode != HubEdgeX:
		return argError("HubMode", "HubMode %q: want %q or %q", a.HubMode, HubStandalone, HubEdgeX)
	case a.KafkaBrokers != 1 && a.KafkaBrokers != 3:
		return argError("KafkaBrokers", "KafkaBrokers %d: want 1 or 3", a.KafkaBrokers)
	}
	// Keys in sorted order, so that the error names the same key on every run.
	images := map[string]string{"Images.HubBridge": a.Images.HubBridge, "Images.Sender": a.Images.Sender}
	for _, n := range slices.Sorted(maps.Keys(images)) {
		img := images[n]
		if img == "" {
			return argError(n, "%s is required", n)
		}
		if !a.AllowTags && !strings.Contains(img, "@sha256:") {
			return argError(n, "%s %q: want a reference by digest (name@sha256:...)", n, img)
		}
	}
	s := a.Secrets
	secrets := map[string]pulumi.StringInput{
		"Secrets.InfluxPassword": s.InfluxPassword, "Secrets.InfluxToken": s.InfluxToken,
		"Secrets.MongoPassword": s.MongoPassword, "Secrets.GrafanaPassword": s.GrafanaPassword,
		"Secrets.DeviceTokens": s.DeviceTokens,
	}
	for _, n := range slices.Sorted(maps.Keys(secrets)) {
		if secrets[n] == nil {
			return argError(n, "%s is required", n)
		}
	}
	if a.HubMode == HubEdgeX && s.PostgresPassword == nil {
		return argError("Secrets.PostgresPassword", "Secrets.PostgresPassword is required in EdgeX mode")
	}
	return nil
}

func (a *Args) defaults() {
	a.Namespace = workload.Or(a.Namespace, "smartx")
	a.HubMode = workload.Or(a.HubMode, HubStandalone)
	if a.KafkaBrokers == 0 {
		a.KafkaBrokers = 1
	}
	a.LogLevel = workload.Or(a.LogLevel, "info")
}

func (a *Args) role(name, def string) string { return workload.Or(a.Roles[name], def) }

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
	if err := se.declare(ctx, name, &a); err != nil {
		return nil, fmt.Errorf("smartenergy %s: %w", name, err)
	}
	if err := ctx.RegisterResourceOutputs(se, pulumi.Map{
		"hubEndpoint": se.HubEndpoint, "dashboardUrl": se.DashboardURL,
		"kafkaBootstrap": se.KafkaBootstrap, "influxUrl": se.InfluxURL,
	}); err != nil {
		return nil, fmt.Errorf("smartenergy %s outputs: %w", name, err)
	}
	return se, nil
}

// declare wires the components of the instance name. Each child's Pulumi name is
// name-<object name>, so that two instances never share a URN.
func (se *SmartEnergy) declare(ctx *pulumi.Context, name string, a *Args) error {
	ns, err := se.namespace(ctx, name, a)
	if err != nil {
		return err
	}
	deps := []pulumi.Resource{ns}
	p, err := se.platform(ctx, name, a, deps)
	if err != nil {
		return err
	}
	hub, err := se.functions(ctx, name, a, p, deps)
	if err != nil {
		return err
	}
	// Devices send events to the bridge itself, or to EdgeX core-data in EdgeX mode.
	se.HubEndpoint = pulumi.Sprintf("http://%s", hub.Endpoint)
	if p.edgex != nil {
		se.HubEndpoint = p.edgex.CoreDataOutput
	}
	se.DashboardURL = p.grafana.URLOutput
	se.KafkaBootstrap = p.kafka.BootstrapOutput
	se.InfluxURL = p.influxdb.URLOutput
	return nil
}

// namespace declares the namespace and its default-deny policy.
func (se *SmartEnergy) namespace(ctx *pulumi.Context, name string, a *Args) (*corev1.Namespace, error) {
	ns, err := corev1.NewNamespace(ctx, name+"-namespace", &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String(a.Namespace),
			Labels: pulumi.StringMap{
				workload.LabelPartOf: pulumi.String("smartx"),
				// Pods must meet the restricted Pod Security Standard.
				"pod-security.kubernetes.io/enforce": pulumi.String("restricted"),
			},
		},
	}, pulumi.Parent(se))
	if err != nil {
		return nil, fmt.Errorf("namespace: %w", err)
	}
	// Whatever has no policy of its own gets no traffic at all.
	if _, err := networkingv1.NewNetworkPolicy(ctx, name+"-default-deny", &networkingv1.NetworkPolicyArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("default-deny"), Namespace: pulumi.String(a.Namespace)},
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
		},
	}, pulumi.Parent(se), pulumi.DependsOn([]pulumi.Resource{ns})); err != nil {
		return nil, fmt.Errorf("default deny: %w", err)
	}
	return ns, nil
}

// platform is what our functions connect to; edgex is nil outside EdgeX mode.
type platform struct {
	kafka    *kafka.Kafka
	mongodb  *mongodb.MongoDB
	influxdb *influxdb.InfluxDB
	grafana  *grafana.Grafana
	edgex    *edgex.EdgeX
}

// platform declares the platform services; every child waits for deps.
func (se *SmartEnergy) platform(ctx *pulumi.Context, name string, a *Args, deps []pulumi.Resource) (*platform, error) {
	parent := pulumi.Parent(se)
	base := func(n, role string) workload.Base {
		return workload.Base{
			Namespace: a.Namespace, ObjectName: n, RoleLabel: a.RoleLabel, Role: a.role(n, role),
			Image: a.Components[n].Image, DependsOn: deps,
		}
	}
	over := func(n string) workload.Overrides { o := a.Components[n]; o.Image = ""; return o }
	var p platform
	var err error
	if p.kafka, err = kafka.New(ctx, name+"-"+Kafka, &kafka.Args{
		Base:    base(Kafka, workload.RoleTower),
		Brokers: a.KafkaBrokers,
		Topics:  []kafka.Topic{{Name: ReadingsTopic, Partitions: 6}, {Name: DeadLetterTopic, Partitions: 1}},
		Clients: []string{HubBridge, Sender}, Overrides: over(Kafka),
	}, parent); err != nil {
		return nil, err
	}
	if p.mongodb, err = mongodb.New(ctx, name+"-"+MongoDB, &mongodb.Args{
		Base: base(MongoDB, workload.RoleHub), Password: a.Secrets.MongoPassword,
		Clients: []string{HubBridge}, URISecret: HubBridge + "-mongo", Overrides: over(MongoDB),
	}, parent); err != nil {
		return nil, err
	}
	if p.influxdb, err = influxdb.New(ctx, name+"-"+InfluxDB, &influxdb.Args{
		Base: base(InfluxDB, workload.RoleStorage),
		Org:  a.InfluxOrg, Bucket: a.InfluxBucket, Retention: a.InfluxRetention,
		Password: a.Secrets.InfluxPassword, Token: a.Secrets.InfluxToken,
		Clients: []string{Sender, Grafana}, Overrides: over(InfluxDB),
	}, parent); err != nil {
		return nil, err
	}
	influx := p.influxdb
	if p.grafana, err = grafana.New(ctx, name+"-"+Grafana, &grafana.Args{
		Base:      base(Grafana, workload.RoleTower),
		InfluxURL: influx.URL, InfluxOrg: influx.Org, InfluxBucket: influx.Bucket,
		InfluxTokenSecret: influx.TokenSecret, InfluxApp: InfluxDB,
		AdminPassword: a.Secrets.GrafanaPassword, Overrides: over(Grafana),
	}, parent); err != nil {
		return nil, err
	}
	if a.HubMode == HubEdgeX {
		edgeOver := map[string]workload.Overrides{}
		for n, o := range a.Components {
			if strings.HasPrefix(n, EdgeX+"-") {
				edgeOver[n] = o
			}
		}
		if p.edgex, err = edgex.New(ctx, name+"-"+EdgeX, &edgex.Args{
			Base: base(EdgeX, workload.RoleHub), PostgresPassword: a.Secrets.PostgresPassword,
			BusClients: []string{HubBridge}, Overrides: edgeOver,
		}, parent); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

// functions declares our functions on the platform p and returns the hub bridge.
func (se *SmartEnergy) functions(ctx *pulumi.Context, name string, a *Args, p *platform, deps []pulumi.Resource) (*hubbridge.HubBridge, error) {
	hubArgs := &hubbridge.Args{
		Namespace: a.Namespace, ObjectName: HubBridge, Image: a.Images.HubBridge,
		RoleLabel: a.RoleLabel, Role: a.role(HubBridge, workload.RoleHub), Mode: a.HubMode,
		KafkaBootstrap: p.kafka.Bootstrap, KafkaApp: Kafka, Topic: ReadingsTopic,
		MongoURISecret: p.mongodb.URISecret, MongoApp: MongoDB,
		DeviceTokens: a.Secrets.DeviceTokens, LogLevel: a.LogLevel,
		DependsOn: deps, Backends: []pulumi.Resource{p.mongodb, p.kafka}, Overrides: a.Components[HubBridge],
	}
	if p.edgex != nil {
		hubArgs.MQTTURL, hubArgs.MQTTApp = p.edgex.MQTTURL, EdgeX+"-mqtt"
	}
	hub, err := hubbridge.New(ctx, name+"-"+HubBridge, hubArgs, pulumi.Parent(se))
	if err != nil {
		return nil, err
	}
	influx := p.influxdb
	if _, err := sender.New(ctx, name+"-"+Sender, &sender.Args{
		Namespace: a.Namespace, ObjectName: Sender, Image: a.Images.Sender,
		RoleLabel: a.RoleLabel, Role: a.role(Sender, workload.RoleTower),
		KafkaBootstrap: p.kafka.Bootstrap, KafkaApp: Kafka, Topic: ReadingsTopic, DeadLetterTopic: DeadLetterTopic,
		InfluxURL: influx.URL, InfluxOrg: influx.Org, InfluxBucket: influx.Bucket,
		InfluxTokenSecret: influx.TokenSecret, InfluxApp: InfluxDB,
		Location: a.Location, WeatherProvider: a.WeatherProvider, OWMAPIKey: a.Secrets.OWMAPIKey,
		LogLevel:  a.LogLevel,
		DependsOn: deps, Backends: []pulumi.Resource{p.kafka, influx}, Overrides: a.Components[Sender],
	}, pulumi.Parent(se)); err != nil {
		return nil, err
	}
	return hub, nil
}
