// Package program is the Pulumi program of a Smart Energy stack: it reads the stack's
// config (declared with descriptions and defaults in Pulumi.yaml), makes the Kubernetes
// provider for the configured cluster and declares the SmartEnergy component. Config
// and secrets are read here only; components take Args.
package program

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	dashboardcomp "github.com/smartx-team/overcloud/components/dashboard"
	"github.com/smartx-team/overcloud/components/grafana"
	"github.com/smartx-team/overcloud/components/smartenergy"
	"github.com/smartx-team/overcloud/components/workload"
)

// Project is the Pulumi project name, the namespace of every config key.
const Project = "smartx"

// Defaults of the plain config keys; Pulumi.yaml declares the same (a test checks).
var Defaults = map[string]string{
	"kubeconfig":      "",
	"kubeContext":     "",
	"namespace":       "smartx",
	"roleLabel":       workload.DefaultRoleLabel,
	"hubMode":         smartenergy.HubStandalone,
	"kafkaBrokers":    "1",
	"influxOrg":       "smartx",
	"influxBucket":    "Sensordata",
	"influxRetention": "0",
	"location":        "",
	"weatherProvider": "",
	"logLevel":        "info",
	"hubbridgeImage":  "",
	"senderImage":     "",
	"inferenceImage":  "",
	"trainerImage":    "",
	"controllerImage": "",
	"dashboardImage":  "",
	"allowImageTags":  "false",
	"controller":      "true",
	"registry":        "", // read by `make images` only
}

// ObjectKeys are the config keys holding JSON values (objects, arrays), each
// declared in Pulumi.yaml with an empty default.
var ObjectKeys = []string{"components", "roles", "airConditioners"}

// SecretKeys are the secret config keys. RequiredSecrets says which a stack must set;
// the others are declared in Pulumi.yaml with the default "", and the program treats
// an empty secret exactly as an unset one.
var SecretKeys = []string{"influxPassword", "influxToken", "mongoPassword", "postgresPassword", "grafanaPassword", "deviceTokens", "owmApiKey", "controllerApiToken", "commandToken", "dashboardUsers"}

// requiredSecrets are the secret keys every stack needs: Pulumi.yaml declares them
// without a default, so the engine asks for them before the program runs.
var requiredSecrets = []string{"influxPassword", "influxToken", "mongoPassword", "grafanaPassword", "deviceTokens"}

// RequiredSecrets returns the secret keys a stack of hubMode must set to a non-empty
// value: those of every mode, and postgresPassword with hubMode edgex (the engine cannot
// require a key in one mode only, so the program checks it). stacks/README.md lists
// the same per mode (a test checks).
func RequiredSecrets(hubMode string) []string {
	keys := append([]string(nil), requiredSecrets...)
	if hubMode == smartenergy.HubEdgeX {
		keys = append(keys, "postgresPassword")
	}
	return keys
}

// ArgKeys are the config keys of the smartenergy.Args fields its errors name
// (smartenergy.ArgError.Field), so that the program's error names the key to fix.
var ArgKeys = map[string]string{
	"HubMode": "hubMode", "KafkaBrokers": "kafkaBrokers",
	"Images.HubBridge": "hubbridgeImage", "Images.Sender": "senderImage",
	"Images.Inference": "inferenceImage", "Images.Trainer": "trainerImage", "Images.Controller": "controllerImage",
	"Images.Dashboard": "dashboardImage",
	"AirConditioners":  "airConditioners", "Roles": "roles",
	"Secrets.InfluxPassword": "influxPassword", "Secrets.InfluxToken": "influxToken",
	"Secrets.MongoPassword": "mongoPassword", "Secrets.PostgresPassword": "postgresPassword",
	"Secrets.GrafanaPassword": "grafanaPassword", "Secrets.DeviceTokens": "deviceTokens",
}

// Run is the program: pulumi.Run(program.Run).
func Run(ctx *pulumi.Context) error {
	_, err := Declare(ctx)
	return err
}

// Target is the cluster a stack deploys to. The zero value is the cluster the stack
// config names (smartx:kubeconfig, smartx:kubeContext).
type Target struct {
	// Kubeconfig is the target cluster's kubeconfig contents; it replaces
	// smartx:kubeconfig and smartx:kubeContext (optional; keep it a secret Output).
	Kubeconfig pulumi.StringInput
	// PublicHost, when set, is the address of the cluster's ingress (k3s's Traefik):
	// the dashboard is exposed there over HTTPS and dashboardUrl points at it
	// (optional, default: not exposed).
	PublicHost pulumi.StringInput
}

// Declare declares the stack on the cluster of the stack config and returns its
// SmartEnergy component.
func Declare(ctx *pulumi.Context) (*smartenergy.SmartEnergy, error) {
	return DeclareOn(ctx, Target{})
}

// DeclareOn declares the stack on target and returns its SmartEnergy component.
func DeclareOn(ctx *pulumi.Context, target Target) (*smartenergy.SmartEnergy, error) {
	cfg := config.New(ctx, "")
	get := func(k string) string {
		if v, err := cfg.Try(k); err == nil {
			return v
		}
		return Defaults[k]
	}
	args := &smartenergy.Args{
		Namespace: get("namespace"),
		RoleLabel: get("roleLabel"),
		HubMode:   get("hubMode"),
		Images: smartenergy.Images{
			HubBridge: get("hubbridgeImage"), Sender: get("senderImage"),
			Inference: get("inferenceImage"), Trainer: get("trainerImage"), Controller: get("controllerImage"),
			Dashboard: get("dashboardImage"),
		},
		InfluxOrg:       get("influxOrg"),
		InfluxBucket:    get("influxBucket"),
		InfluxRetention: get("influxRetention"),
		Location:        get("location"),
		WeatherProvider: get("weatherProvider"),
		LogLevel:        get("logLevel"),
	}
	var err error
	if args.KafkaBrokers, err = atoi("kafkaBrokers", get("kafkaBrokers")); err != nil {
		return nil, err
	}
	if args.AllowTags, err = boolean("allowImageTags", get("allowImageTags")); err != nil {
		return nil, err
	}
	controllerOn, err := boolean("controller", get("controller"))
	if err != nil {
		return nil, err
	}
	args.NoController = !controllerOn
	if err := optionalObject(cfg, "airConditioners", &args.AirConditioners); err != nil {
		return nil, err
	}
	if err := optionalObject(cfg, "components", &args.Components); err != nil {
		return nil, err
	}
	if err := optionalObject(cfg, "roles", &args.Roles); err != nil {
		return nil, err
	}
	// A secret that is unset or empty (the default "" of an optional one in Pulumi.yaml)
	// is absent: nil, so that no component makes a Secret or a setting of it. The value
	// is read plainly only to see whether it is empty; it goes on as a secret Output
	// (what cfg.TrySecret returns).
	secret := map[string]pulumi.StringInput{}
	for _, k := range SecretKeys {
		if v, err := cfg.Try(k); err == nil && v != "" {
			secret[k] = pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput)
		}
	}
	for _, k := range RequiredSecrets(args.HubMode) {
		if secret[k] == nil {
			mode := ""
			if !slices.Contains(requiredSecrets, k) {
				mode = " with smartx:hubMode " + args.HubMode
			}
			return nil, fmt.Errorf("config smartx:%s is required%s and must not be empty: pulumi config set --secret smartx:%s <value>", k, mode, k)
		}
	}
	args.Secrets = smartenergy.Secrets{
		InfluxPassword: secret["influxPassword"], InfluxToken: secret["influxToken"],
		MongoPassword: secret["mongoPassword"], PostgresPassword: secret["postgresPassword"],
		GrafanaPassword: secret["grafanaPassword"], DeviceTokens: secret["deviceTokens"],
		OWMAPIKey:          secret["owmApiKey"],
		ControllerAPIToken: secret["controllerApiToken"], CommandToken: secret["commandToken"],
		DashboardUsers: secret["dashboardUsers"],
	}

	pargs := &kubernetes.ProviderArgs{
		Kubeconfig: optional(get("kubeconfig")),
		Context:    optional(get("kubeContext")),
		// Apply as kubectl --server-side does, so the conformance test applies exactly
		// what `pulumi up` would.
		EnableServerSideApply: pulumi.Bool(true),
	}
	if target.Kubeconfig != nil {
		pargs.Kubeconfig, pargs.Context = target.Kubeconfig, nil
	}
	provider, err := kubernetes.NewProvider(ctx, "k8s", pargs)
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: %w", err)
	}
	se, err := smartenergy.New(ctx, "smart-energy", args, pulumi.Provider(provider))
	if err != nil {
		var bad *smartenergy.ArgError
		if errors.As(err, &bad) && ArgKeys[bad.Field] != "" {
			hint := ""
			if bad.Field == "AirConditioners" && len(args.AirConditioners) == 0 {
				hint = `: list the Pis that drive an air conditioner, e.g. pulumi config set --path 'smartx:airConditioners[0]' pi-1, or set smartx:controller false`
			}
			return nil, fmt.Errorf("config smartx:%s: %w%s", ArgKeys[bad.Field], err, hint)
		}
		return nil, err
	}
	dashboard, grafanaURL := se.DashboardURL, se.GrafanaURL
	if target.PublicHost != nil {
		if args.Secrets.DashboardUsers != nil {
			dashboard, err = expose(ctx, se, target.PublicHost, provider, smartenergy.Dashboard, dashboardcomp.Port, dashboard)
		} else {
			grafanaURL, err = expose(ctx, se, target.PublicHost, provider, smartenergy.Grafana, grafana.Port, grafanaURL)
		}
		if err != nil {
			return nil, err
		}
	}
	ctx.Export("namespace", pulumi.String(se.Namespace))
	ctx.Export("hubEndpoint", se.HubEndpoint)
	ctx.Export("dashboardUrl", dashboard)
	ctx.Export("grafanaUrl", grafanaURL)
	ctx.Export("kafkaBootstrap", se.KafkaBootstrap)
	ctx.Export("influxUrl", se.InfluxURL)
	ctx.Export("controllerUrl", se.ControllerURL)
	return se, nil
}

// atoi parses the integer config value v of key strictly: a decimal integer, with an
// optional sign, and nothing else but surrounding white space, which is trimmed (so
// "3" and " 3 " are 3; "3x", "3.0" and "" are errors). The range is the caller's
// to check.
func atoi(key, v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("config smartx:%s: %q is not an integer", key, v)
	}
	return n, nil
}

// boolean parses the boolean config value v of key: true or false.
func boolean(key, v string) (bool, error) {
	switch v {
	case "true", "false":
		return v == "true", nil
	}
	return false, fmt.Errorf("config smartx:%s %q: want true or false", key, v)
}

// optionalObject reads a JSON object (or array) key into out when it is set.
func optionalObject(cfg *config.Config, key string, out any) error {
	if _, err := cfg.Try(key); err != nil {
		return nil // not set
	}
	if err := cfg.TryObject(key, out); err != nil {
		return fmt.Errorf("config smartx:%s: %w", key, err)
	}
	return nil
}

func optional(s string) pulumi.StringPtrInput {
	if s == "" {
		return nil
	}
	return pulumi.String(s)
}

// expose routes HTTPS on the cluster's Traefik ingress (the websecure entry point
// only, so nothing is served over plain HTTP) to the Service app on port, and returns
// the public URL on host of the in-cluster URL inside: the operators' dashboard when
// it is deployed, else Grafana (which stays reachable in the cluster either way).
// Traefik serves its default certificate until one is configured, and tells the
// dashboard the request came over TLS (X-Forwarded-Proto), so its session cookie is
// Secure.
func expose(ctx *pulumi.Context, se *smartenergy.SmartEnergy, host pulumi.StringInput, provider pulumi.ProviderResource, app string, port int, inside pulumi.StringOutput) (pulumi.StringOutput, error) {
	_, err := networkingv1.NewIngress(ctx, "dashboard", &networkingv1.IngressArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:      pulumi.String("dashboard"),
			Namespace: pulumi.String(se.Namespace),
			Annotations: pulumi.StringMap{
				"traefik.ingress.kubernetes.io/router.entrypoints": pulumi.String("websecure"),
				"traefik.ingress.kubernetes.io/router.tls":         pulumi.String("true"),
			},
		},
		Spec: &networkingv1.IngressSpecArgs{
			IngressClassName: pulumi.String("traefik"),
			Rules: networkingv1.IngressRuleArray{networkingv1.IngressRuleArgs{
				Http: &networkingv1.HTTPIngressRuleValueArgs{Paths: networkingv1.HTTPIngressPathArray{networkingv1.HTTPIngressPathArgs{
					Path: pulumi.String("/"), PathType: pulumi.String("Prefix"),
					Backend: networkingv1.IngressBackendArgs{Service: &networkingv1.IngressServiceBackendArgs{
						Name: pulumi.String(app),
						Port: &networkingv1.ServiceBackendPortArgs{Number: pulumi.Int(port)},
					}},
				}}},
			}},
		},
	}, pulumi.Parent(se), pulumi.Provider(provider))
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("dashboard ingress: %w", err)
	}
	return pulumi.All(host, inside).ApplyT(func(v []any) (string, error) {
		u, err := url.Parse(v[1].(string))
		if err != nil {
			return "", fmt.Errorf("dashboard url: %w", err)
		}
		return (&url.URL{Scheme: "https", Host: v[0].(string), Path: u.Path}).String(), nil
	}).(pulumi.StringOutput), nil
}
