package controller_test

import (
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/controller"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

const (
	image        = "registry.local/controller@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	influxURL    = "http://influxdb.smartx.svc.cluster.local:8086"
	inferenceURL = "http://inference.smartx.svc.cluster.local:8501"
	hubURL       = "http://hubbridge.smartx.svc.cluster.local:59880"
	coreCommand  = "http://edgex-core-command.smartx.svc.cluster.local:59882"
	apiToken     = "api-token-6d6d"
	commandToken = "command-token-9a9a"
)

func validArgs() *controller.Args {
	return &controller.Args{
		Namespace: "smartx", Image: image, Devices: []string{"pi-1", "pi-2"},
		InfluxURL: influxURL, InfluxOrg: "smartx", InfluxBucket: "Sensordata", InfluxTokenSecret: "influxdb-token",
		InferenceURL: inferenceURL, CommandURL: hubURL, CommandApp: "hubbridge", MongoURISecret: "hubbridge-mongo",
	}
}

func secret(v string) pulumi.StringInput {
	return pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput)
}

// declare runs New(name) under mocks with a Kubernetes provider and returns what it
// registered, its manifests by kind/name, and the component.
func declare(t *testing.T, name string, args *controller.Args) ([]pulumitest.Resource, map[string]componenttest.Manifest, *controller.Controller) {
	t.Helper()
	var c *controller.Controller
	rs, m := componenttest.Declare(t, func(ctx *pulumi.Context, provider pulumi.ResourceOption) error {
		var err error
		c, err = controller.New(ctx, name, args, provider)
		return err
	})
	return rs, m, c
}

func TestSettings(t *testing.T) {
	base := map[string]any{
		"CONTROLLER_LISTEN": ":8080", "CONTROLLER_ADMIN_LISTEN": ":9106", "CONTROLLER_DEVICES": "pi-1,pi-2",
		"CONTROLLER_INFLUX_URL": influxURL, "CONTROLLER_INFLUX_ORG": "smartx", "CONTROLLER_INFLUX_BUCKET": "Sensordata",
		"CONTROLLER_INFLUX_TOKEN_FILE": "/var/run/secrets/smartx/influxdb/token",
		"CONTROLLER_INFERENCE_URL":     inferenceURL, "CONTROLLER_COMMAND_URL": hubURL,
		"CONTROLLER_MONGO_URI_FILE": "/var/run/secrets/smartx/mongodb/uri", "CONTROLLER_LOG_LEVEL": "info",
	}
	with := func(extra map[string]any) map[string]any {
		out := maps.Clone(base)
		maps.Copy(out, extra)
		return out
	}
	dns := "*:TCP 53,UDP 53"
	for _, tc := range []struct {
		name    string
		mutate  func(*controller.Args)
		env     map[string]any
		secrets []string // Secrets mounted, in volume order
		mounts  []string // their mount paths
		ingress []string
		egress  []string
	}{
		{
			"defaults, standalone hub", func(*controller.Args) {}, base,
			[]string{"influxdb-token", "hubbridge-mongo"},
			[]string{"/var/run/secrets/smartx/influxdb", "/var/run/secrets/smartx/mongodb"},
			[]string{"dashboard:TCP 8080"},
			[]string{dns, "influxdb:TCP 8086", "inference:TCP 8501", "mongodb:TCP 27017", "hubbridge:TCP 59880"},
		},
		{
			"edgex core-command, tokens", func(a *controller.Args) {
				a.CommandURL, a.CommandApp = coreCommand, "edgex-core-command"
				a.APIToken, a.CommandToken = secret(apiToken), secret(commandToken)
				a.ModelName, a.MongoDatabase, a.LogLevel = "room", "audit_db", "debug"
				a.Clients = []string{"dashboard", "ops"}
			},
			with(map[string]any{
				"CONTROLLER_COMMAND_URL": coreCommand, "CONTROLLER_MODEL_NAME": "room", "CONTROLLER_MONGO_DATABASE": "audit_db",
				"CONTROLLER_LOG_LEVEL":          "debug",
				"CONTROLLER_API_TOKEN_FILE":     "/var/run/secrets/smartx/controller/api-token",
				"CONTROLLER_COMMAND_TOKEN_FILE": "/var/run/secrets/smartx/controller/command-token",
			}),
			[]string{"influxdb-token", "hubbridge-mongo", "controller-tokens"},
			[]string{"/var/run/secrets/smartx/influxdb", "/var/run/secrets/smartx/mongodb", "/var/run/secrets/smartx/controller"},
			[]string{"dashboard:TCP 8080", "ops:TCP 8080"},
			[]string{dns, "influxdb:TCP 8086", "inference:TCP 8501", "mongodb:TCP 27017", "edgex-core-command:TCP 59882"},
		},
		{
			"api token only, https target, no clients", func(a *controller.Args) {
				a.CommandURL, a.CommandApp = "https://hub.example", "hub"
				a.APIToken = secret(apiToken)
				a.Clients = []string{}
			},
			with(map[string]any{
				"CONTROLLER_COMMAND_URL":    "https://hub.example",
				"CONTROLLER_API_TOKEN_FILE": "/var/run/secrets/smartx/controller/api-token",
			}),
			[]string{"influxdb-token", "hubbridge-mongo", "controller-tokens"},
			[]string{"/var/run/secrets/smartx/influxdb", "/var/run/secrets/smartx/mongodb", "/var/run/secrets/smartx/controller"},
			nil,
			[]string{dns, "influxdb:TCP 8086", "inference:TCP 8501", "mongodb:TCP 27017", "hub:TCP 443"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs()
			tc.mutate(args)
			_, m, c := declare(t, "controller", args)
			if got := componenttest.Field(m["ConfigMap/controller-env"].Object, "data"); !reflect.DeepEqual(got, tc.env) {
				t.Errorf("env\n got %v\nwant %v", got, tc.env)
			}
			if got := componenttest.Field(m["Deployment/controller"].Object, "spec", "strategy", "type"); got != "Recreate" {
				t.Errorf("update strategy %v, want Recreate: two controllers would both send set-points", got)
			}
			pod := componenttest.Field(m["Deployment/controller"].Object, "spec", "template", "spec")
			byVolume := map[string]string{}
			var secrets []string
			for _, v := range componenttest.Field(pod, "volumes").([]any) {
				if s := componenttest.Field(v, "secret", "secretName"); s != nil {
					secrets = append(secrets, fmt.Sprint(s))
					byVolume[fmt.Sprint(componenttest.Field(v, "name"))] = fmt.Sprint(s)
				}
			}
			if !reflect.DeepEqual(secrets, tc.secrets) {
				t.Errorf("secret volumes %v, want %v", secrets, tc.secrets)
			}
			container := componenttest.Field(pod, "containers", 0)
			var mounts []string
			for _, mnt := range componenttest.Field(container, "volumeMounts").([]any) {
				if _, ok := byVolume[fmt.Sprint(componenttest.Field(mnt, "name"))]; ok {
					mounts = append(mounts, fmt.Sprint(componenttest.Field(mnt, "mountPath")))
					if componenttest.Field(mnt, "readOnly") != true {
						t.Errorf("secret mount %v is not read-only", mnt)
					}
				}
			}
			if !reflect.DeepEqual(mounts, tc.mounts) {
				t.Errorf("secret mounts %v, want %v", mounts, tc.mounts)
			}
			for _, p := range []struct{ probe, path string }{{"livenessProbe", "/healthz"}, {"readinessProbe", "/readyz"}} {
				if got := componenttest.Field(container, p.probe, "httpGet", "path"); got != p.path {
					t.Errorf("%s path %v, want %s", p.probe, got, p.path)
				}
				if got := componenttest.Field(container, p.probe, "httpGet", "port"); got != int64(controller.AdminPort) {
					t.Errorf("%s port %v, want %d", p.probe, got, controller.AdminPort)
				}
			}
			svc := m["Service/controller"].Object
			for i, want := range []int{controller.Port, controller.AdminPort} {
				if got := componenttest.Field(svc, "spec", "ports", i, "port"); got != int64(want) {
					t.Errorf("service port %d: %v, want %d", i, got, want)
				}
			}
			np := m["NetworkPolicy/controller"]
			if got := componenttest.PolicyRules(np, "ingress", "from"); !reflect.DeepEqual(got, tc.ingress) {
				t.Errorf("ingress %v, want %v", got, tc.ingress)
			}
			if got := componenttest.PolicyRules(np, "egress", "to"); !reflect.DeepEqual(got, tc.egress) {
				t.Errorf("egress %v, want %v", got, tc.egress)
			}
			if got := componenttest.Field(pod, "nodeSelector", "smartx.io/role"); got != "tower" {
				t.Errorf("placed on role %v, want tower", got)
			}
			if _, ok := m["Secret/controller-tokens"]; ok != (len(tc.secrets) == 3) {
				t.Errorf("tokens Secret declared: %v", ok)
			}
			if c.URL != "http://controller.smartx.svc.cluster.local:8080" {
				t.Errorf("URL %s", c.URL)
			}
		})
	}
}

// The tokens reach Kubernetes only in the controller's Secret, marked secret, each
// under its own key; no ConfigMap or other object holds one.
func TestTokensOnlyInSecret(t *testing.T) {
	for _, tc := range []struct {
		name     string
		api, cmd bool
		keys     []string
	}{
		{"both", true, true, []string{"api-token", "command-token"}},
		{"command token only", false, true, []string{"command-token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs()
			if tc.api {
				args.APIToken = secret(apiToken)
			}
			if tc.cmd {
				args.CommandToken = secret(commandToken)
			}
			rs, m, _ := declare(t, "controller", args)
			for _, r := range rs {
				pulumitest.Strings(resource.NewObjectProperty(r.Inputs), func(s string, secret bool) {
					for _, v := range []string{apiToken, commandToken} {
						if strings.Contains(s, v) && (r.Type != "kubernetes:core/v1:Secret" || !secret) {
							t.Errorf("%s holds a token (marked secret: %v)", r.Key(), secret)
						}
					}
				})
			}
			data, _ := componenttest.Field(m["Secret/controller-tokens"].Object, "stringData").(map[string]any)
			var keys []string
			for _, k := range []string{"api-token", "command-token"} {
				if _, ok := data[k]; ok {
					keys = append(keys, k)
				}
			}
			if !reflect.DeepEqual(keys, tc.keys) || len(data) != len(tc.keys) {
				t.Errorf("Secret keys %v, want %v", data, tc.keys)
			}
			if tc.cmd && data["command-token"] != commandToken || tc.api && data["api-token"] != apiToken {
				t.Errorf("Secret holds %v", data)
			}
			env, _ := componenttest.Field(m["ConfigMap/controller-env"].Object, "data").(map[string]any)
			if _, ok := env["CONTROLLER_API_TOKEN_FILE"]; ok != tc.api {
				t.Errorf("CONTROLLER_API_TOKEN_FILE set: %v, want %v", ok, tc.api)
			}
		})
	}
}

// Every child is parented to the component and named from its name; the
// Kubernetes objects keep ObjectName.
func TestChildrenNamedFromName(t *testing.T) {
	args := validArgs()
	args.ObjectName = "controller"
	args.APIToken = secret(apiToken)
	rs, m, _ := declare(t, "se-controller", args)
	componenttest.Children(t, rs, controller.TypeToken, "se-controller")
	for _, want := range []string{"Deployment/controller", "Service/controller", "Secret/controller-tokens", "ConfigMap/controller-env", "NetworkPolicy/controller"} {
		if _, ok := m[want]; !ok {
			t.Errorf("no %s", want)
		}
	}
}

func TestInvalidArgsNameTheKey(t *testing.T) {
	two := 2
	for _, tc := range []struct {
		name   string
		mutate func(*controller.Args)
		key    string // the error names it
	}{
		{"no namespace", func(a *controller.Args) { a.Namespace = "" }, "Namespace is required"},
		{"no image", func(a *controller.Args) { a.Image = "" }, "Image is required"},
		{"no influxdb", func(a *controller.Args) { a.InfluxURL = "" }, "InfluxURL is required"},
		{"no org", func(a *controller.Args) { a.InfluxOrg = "" }, "InfluxOrg is required"},
		{"no bucket", func(a *controller.Args) { a.InfluxBucket = "" }, "InfluxBucket is required"},
		{"no token", func(a *controller.Args) { a.InfluxTokenSecret = "" }, "InfluxTokenSecret is required"},
		{"no inference", func(a *controller.Args) { a.InferenceURL = "" }, "InferenceURL is required"},
		{"no command url", func(a *controller.Args) { a.CommandURL = "" }, "CommandURL is required"},
		{"no command app", func(a *controller.Args) { a.CommandApp = "" }, "CommandApp is required"},
		{"no mongodb", func(a *controller.Args) { a.MongoURISecret = "" }, "MongoURISecret is required"},
		{"no devices", func(a *controller.Args) { a.Devices = nil }, "Devices: at least one"},
		{"empty device", func(a *controller.Args) { a.Devices = []string{"pi-1", ""} }, `Devices: ""`},
		{"device with a comma", func(a *controller.Args) { a.Devices = []string{"pi-1,pi-2"} }, `Devices: "pi-1,pi-2"`},
		{"device twice", func(a *controller.Args) { a.Devices = []string{"pi-1", "pi-1"} }, `Devices: "pi-1" is named twice`},
		{"command url", func(a *controller.Args) { a.CommandURL = "hubbridge:59880" }, "CommandURL"},
		{"command port", func(a *controller.Args) { a.CommandURL = "http://hub:99999" }, "CommandURL"},
		{"command app", func(a *controller.Args) { a.CommandApp = "Hub Bridge" }, "CommandApp"},
		{"empty client", func(a *controller.Args) { a.Clients = []string{""} }, "Clients"},
		{"two replicas", func(a *controller.Args) { a.Overrides.Replicas = &two }, "Overrides.Replicas"},
		// Several missing: always the first in declaration order.
		{"nothing", func(a *controller.Args) { *a = controller.Args{} }, "Namespace is required"},
		{"no image and no devices", func(a *controller.Args) { a.Image, a.Devices = "", nil }, "Image is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs()
			tc.mutate(args)
			_, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
				_, err := controller.New(ctx, "controller", args)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("err = %v, want one naming %s", err, tc.key)
			}
		})
	}
}
