// Package smartenergy is the composite Pulumi component of the Smart Energy service:
// the namespace, the platform (Kafka, MongoDB, InfluxDB, Grafana and, in EdgeX mode,
// EdgeX Foundry) and our functions (hub bridge, sender, trainer, inference,
// controller and, with users, the operators' dashboard), wired by Service names and
// placed on the original deployment's node roles: hub for EdgeX, MongoDB and the hub
// bridge; storage for InfluxDB; tower for Kafka, Grafana, the sender, the trainer,
// inference, the controller and the dashboard. It wires the components together; each
// declares its own objects. It declares only what belongs to none of them: the
// namespace, its default-deny NetworkPolicy and the model claim the trainer and
// inference share.
//
// The trainer writes the models into one PersistentVolumeClaim (ModelClaim) and
// inference reads them from it. The claim is ReadWriteOnce, which on node-local
// storage (k3s's local-path, the OverCloud's) binds a volume on one node: every pod
// that mounts it must run on that node, and the volume's node affinity puts it there.
// So both default to the tower role, and Args.Roles must keep them on one role (New
// refuses otherwise; a nodeSelector in Args.Components must keep them together too):
// a node that does not carry the volume would leave the pods unschedulable.
//
// The Pulumi children are named from the instance's name, so several instances fit in
// one stack (in different namespaces); the Kubernetes objects keep the names below
// inside their namespace, since the functions find each other by those DNS names.
package smartenergy

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/controller"
	"github.com/smartx-team/overcloud/components/dashboard"
	"github.com/smartx-team/overcloud/components/edgex"
	"github.com/smartx-team/overcloud/components/grafana"
	"github.com/smartx-team/overcloud/components/hubbridge"
	"github.com/smartx-team/overcloud/components/inference"
	"github.com/smartx-team/overcloud/components/influxdb"
	"github.com/smartx-team/overcloud/components/kafka"
	"github.com/smartx-team/overcloud/components/mongodb"
	"github.com/smartx-team/overcloud/components/sender"
	"github.com/smartx-team/overcloud/components/trainer"
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
	HubBridge  = "hubbridge"
	Sender     = "sender"
	Trainer    = "trainer"
	Inference  = "inference"
	Controller = "controller"
	Kafka      = "kafka"
	MongoDB    = "mongodb"
	InfluxDB   = "influxdb"
	Grafana    = "grafana"
	EdgeX      = "edgex"
)

// Dashboard is the app name of the operators' dashboard, the client the controller's
// API admits.
const Dashboard = "dashboard"

// ModelClaim names the PersistentVolumeClaim of the models: the trainer writes them,
// inference serves them (see the package comment for why both share a role).
const ModelClaim = "models"

// ModelName is the model the trainer writes and the controller asks inference about.
const ModelName = "service"

// Topics of the data path.
const (
	ReadingsTopic   = "readings"
	DeadLetterTopic = "readings.dead"
)

// Images are our functions' images, by digest (all required; Dashboard only when the
// dashboard is deployed, see Secrets.DashboardUsers).
type Images struct {
	HubBridge, Sender, Inference, Trainer, Controller, Dashboard string
}

// Secrets are the secret settings; each must be a Pulumi secret. All but OWMAPIKey,
// ControllerAPIToken and CommandToken are required (PostgresPassword in EdgeX mode
// only); nil is unset.
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
	// ControllerAPIToken is the bearer token the controller's POST and DELETE need
	// (optional: without it any client its policy admits may set overrides).
	ControllerAPIToken pulumi.StringInput
	// CommandToken is the bearer token the controller sends with every set-point
	// (optional): the Pis' command token, which the hub bridge passes on to them.
	CommandToken pulumi.StringInput
	// DashboardUsers is the operators' dashboard's users file, one name:bcrypt-hash
	// line per operator (optional: without it the dashboard is not deployed, since no
	// one could log in).
	DashboardUsers pulumi.StringInput
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
	// AirConditioners are the EdgeX device names of the Pis that drive an air
	// conditioner, one per air conditioner, the controller's CONTROLLER_DEVICES
	// (required, at least one, unless NoController: the controller does not start
	// without one).
	AirConditioners []string
	// NoController leaves the controller out (default false: it is deployed and applies
	// set-points). The trainer and inference are deployed either way.
	NoController bool
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
	// DashboardURL is the operators' dashboard inside the cluster ("" when it is not
	// deployed).
	DashboardURL pulumi.StringOutput `pulumi:"dashboardUrl"`
	// GrafanaURL is Grafana's Smart Energy dashboard.
	GrafanaURL pulumi.StringOutput `pulumi:"grafanaUrl"`
	// KafkaBootstrap and InfluxURL locate the bus and the store.
	KafkaBootstrap pulumi.StringOutput `pulumi:"kafkaBootstrap"`
	InfluxURL      pulumi.StringOutput `pulumi:"influxUrl"`
	// ControllerURL is the controller's API inside the cluster ("" with NoController).
	ControllerURL pulumi.StringOutput `pulumi:"controllerUrl"`
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
	images := map[string]string{
		"Images.HubBridge": a.Images.HubBridge, "Images.Sender": a.Images.Sender,
		"Images.Inference": a.Images.Inference, "Images.Trainer": a.Images.Trainer, "Images.Controller": a.Images.Controller,
	}
	if a.Secrets.DashboardUsers != nil {
		images["Images.Dashboard"] = a.Images.Dashboard
	}
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
	if !a.NoController && len(a.AirConditioners) == 0 {
		return argError("AirConditioners", "AirConditioners: the controller needs at least one EdgeX device name, one per air conditioner (or NoController)")
	}
	// Also checked, with the same rule, by the controller; here so that the error is
	// an *ArgError of the field.
	seen := map[string]bool{}
	for _, d := range a.AirConditioners {
		if !deviceName.MatchString(d) || d == "." || d == ".." {
			return argError("AirConditioners", "AirConditioners: %q: want 1 to 128 letters, digits or any of -_~:;=. (an EdgeX device name)", d)
		}
		if seen[d] {
			return argError("AirConditioners", "AirConditioners: %q is named twice", d)
		}
		seen[d] = true
	}
	if t, i := a.role(Trainer, workload.RoleTower), a.role(Inference, workload.RoleTower); t != i {
		return argError("Roles", "Roles: trainer on %s, inference on %s: they share the model claim (ReadWriteOnce, one node), keep them on one role", t, i)
	}
	return nil
}

// deviceName is EdgeX's rule for a device name.
var deviceName = regexp.MustCompile(`^[a-zA-Z0-9\-_~:;=.]{1,128}$`)

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
		"hubEndpoint": se.HubEndpoint, "dashboardUrl": se.DashboardURL, "grafanaUrl": se.GrafanaURL,
		"kafkaBootstrap": se.KafkaBootstrap, "influxUrl": se.InfluxURL,
		"controllerUrl": se.ControllerURL,
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
	ctl, err := se.control(ctx, name, a, p, hub, deps)
	if err != nil {
		return err
	}
	if err := se.dashboard(ctx, name, a, p, ctl, deps); err != nil {
		return err
	}
	// Devices send events to the bridge itself, or to EdgeX core-data in EdgeX mode.
	se.HubEndpoint = pulumi.Sprintf("http://%s", hub.Endpoint)
	if p.edgex != nil {
		se.HubEndpoint = p.edgex.CoreDataOutput
	}
	se.GrafanaURL = p.grafana.URLOutput
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
	// The controller's peers admit it only where it is deployed.
	mongoClients, influxClients := []string{HubBridge}, []string{Sender, Grafana, Trainer}
	if !a.NoController {
		mongoClients, influxClients = append(mongoClients, Controller), append(influxClients, Controller)
	}
	if a.Secrets.DashboardUsers != nil {
		influxClients = append(influxClients, Dashboard)
	}
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
		Clients: mongoClients, URISecret: HubBridge + "-mongo", Overrides: over(MongoDB),
	}, parent); err != nil {
		return nil, err
	}
	if p.influxdb, err = influxdb.New(ctx, name+"-"+InfluxDB, &influxdb.Args{
		Base: base(InfluxDB, workload.RoleStorage),
		Org:  a.InfluxOrg, Bucket: a.InfluxBucket, Retention: a.InfluxRetention,
		Password: a.Secrets.InfluxPassword, Token: a.Secrets.InfluxToken,
		Clients: influxClients, Overrides: over(InfluxDB),
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
		DeviceTokens: a.Secrets.DeviceTokens, LogLevel: a.LogLevel, MetricsClients: a.metricsClients(),
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
		LogLevel: a.LogLevel, MetricsClients: a.metricsClients(),
		DependsOn: deps, Backends: []pulumi.Resource{p.kafka, influx}, Overrides: a.Components[Sender],
	}, pulumi.Parent(se)); err != nil {
		return nil, err
	}
	return hub, nil
}

// control declares the learning and the closed loop on platform p: the model claim,
// the trainer (writes it) and inference (serves it) on one role, and, unless
// NoController, the controller, which sends set-points to EdgeX core-command in EdgeX
// mode and to the hub bridge, which serves the same API, in standalone mode.
func (se *SmartEnergy) control(ctx *pulumi.Context, name string, a *Args, p *platform, hub *hubbridge.HubBridge, deps []pulumi.Resource) (*controller.Controller, error) {
	parent := pulumi.Parent(se)
	claim, err := workload.NewClaim(ctx, name+"-"+ModelClaim, &workload.ClaimArgs{
		Name: ModelClaim, Namespace: a.Namespace, DependsOn: deps,
	}, parent)
	if err != nil {
		return nil, err
	}
	influx := p.influxdb
	if _, err := trainer.New(ctx, name+"-"+Trainer, &trainer.Args{
		Namespace: a.Namespace, ObjectName: Trainer, Image: a.Images.Trainer,
		RoleLabel: a.RoleLabel, Role: a.role(Trainer, workload.RoleTower),
		ModelClaim: ModelClaim, ModelName: ModelName,
		InfluxURL: influx.URL, InfluxOrg: influx.Org, InfluxBucket: influx.Bucket,
		InfluxTokenSecret: influx.TokenSecret, InfluxApp: InfluxDB,
		LogLevel:  a.LogLevel,
		DependsOn: deps, Backends: []pulumi.Resource{influx, claim}, Overrides: a.Components[Trainer],
	}, parent); err != nil {
		return nil, err
	}
	inf, err := inference.New(ctx, name+"-"+Inference, &inference.Args{
		Namespace: a.Namespace, ObjectName: Inference, Image: a.Images.Inference,
		RoleLabel: a.RoleLabel, Role: a.role(Inference, workload.RoleTower),
		ModelClaim: ModelClaim, Clients: []string{Controller}, LogLevel: a.LogLevel,
		DependsOn: deps, Backends: []pulumi.Resource{claim}, Overrides: a.Components[Inference],
	}, parent)
	if err != nil {
		return nil, err
	}
	se.ControllerURL = pulumi.String("").ToStringOutput()
	if a.NoController {
		return nil, nil
	}
	// Set-points go to core-command in EdgeX mode, else to the hub bridge's ingest
	// port; both are open to any client (devices post to them from outside), so
	// neither lists the controller.
	commandURL, commandApp := fmt.Sprintf("http://%s.%s.svc.cluster.local:%d", hub.Name, a.Namespace, hubbridge.IngestPort), hub.Name
	var target pulumi.Resource = hub
	if p.edgex != nil {
		commandApp = EdgeX + "-core-command"
		commandURL = fmt.Sprintf("http://%s.%s.svc.cluster.local:%d", commandApp, a.Namespace, edgex.CoreCommandPort)
		target = p.edgex
	}
	c, err := controller.New(ctx, name+"-"+Controller, &controller.Args{
		Namespace: a.Namespace, ObjectName: Controller, Image: a.Images.Controller,
		RoleLabel: a.RoleLabel, Role: a.role(Controller, workload.RoleTower),
		Devices:   a.AirConditioners,
		InfluxURL: influx.URL, InfluxOrg: influx.Org, InfluxBucket: influx.Bucket,
		InfluxTokenSecret: influx.TokenSecret, InfluxApp: InfluxDB,
		InferenceURL: inf.URL, InferenceApp: Inference, ModelName: ModelName,
		CommandURL: commandURL, CommandApp: commandApp,
		MongoURISecret: p.mongodb.URISecret, MongoApp: MongoDB,
		Clients:  []string{Dashboard},
		APIToken: a.Secrets.ControllerAPIToken, CommandToken: a.Secrets.CommandToken,
		LogLevel:  a.LogLevel,
		DependsOn: deps, Backends: []pulumi.Resource{influx, p.mongodb, inf, target}, Overrides: a.Components[Controller],
	}, parent)
	if err != nil {
		return nil, err
	}
	se.ControllerURL = pulumi.String(c.URL).ToStringOutput()
	return c, nil
}

// metricsClients are the apps that read the hub bridge's and the sender's /metrics:
// the dashboard, where it is deployed.
func (a *Args) metricsClients() []string {
	if a.Secrets.DashboardUsers == nil {
		return nil
	}
	return []string{Dashboard}
}

// dashboard declares the operators' dashboard, when it has users: it reads InfluxDB,
// the controller's API (ctl; nil with NoController, when the panel says the controller
// is not there) and the hub bridge's and the sender's /metrics.
func (se *SmartEnergy) dashboard(ctx *pulumi.Context, name string, a *Args, p *platform, ctl *controller.Controller, deps []pulumi.Resource) error {
	se.DashboardURL = pulumi.String("").ToStringOutput()
	if a.Secrets.DashboardUsers == nil {
		return nil
	}
	svc := func(app string, port int) string {
		return fmt.Sprintf("http://%s.%s.svc.cluster.local:%d", app, a.Namespace, port)
	}
	influx := p.influxdb
	backends := []pulumi.Resource{influx}
	ctlURL := svc(Controller, controller.Port)
	if ctl != nil {
		ctlURL = ctl.URL
		backends = append(backends, ctl)
	}
	d, err := dashboard.New(ctx, name+"-"+Dashboard, &dashboard.Args{
		Base: workload.Base{
			Namespace: a.Namespace, ObjectName: Dashboard, Image: a.Images.Dashboard,
			RoleLabel: a.RoleLabel, Role: a.role(Dashboard, workload.RoleTower), DependsOn: deps,
		},
		Users:     a.Secrets.DashboardUsers,
		InfluxURL: influx.URL, InfluxOrg: influx.Org, InfluxBucket: influx.Bucket,
		InfluxTokenSecret: influx.TokenSecret, InfluxApp: InfluxDB,
		ControllerURL: ctlURL, ControllerApp: Controller, ControllerToken: a.Secrets.ControllerAPIToken,
		HubMetricsURL: svc(HubBridge, hubbridge.AdminPort) + "/metrics", HubApp: HubBridge,
		SenderMetricsURL: svc(Sender, sender.AdminPort) + "/metrics", SenderApp: Sender,
		LogLevel: a.LogLevel, Backends: backends, Overrides: a.Components[Dashboard],
	}, pulumi.Parent(se))
	if err != nil {
		return err
	}
	se.DashboardURL = d.URLOutput
	return nil
}
