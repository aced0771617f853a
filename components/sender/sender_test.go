package sender_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/sender"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

const (
	image     = "registry.local/sender@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	bootstrap = "kafka.smartx.svc.cluster.local:9092"
	influxURL = "http://influxdb.smartx.svc.cluster.local:8086"
	owmKey    = "owm-key-3c3c"
)

func validArgs() *sender.Args {
	return &sender.Args{
		Namespace: "smartx", Image: image,
		KafkaBootstrap: bootstrap, Topic: "readings", DeadLetterTopic: "readings.dead",
		InfluxURL: influxURL, InfluxOrg: "smartx", InfluxBucket: "Sensordata", InfluxTokenSecret: "influxdb-token",
	}
}

// declare runs New(name) under mocks with a Kubernetes provider and returns what it
// registered and its manifests by kind/name.
func declare(t *testing.T, name string, args *sender.Args) ([]pulumitest.Resource, map[string]componenttest.Manifest) {
	t.Helper()
	return componenttest.Declare(t, func(ctx *pulumi.Context, provider pulumi.ResourceOption) error {
		_, err := sender.New(ctx, name, args, provider)
		return err
	})
}

func TestSettings(t *testing.T) {
	base := map[string]any{
		"SENDER_ADMIN_LISTEN": ":9103", "SENDER_KAFKA_BROKERS": bootstrap, "SENDER_KAFKA_TOPIC": "readings",
		"SENDER_KAFKA_GROUP": "smartx-sender", "SENDER_DEAD_LETTER_TOPIC": "readings.dead",
		"SENDER_INFLUX_URL": influxURL, "SENDER_INFLUX_ORG": "smartx", "SENDER_INFLUX_BUCKET": "Sensordata",
		"SENDER_INFLUX_TOKEN_FILE": "/var/run/secrets/smartx/influxdb/token", "SENDER_LOG_LEVEL": "info",
	}
	with := func(extra map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		mutate  func(*sender.Args)
		env     map[string]any
		secrets []string // Secrets mounted, in volume order
	}{
		{"defaults", func(*sender.Args) {}, base, []string{"influxdb-token"}},
		{
			"weather", func(a *sender.Args) {
				a.Location, a.WeatherProvider, a.LogLevel = "Gwangju", "owm", "debug"
				a.OWMAPIKey = pulumi.ToSecret(pulumi.String(owmKey)).(pulumi.StringOutput)
			},
			with(map[string]any{
				"SENDER_LOCATION": "Gwangju", "SENDER_WEATHER_PROVIDER": "owm", "SENDER_LOG_LEVEL": "debug",
				"SENDER_OWM_API_KEY_FILE": "/var/run/secrets/smartx/weather/owm-api-key",
			}),
			[]string{"influxdb-token", "sender-weather"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs()
			tc.mutate(args)
			_, m := declare(t, "sender", args)
			if got := componenttest.Field(m["ConfigMap/sender-env"].Object, "data"); !reflect.DeepEqual(got, tc.env) {
				t.Errorf("env\n got %v\nwant %v", got, tc.env)
			}
			pod := componenttest.Field(m["Deployment/sender"].Object, "spec", "template", "spec")
			var secrets []string
			for _, v := range componenttest.Field(pod, "volumes").([]any) {
				if s := componenttest.Field(v, "secret", "secretName"); s != nil {
					secrets = append(secrets, fmt.Sprint(s))
				}
			}
			if !reflect.DeepEqual(secrets, tc.secrets) {
				t.Errorf("secret volumes %v, want %v", secrets, tc.secrets)
			}
			if _, ok := m["Secret/sender-weather"]; ok != (len(tc.secrets) == 2) {
				t.Errorf("weather Secret declared: %v", ok)
			}
			if got := componenttest.Field(m["Service/sender"].Object, "spec", "ports", 0, "port"); got != int64(sender.AdminPort) {
				t.Errorf("service port %v, want %d", got, sender.AdminPort)
			}
			np := m["NetworkPolicy/sender"]
			if got := componenttest.PolicyRules(np, "ingress", "from"); got != nil {
				t.Errorf("ingress %v, want none", got)
			}
			want := []string{"*:TCP 53,UDP 53", "kafka:TCP 9092", "influxdb:TCP 8086", "*:TCP 443"}
			if got := componenttest.PolicyRules(np, "egress", "to"); !reflect.DeepEqual(got, want) {
				t.Errorf("egress %v, want %v", got, want)
			}
			if got := componenttest.Field(pod, "nodeSelector", "smartx.io/role"); got != "tower" {
				t.Errorf("placed on role %v, want tower", got)
			}
		})
	}
}

// The weather API key reaches Kubernetes only in the sender's Secret, marked secret.
func TestAPIKeyOnlyInSecret(t *testing.T) {
	args := validArgs()
	args.OWMAPIKey = pulumi.ToSecret(pulumi.String(owmKey)).(pulumi.StringOutput)
	rs, m := declare(t, "sender", args)
	for _, r := range rs {
		pulumitest.Strings(resource.NewObjectProperty(r.Inputs), func(s string, secret bool) {
			if strings.Contains(s, owmKey) && (r.Type != "kubernetes:core/v1:Secret" || !secret) {
				t.Errorf("%s holds the API key (marked secret: %v)", r.Key(), secret)
			}
		})
	}
	if got := componenttest.Field(m["Secret/sender-weather"].Object, "stringData", "owm-api-key"); got != owmKey {
		t.Errorf("weather Secret holds %v", got)
	}
}

// Every child is parented to the component and named from its name; the
// Kubernetes objects keep ObjectName.
func TestChildrenNamedFromName(t *testing.T) {
	args := validArgs()
	args.ObjectName = "sender"
	args.OWMAPIKey = pulumi.ToSecret(pulumi.String(owmKey)).(pulumi.StringOutput)
	rs, m := declare(t, "se-sender", args)
	componenttest.Children(t, rs, sender.TypeToken, "se-sender")
	for _, want := range []string{"Deployment/sender", "Service/sender", "Secret/sender-weather", "ConfigMap/sender-env"} {
		if _, ok := m[want]; !ok {
			t.Errorf("no %s", want)
		}
	}
}

func TestInvalidArgsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*sender.Args)
		key    string
	}{
		{"no namespace", func(a *sender.Args) { a.Namespace = "" }, "Namespace"},
		{"no image", func(a *sender.Args) { a.Image = "" }, "Image"},
		{"no kafka", func(a *sender.Args) { a.KafkaBootstrap = "" }, "KafkaBootstrap"},
		{"no topic", func(a *sender.Args) { a.Topic = "" }, "Topic"},
		{"no dead letters", func(a *sender.Args) { a.DeadLetterTopic = "" }, "DeadLetterTopic"},
		{"no influxdb", func(a *sender.Args) { a.InfluxURL = "" }, "InfluxURL"},
		{"no org", func(a *sender.Args) { a.InfluxOrg = "" }, "InfluxOrg"},
		{"no bucket", func(a *sender.Args) { a.InfluxBucket = "" }, "InfluxBucket"},
		{"no token", func(a *sender.Args) { a.InfluxTokenSecret = "" }, "InfluxTokenSecret"},
		// Several missing: always the first in declaration order.
		{"nothing", func(a *sender.Args) { *a = sender.Args{} }, "Namespace is required"},
		{"empty metrics client", func(a *sender.Args) { a.MetricsClients = []string{""} }, "MetricsClients: \"\" is not an app name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := validArgs()
			tc.mutate(args)
			_, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
				_, err := sender.New(ctx, "sender", args)
				return err
			})
			if !strings.Contains(tc.key, " ") {
				tc.key += " is required"
			}
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("err = %v, want one naming %s", err, tc.key)
			}
		})
	}
}

// The dashboard may read the admin port's /metrics when it is listed, and nothing else.
func TestMetricsClients(t *testing.T) {
	args := validArgs()
	args.MetricsClients = []string{"dashboard"}
	_, m := declare(t, "sender", args)
	if got := componenttest.PolicyRules(m["NetworkPolicy/sender"], "ingress", "from"); !reflect.DeepEqual(got, []string{"dashboard:TCP 9103"}) {
		t.Errorf("ingress %v, want the dashboard on the admin port only", got)
	}
}
