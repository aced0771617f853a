// Package trainer is the Pulumi component of our trainer (the code is in
// functions/trainer; this package knows it only by image and settings): a CronJob
// that reads the sensors' history from InfluxDB once per schedule, fits the room's
// model and writes it as the next version into the model volume, which inference
// mounts to serve it.
package trainer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/influxdb"
	"github.com/smartx-team/overcloud/components/workload"
)

// TypeToken is the Pulumi type of a trainer.
const TypeToken = "smartx:components:Trainer"

// Defaults of Args.
const (
	// DefaultSchedule runs the trainer hourly, at seven past, off the hour's crowd.
	DefaultSchedule = "7 * * * *"
	// DefaultModelPath is where the model volume is mounted, the trainer's
	// TRAINER_MODEL_BASE and TF-Serving's habit.
	DefaultModelPath = "/models"
)

// DefaultResources fit a week of a few sectors (about 100 MB live for four) with room.
var DefaultResources = workload.Resources{CPURequest: "100m", MemoryRequest: "128Mi", CPULimit: "1", MemoryLimit: "512Mi"}

// influxDir is where the InfluxDB token Secret is mounted, as TRAINER_INFLUX_TOKEN_FILE names it.
const influxDir = "/var/run/secrets/smartx/influxdb"

// Args configures the trainer.
type Args struct {
	// Namespace of the objects (required; the caller creates it).
	Namespace string
	// ObjectName names the Kubernetes objects (optional, default the component's
	// name); see workload.Args.ObjectName.
	ObjectName string
	// Image of the trainer, by digest (required).
	Image string
	// Role is the node role the pods run on (optional, default workload.RoleTower).
	// With a node-local ReadWriteOnce claim it must be the role inference runs on.
	Role string
	// RoleLabel is the node label holding the role (optional, default
	// workload.DefaultRoleLabel).
	RoleLabel string
	// Schedule in cron syntax (optional, default DefaultSchedule: hourly).
	Schedule string

	// ModelClaim names the existing PersistentVolumeClaim of the models (required; see
	// workload.NewClaim), mounted read-write at ModelPath.
	ModelClaim string
	// ModelPath is where it is mounted (optional, default DefaultModelPath).
	ModelPath string
	// ModelName is the model's directory under ModelPath (optional, default the
	// trainer's, "service").
	ModelName string

	// InfluxURL, InfluxOrg and InfluxBucket locate the history (required).
	InfluxURL, InfluxOrg, InfluxBucket string
	// InfluxTokenSecret names the Secret holding the InfluxDB token under key "token"
	// (required); it is mounted as a file.
	InfluxTokenSecret string
	// InfluxApp is InfluxDB's app name, for the egress policy (optional, default
	// "influxdb"). InfluxDB must list this component's object name among its clients.
	InfluxApp string

	// Devices to learn from (optional, default every device with a temperature).
	Devices []string
	// Since is how much history each run reads (optional, default the trainer's,
	// 168h); MinSamples the fewest samples it writes a model from (optional, default
	// the trainer's, 200). Other settings go in Overrides.Env as TRAINER_*.
	Since      string
	MinSamples int
	// LogLevel of the trainer (optional, default "info").
	LogLevel string

	// DependsOn are resources every child waits for (the Namespace).
	DependsOn []pulumi.Resource
	// Backends are what the trainer needs (InfluxDB, the model claim): its CronJob
	// waits for them as well (optional).
	Backends []pulumi.Resource
	// Overrides are the user's settings of the trainer (optional; Resources default to
	// DefaultResources).
	Overrides workload.Overrides
}

// Trainer is a deployed trainer.
type Trainer struct {
	pulumi.ResourceState

	// Name of the Kubernetes objects and the pods' app name.
	Name string
	// Schedule it runs on.
	Schedule pulumi.StringOutput `pulumi:"schedule"`
}

// validate names the first missing or bad key.
func (a *Args) validate() error {
	for _, f := range []struct{ key, value string }{
		{"Namespace", a.Namespace}, {"Image", a.Image}, {"ModelClaim", a.ModelClaim},
		{"InfluxURL", a.InfluxURL}, {"InfluxOrg", a.InfluxOrg}, {"InfluxBucket", a.InfluxBucket},
		{"InfluxTokenSecret", a.InfluxTokenSecret},
	} {
		if f.value == "" {
			return fmt.Errorf("%s is required", f.key)
		}
	}
	for _, d := range a.Devices {
		if d == "" || strings.Contains(d, ",") {
			return fmt.Errorf("bad Devices entry %q: want a name without a comma", d)
		}
	}
	if a.MinSamples < 0 {
		return fmt.Errorf("bad MinSamples %d: must not be negative", a.MinSamples)
	}
	return nil
}

// New declares the trainer name: its children are named from name. Pass the Kubernetes
// provider in opts.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Trainer, error) {
	if args == nil {
		return nil, fmt.Errorf("trainer %s: nil args", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("trainer %s: %w", name, err)
	}
	t := &Trainer{Name: workload.Or(a.ObjectName, name)}
	if err := ctx.RegisterComponentResource(TypeToken, name, t, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	schedule := workload.Or(a.Schedule, DefaultSchedule)
	modelPath := workload.Or(a.ModelPath, DefaultModelPath)
	env := map[string]string{
		"TRAINER_INFLUX_URL":        a.InfluxURL,
		"TRAINER_INFLUX_ORG":        a.InfluxOrg,
		"TRAINER_INFLUX_BUCKET":     a.InfluxBucket,
		"TRAINER_INFLUX_TOKEN_FILE": influxDir + "/token",
		"TRAINER_MODEL_BASE":        modelPath,
		"TRAINER_LOG_LEVEL":         workload.Or(a.LogLevel, "info"),
	}
	if a.ModelName != "" {
		env["TRAINER_MODEL_NAME"] = a.ModelName
	}
	if len(a.Devices) > 0 {
		env["TRAINER_DEVICES"] = strings.Join(a.Devices, ",")
	}
	if a.Since != "" {
		env["TRAINER_SINCE"] = a.Since
	}
	if a.MinSamples > 0 {
		env["TRAINER_MIN_SAMPLES"] = strconv.Itoa(a.MinSamples)
	}
	over := a.Overrides
	if over.Resources == nil {
		r := DefaultResources
		over.Resources = &r
	}
	if _, err := workload.New(ctx, name, &workload.Args{
		Namespace: a.Namespace, ObjectName: t.Name,
		RoleLabel: a.RoleLabel, Role: workload.Or(a.Role, workload.RoleTower),
		Image:        a.Image,
		Schedule:     schedule,
		Env:          env,
		SecretMounts: []workload.SecretMount{{Secret: a.InfluxTokenSecret, Path: influxDir}},
		Claims:       []workload.ClaimMount{{Claim: a.ModelClaim, Path: modelPath}},
		Egress:       []workload.Peer{{App: workload.Or(a.InfluxApp, "influxdb"), Ports: []int{influxdb.Port}}},
		DependsOn:    append(append([]pulumi.Resource(nil), a.Backends...), a.DependsOn...),
		Overrides:    over,
	}, pulumi.Parent(t)); err != nil {
		return nil, fmt.Errorf("trainer %s: %w", name, err)
	}
	t.Schedule = pulumi.String(schedule).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(t, pulumi.Map{"schedule": t.Schedule}); err != nil {
		return nil, fmt.Errorf("trainer %s outputs: %w", name, err)
	}
	return t, nil
}
