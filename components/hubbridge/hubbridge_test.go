package hubbridge_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/hubbridge"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

const (
	image     = "registry.local/hubbridge@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tokens    = `{"pi-1":"device-token-5a5a"}`
	bootstrap = "kafka.smartx.svc.cluster.local:9092"
	mqttURL   = "mqtt://edgex-mqtt.smartx.svc.cluster.local:1883"
)

func validArgs() *hubbridge.Args {
	return &hubbridge.Args{
		Namespace: "smartx", Image: image,
		KafkaBootstrap: bootstrap, Topic: "readings",
		MongoURISecret: "hubbridge-mongo",
		DeviceTokens:   pulumi.ToSecret(pulumi.String(tokens)).(pulumi.StringOutput),
	}
}

// declare runs New(name) under mocks with a Kubernetes provider and returns what it
// registered and its manifests by kind/name.
func declare(t *testing.T, name string, args *hubbridge.Args) ([]pulumitest.Resource, map[string]componenttest.Manifest) {
	t.Helper()
	return componenttest.Declare(t, func(ctx *pulumi.Context, provider pulumi.ResourceOption) error {
		_, err := hubbridge.New(ctx, name, args, provider)
		return err
	})
}

func TestModes(t *testing.T) {
	standaloneEnv := map[string]any{
		"HUB_MODE": "standalone", "HUB_LISTEN": ":59880", "HUB_ADMIN_LISTEN": ":9102",
		"HUB_MONGO_DATABASE": "smartx_hub", "HUB_MONGO_URI_FILE": "/var/run/secrets/smartx/mongodb/uri",
		"HUB_KAFKA_BROKERS": bootstrap, "HUB_KAFKA_TOPIC": "readings",
		"HUB_DEVICE_TOKENS_FILE": "/var/run/secrets/smartx/devices/tokens.json", "HUB_LOG_LEVEL": "info",
	}
	edgexEnv := map[string]any{}
	for k, v := range standaloneEnv {
		edgexEnv[k] = v
	}
	edgexEnv["HUB_MODE"], edgexEnv["HUB_MQTT_URL"], edgexEnv["HUB_MQTT_TOPIC"] = "edgex", mqttURL, "edgex/events/core/#"
	edgexEnv["HUB_MQTT_CLIENT_ID"] = "hubbridge"
	dns := "*:TCP 53,UDP 53"
	for _, tc := range []struct {
		name    string
		mutate  func(*hubbridge.Args)
		env     map[string]any
		ingress []string
		egress  []string
	}{
		{
			name: "standalone", mutate: func(*hubbridge.Args) {}, env: standaloneEnv,
			ingress: []string{"*:TCP 59880"}, // devices, from outside the cluster
			// set-points forwarded to the Pis' command endpoints, outside the cluster
			egress: []string{dns, "mongodb:TCP 27017", "kafka:TCP 9092", "*:TCP 59990"},
		},
		{
			name: "standalone, metrics read by the dashboard", mutate: func(a *hubbridge.Args) { a.MetricsClients = []string{"dashboard"} }, env: standaloneEnv,
			ingress: []string{"*:TCP 59880", "dashboard:TCP 9102"},
			egress:  []string{dns, "mongodb:TCP 27017", "kafka:TCP 9092", "*:TCP 59990"},
		},
		{
			name: "edgex", mutate: func(a *hubbridge.Args) { a.Mode, a.MQTTURL = hubbridge.ModeEdgeX, mqttURL }, env: edgexEnv,
			ingress: nil, // the bridge only subscribes
			egress:  []string{dns, "mongodb:TCP 27017", "kafka:TCP 9092", "edgex-mqtt:TCP 1883"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs()
			tc.mutate(args)
			_, m := declare(t, "hubbridge", args)
			if got := componenttest.Field(m["ConfigMap/hubbridge-env"].Object, "data"); !reflect.DeepEqual(got, tc.env) {
				t.Errorf("env\n got %v\nwant %v", got, tc.env)
			}
			var ports []string
			for _, p := range componenttest.Field(m["Service/hubbridge"].Object, "spec", "ports").([]any) {
				ports = append(ports, fmt.Sprint(componenttest.Field(p, "name"), "=", componenttest.Field(p, "port")))
			}
			if got := strings.Join(ports, " "); got != "ingest=59880 admin=9102" {
				t.Errorf("service ports %s", got)
			}
			np := m["NetworkPolicy/hubbridge"]
			if got := componenttest.PolicyRules(np, "ingress", "from"); !reflect.DeepEqual(got, tc.ingress) {
				t.Errorf("ingress %v, want %v", got, tc.ingress)
			}
			if got := componenttest.PolicyRules(np, "egress", "to"); !reflect.DeepEqual(got, tc.egress) {
				t.Errorf("egress %v, want %v", got, tc.egress)
			}
			strategy := componenttest.Field(m["Deployment/hubbridge"].Object, "spec", "strategy", "type")
			if want := map[bool]any{false: nil, true: "Recreate"}[tc.name == "edgex"]; strategy != want {
				t.Errorf("update strategy %v, want %v (behind EdgeX the bridge is one broker session)", strategy, want)
			}
			pod := componenttest.Field(m["Deployment/hubbridge"].Object, "spec", "template", "spec")
			mounted := map[string]bool{}
			for _, v := range componenttest.Field(pod, "volumes").([]any) {
				if s := componenttest.Field(v, "secret", "secretName"); s != nil {
					mounted[fmt.Sprint(s)] = true
				}
			}
			if !mounted["hubbridge-mongo"] || !mounted["hubbridge-devices"] {
				t.Errorf("secret volumes %v, want the MongoDB URI and the device tokens", mounted)
			}
			if got := componenttest.Field(pod, "nodeSelector", "smartx.io/role"); got != "hub" {
				t.Errorf("placed on role %v, want hub", got)
			}
		})
	}
}

// The device tokens reach Kubernetes only in the bridge's Secret, marked secret.
func TestDeviceTokensOnlyInSecret(t *testing.T) {
	rs, m := declare(t, "hubbridge", validArgs())
	for _, r := range rs {
		pulumitest.Strings(resource.NewObjectProperty(r.Inputs), func(s string, secret bool) {
			if strings.Contains(s, "device-token-5a5a") && (r.Type != "kubernetes:core/v1:Secret" || !secret) {
				t.Errorf("%s holds the device tokens (marked secret: %v)", r.Key(), secret)
			}
		})
	}
	if got := componenttest.Field(m["Secret/hubbridge-devices"].Object, "stringData", "tokens.json"); got != tokens {
		t.Errorf("tokens Secret holds %v", got)
	}
}

// Every child is parented to the component and named from its name; the
// Kubernetes objects keep ObjectName.
func TestChildrenNamedFromName(t *testing.T) {
	args := validArgs()
	args.ObjectName = "hubbridge"
	rs, m := declare(t, "se-hubbridge", args)
	componenttest.Children(t, rs, hubbridge.TypeToken, "se-hubbridge")
	for _, want := range []string{"Deployment/hubbridge", "Service/hubbridge", "Secret/hubbridge-devices", "ConfigMap/hubbridge-env"} {
		if _, ok := m[want]; !ok {
			t.Errorf("no %s", want)
		}
	}
}

func TestInvalidArgsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*hubbridge.Args)
		key    string
	}{
		{"no namespace", func(a *hubbridge.Args) { a.Namespace = "" }, "Namespace"},
		{"no image", func(a *hubbridge.Args) { a.Image = "" }, "Image"},
		{"no kafka", func(a *hubbridge.Args) { a.KafkaBootstrap = "" }, "KafkaBootstrap"},
		{"no topic", func(a *hubbridge.Args) { a.Topic = "" }, "Topic"},
		{"no mongodb", func(a *hubbridge.Args) { a.MongoURISecret = "" }, "MongoURISecret"},
		{"no tokens", func(a *hubbridge.Args) { a.DeviceTokens = nil }, "DeviceTokens"},
		{"unknown mode", func(a *hubbridge.Args) { a.Mode = "cloud" }, "Mode"},
		{"edgex without bus", func(a *hubbridge.Args) { a.Mode = hubbridge.ModeEdgeX }, "MQTTURL"},
		{"edgex with two replicas", func(a *hubbridge.Args) {
			two := 2
			a.Mode, a.MQTTURL, a.Overrides.Replicas = hubbridge.ModeEdgeX, "mqtt://edgex-mqtt:1883", &two
		}, "one replica"},
		// Several missing: always the first in declaration order.
		{"nothing", func(a *hubbridge.Args) { *a = hubbridge.Args{} }, "Namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs()
			tc.mutate(args)
			_, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
				_, err := hubbridge.New(ctx, "hubbridge", args)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("err = %v, want one naming %s", err, tc.key)
			}
		})
	}
}
