package trainer_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/trainer"
	"github.com/smartx-team/overcloud/components/workload"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

const (
	image     = "registry.local/trainer@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	influxURL = "http://influxdb.smartx.svc.cluster.local:8086"
)

func validArgs() *trainer.Args {
	return &trainer.Args{
		Namespace: "smartx", Image: image, ModelClaim: "models",
		InfluxURL: influxURL, InfluxOrg: "smartx", InfluxBucket: "Sensordata", InfluxTokenSecret: "influxdb-token",
	}
}

func declare(t *testing.T, name string, args *trainer.Args) ([]pulumitest.Resource, map[string]componenttest.Manifest) {
	t.Helper()
	return componenttest.Declare(t, func(ctx *pulumi.Context, provider pulumi.ResourceOption) error {
		_, err := trainer.New(ctx, name, args, provider)
		return err
	})
}

func TestSettings(t *testing.T) {
	base := map[string]any{
		"TRAINER_INFLUX_URL": influxURL, "TRAINER_INFLUX_ORG": "smartx", "TRAINER_INFLUX_BUCKET": "Sensordata",
		"TRAINER_INFLUX_TOKEN_FILE": "/var/run/secrets/smartx/influxdb/token", "TRAINER_MODEL_BASE": "/models",
		"TRAINER_LOG_LEVEL": "info",
	}
	for _, tc := range []struct {
		name      string
		mutate    func(*trainer.Args)
		env       map[string]any
		schedule  string
		modelPath string
		memory    string
	}{
		{"defaults", func(*trainer.Args) {}, base, trainer.DefaultSchedule, "/models", "512Mi"},
		{
			"set", func(a *trainer.Args) {
				a.Schedule, a.ModelPath, a.ModelName = "30 */6 * * *", "/var/lib/models", "room"
				a.Devices, a.Since, a.MinSamples, a.LogLevel = []string{"pi-1", "pi-2"}, "336h", 500, "debug"
				a.Overrides = workload.Overrides{
					Env:       map[string]string{"TRAINER_HORIZON": "15"},
					Resources: &workload.Resources{MemoryLimit: "1Gi"},
				}
			},
			map[string]any{
				"TRAINER_INFLUX_URL": influxURL, "TRAINER_INFLUX_ORG": "smartx", "TRAINER_INFLUX_BUCKET": "Sensordata",
				"TRAINER_INFLUX_TOKEN_FILE": "/var/run/secrets/smartx/influxdb/token", "TRAINER_MODEL_BASE": "/var/lib/models",
				"TRAINER_LOG_LEVEL": "debug", "TRAINER_MODEL_NAME": "room", "TRAINER_DEVICES": "pi-1,pi-2",
				"TRAINER_SINCE": "336h", "TRAINER_MIN_SAMPLES": "500", "TRAINER_HORIZON": "15",
			},
			"30 */6 * * *", "/var/lib/models", "1Gi",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs()
			tc.mutate(args)
			_, m := declare(t, "trainer", args)
			if got := componenttest.Field(m["ConfigMap/trainer-env"].Object, "data"); !reflect.DeepEqual(got, tc.env) {
				t.Errorf("env\n got %v\nwant %v", got, tc.env)
			}
			cj, ok := m["CronJob/trainer"]
			if !ok {
				t.Fatalf("no CronJob/trainer among %v", keys(m))
			}
			for _, k := range []string{"Deployment/trainer", "Service/trainer", "StatefulSet/trainer"} {
				if _, ok := m[k]; ok {
					t.Errorf("the trainer has a %s", k)
				}
			}
			if got := componenttest.Field(cj.Object, "spec", "schedule"); got != tc.schedule {
				t.Errorf("schedule %v, want %s", got, tc.schedule)
			}
			pod := componenttest.Field(cj.Object, "spec", "jobTemplate", "spec", "template", "spec")
			c := componenttest.Field(pod, "containers", 0)
			if got := componenttest.Field(c, "image"); got != image {
				t.Errorf("image %v", got)
			}
			if got := componenttest.Field(c, "resources", "limits", "memory"); got != tc.memory {
				t.Errorf("memory limit %v, want %s", got, tc.memory)
			}
			// The model claim is mounted read-write at the model base; the token Secret
			// read-only where the _FILE setting points.
			mounts := map[string]any{}
			for _, vm := range componenttest.Field(c, "volumeMounts").([]any) {
				mounts[componenttest.Field(vm, "name").(string)] = vm
			}
			vols := map[string]any{}
			for _, v := range componenttest.Field(pod, "volumes").([]any) {
				vols[componenttest.Field(v, "name").(string)] = v
			}
			claim, secret := findVolume(vols, "persistentVolumeClaim"), findVolume(vols, "secret")
			if claim == "" || componenttest.Field(vols[claim], "persistentVolumeClaim", "claimName") != "models" ||
				componenttest.Field(vols[claim], "persistentVolumeClaim", "readOnly") == true {
				t.Errorf("model volume %v", vols[claim])
			}
			if got := componenttest.Field(mounts[claim], "mountPath"); got != tc.modelPath || componenttest.Field(mounts[claim], "readOnly") == true {
				t.Errorf("model mount %v, want read-write at %s", mounts[claim], tc.modelPath)
			}
			if secret == "" || componenttest.Field(vols[secret], "secret", "secretName") != "influxdb-token" ||
				componenttest.Field(mounts[secret], "mountPath") != "/var/run/secrets/smartx/influxdb" || componenttest.Field(mounts[secret], "readOnly") != true {
				t.Errorf("token volume %v mounted %v", vols[secret], mounts[secret])
			}
			np := m["NetworkPolicy/trainer"]
			if got := componenttest.PolicyRules(np, "ingress", "from"); got != nil {
				t.Errorf("ingress %v, want none", got)
			}
			if got, want := componenttest.PolicyRules(np, "egress", "to"), []string{"*:TCP 53,UDP 53", "influxdb:TCP 8086"}; !reflect.DeepEqual(got, want) {
				t.Errorf("egress %v, want %v (InfluxDB only)", got, want)
			}
			if got := componenttest.Field(pod, "nodeSelector", "smartx.io/role"); got != "tower" {
				t.Errorf("placed on role %v, want tower", got)
			}
		})
	}
}

// The token never reaches the trainer's objects: only the Secret's name does.
func TestNoTokenInEnv(t *testing.T) {
	_, m := declare(t, "trainer", validArgs())
	for k, v := range componenttest.Field(m["ConfigMap/trainer-env"].Object, "data").(map[string]any) {
		if strings.HasSuffix(k, "_TOKEN") {
			t.Errorf("%s=%v set inline", k, v)
		}
	}
}

func findVolume(vols map[string]any, kind string) string {
	for name, v := range vols {
		if componenttest.Field(v, kind) != nil {
			return name
		}
	}
	return ""
}

func keys(m map[string]componenttest.Manifest) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Every child is parented to the component and named from its name; the
// Kubernetes objects keep ObjectName.
func TestChildrenNamedFromName(t *testing.T) {
	args := validArgs()
	args.ObjectName = "trainer"
	rs, m := declare(t, "room-trainer", args)
	componenttest.Children(t, rs, trainer.TypeToken, "room-trainer")
	for _, want := range []string{"CronJob/trainer", "ConfigMap/trainer-env", "NetworkPolicy/trainer", "ServiceAccount/trainer"} {
		if _, ok := m[want]; !ok {
			t.Errorf("no %s among %v", want, keys(m))
		}
	}
}

func TestInvalidArgsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*trainer.Args)
		want   string
	}{
		{"no namespace", func(a *trainer.Args) { a.Namespace = "" }, "Namespace is required"},
		{"no image", func(a *trainer.Args) { a.Image = "" }, "Image is required"},
		{"no claim", func(a *trainer.Args) { a.ModelClaim = "" }, "ModelClaim is required"},
		{"no influxdb", func(a *trainer.Args) { a.InfluxURL = "" }, "InfluxURL is required"},
		{"no org", func(a *trainer.Args) { a.InfluxOrg = "" }, "InfluxOrg is required"},
		{"no bucket", func(a *trainer.Args) { a.InfluxBucket = "" }, "InfluxBucket is required"},
		{"no token", func(a *trainer.Args) { a.InfluxTokenSecret = "" }, "InfluxTokenSecret is required"},
		{"device with a comma", func(a *trainer.Args) { a.Devices = []string{"pi-1,pi-2"} }, "Devices"},
		{"negative samples", func(a *trainer.Args) { a.MinSamples = -1 }, "MinSamples"},
		{"bad schedule", func(a *trainer.Args) { a.Schedule = "hourly" }, "Schedule"},
		{"bad model path", func(a *trainer.Args) { a.ModelPath = "models" }, "Claims"},
		{"nothing", func(a *trainer.Args) { *a = trainer.Args{} }, "Namespace is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs()
			tc.mutate(args)
			_, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
				_, err := trainer.New(ctx, "trainer", args)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}
