package program_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/workload"
	"github.com/smartx-team/overcloud/internal/pulumitest"
	"github.com/smartx-team/overcloud/stacks/program"
)

// Secret values of the test config: none may appear outside a Secret.
var secrets = map[string]string{
	"influxPassword":     "influx-pass-7f3a",
	"influxToken":        "influx-token-91bc",
	"mongoPassword":      "mongo-pass-0d2e",
	"postgresPassword":   "pg-pass-55aa",
	"grafanaPassword":    "grafana-pass-c4c4",
	"deviceTokens":       `{"pi-1":"device-token-e8e8"}`,
	"owmApiKey":          "owm-key-1b1b",
	"controllerApiToken": "controller-api-token-3e3e",
	"commandToken":       "command-token-4f4f",
	"dashboardUsers":     "kim:$2y$10$dashboard-users-5e5e",
}

const (
	hubImage        = "127.0.0.1:5000/hubbridge@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	senderImage     = "127.0.0.1:5000/sender@sha256:2222222222222222222222222222222222222222222222222222222222222222"
	inferenceImage  = "127.0.0.1:5000/inference@sha256:3333333333333333333333333333333333333333333333333333333333333333"
	trainerImage    = "127.0.0.1:5000/trainer@sha256:4444444444444444444444444444444444444444444444444444444444444444"
	controllerImage = "127.0.0.1:5000/controller@sha256:5555555555555555555555555555555555555555555555555555555555555555"
	dashboardImage  = "127.0.0.1:5000/dashboard@sha256:6666666666666666666666666666666666666666666666666666666666666666"
)

// Config returns a full stack config plus extra, and the secret keys.
func Config(extra map[string]string) (map[string]string, []string) {
	cfg := map[string]string{
		"smartx:hubbridgeImage":  hubImage,
		"smartx:senderImage":     senderImage,
		"smartx:inferenceImage":  inferenceImage,
		"smartx:trainerImage":    trainerImage,
		"smartx:controllerImage": controllerImage,
		"smartx:dashboardImage":  dashboardImage,
		"smartx:airConditioners": `["pi-1","pi-2"]`,
	}
	var keys []string
	for k, v := range secrets {
		cfg["smartx:"+k] = v
		keys = append(keys, "smartx:"+k)
	}
	for k, v := range extra {
		cfg["smartx:"+k] = v
	}
	return cfg, keys
}

type outputs struct {
	mu     sync.Mutex
	values []string
}

// run runs the stack program under mocks and returns what it declared and the
// component's outputs.
func run(t testing.TB, extra map[string]string) ([]pulumitest.Resource, []componenttest.Manifest, []string) {
	t.Helper()
	cfg, keys := Config(extra)
	out := &outputs{}
	m, err := pulumitest.Run(program.Project, "test", cfg, keys, func(ctx *pulumi.Context) error {
		se, err := program.Declare(ctx)
		if err != nil {
			return err
		}
		pulumi.All(se.HubEndpoint, se.DashboardURL, se.KafkaBootstrap, se.InfluxURL, se.ControllerURL).ApplyT(func(vs []any) error {
			out.mu.Lock()
			defer out.mu.Unlock()
			for _, v := range vs {
				out.values = append(out.values, fmt.Sprint(v))
			}
			return nil
		})
		return nil
	})
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	ms, err := componenttest.Manifests(m.Resources())
	if err != nil {
		t.Fatalf("manifests: %v", err)
	}
	return m.Resources(), ms, out.values
}

// functions lists the expected functions and their roles, per hub mode.
func functions(edgex bool) map[string]string {
	f := map[string]string{
		"hubbridge": "hub", "mongodb": "hub", "sender": "tower", "kafka": "tower",
		"grafana": "tower", "influxdb": "storage", "inference": "tower", "controller": "tower",
	}
	if edgex {
		for _, s := range []string{"edgex-core-data", "edgex-core-metadata", "edgex-core-command", "edgex-postgres", "edgex-mqtt"} {
			f[s] = "hub"
		}
	}
	return f
}

func TestStackGraph(t *testing.T) {
	for _, mode := range []string{"standalone", "edgex"} {
		t.Run(mode, func(t *testing.T) {
			_, ms, outs := run(t, map[string]string{"hubMode": mode})
			byID := map[string]componenttest.Manifest{}
			for _, m := range ms {
				byID[m.Kind+"/"+m.Name] = m
			}
			for name, role := range functions(mode == "edgex") {
				w, ok := byID["Deployment/"+name]
				if !ok {
					w, ok = byID["StatefulSet/"+name]
				}
				if !ok {
					t.Errorf("%s: no Deployment or StatefulSet", name)
					continue
				}
				for _, kind := range []string{"Service", "NetworkPolicy", "PodDisruptionBudget", "ServiceAccount"} {
					if _, ok := byID[kind+"/"+name]; !ok {
						t.Errorf("%s: no %s", name, kind)
					}
				}
				pod := componenttest.Field(w.Object, "spec", "template", "spec")
				if got := componenttest.Field(pod, "nodeSelector", workload.DefaultRoleLabel); got != role {
					t.Errorf("%s: placed on role %v, want %s", name, got, role)
				}
				c := componenttest.Field(pod, "containers", 0)
				for _, p := range []string{"livenessProbe", "readinessProbe"} {
					if componenttest.Field(c, p) == nil {
						t.Errorf("%s: no %s", name, p)
					}
				}
				if componenttest.Field(c, "resources", "requests", "memory") == nil || componenttest.Field(c, "resources", "limits", "memory") == nil {
					t.Errorf("%s: no memory request and limit", name)
				}
				if componenttest.Field(c, "securityContext", "readOnlyRootFilesystem") != true || componenttest.Field(pod, "securityContext", "runAsNonRoot") != true {
					t.Errorf("%s: not hardened", name)
				}
			}
			for name, img := range map[string]string{"hubbridge": hubImage, "sender": senderImage, "inference": inferenceImage, "controller": controllerImage} {
				if got := componenttest.Field(byID["Deployment/"+name].Object, "spec", "template", "spec", "containers", 0, "image"); got != img {
					t.Errorf("%s image = %v, want %s", name, got, img)
				}
			}
			// The trainer runs to completion on a schedule: a CronJob, hardened and
			// placed like the others, with no Service, probes or disruption budget.
			cron, ok := byID["CronJob/trainer"]
			if !ok {
				t.Fatal("trainer: no CronJob")
			}
			pod := componenttest.Field(cron.Object, "spec", "jobTemplate", "spec", "template", "spec")
			c := componenttest.Field(pod, "containers", 0)
			if got := componenttest.Field(c, "image"); got != trainerImage {
				t.Errorf("trainer image = %v, want %s", got, trainerImage)
			}
			if got := componenttest.Field(pod, "nodeSelector", workload.DefaultRoleLabel); got != "tower" {
				t.Errorf("trainer: placed on role %v, want tower", got)
			}
			if componenttest.Field(c, "securityContext", "readOnlyRootFilesystem") != true || componenttest.Field(pod, "securityContext", "runAsNonRoot") != true ||
				componenttest.Field(c, "securityContext", "allowPrivilegeEscalation") != false {
				t.Errorf("trainer: not hardened")
			}
			if componenttest.Field(c, "resources", "limits", "memory") == nil {
				t.Error("trainer: no memory limit")
			}
			for _, kind := range []string{"NetworkPolicy", "ServiceAccount"} {
				if _, ok := byID[kind+"/trainer"]; !ok {
					t.Errorf("trainer: no %s", kind)
				}
			}
			for _, kind := range []string{"Service", "PodDisruptionBudget", "Deployment"} {
				if _, ok := byID[kind+"/trainer"]; ok {
					t.Errorf("trainer: a %s", kind)
				}
			}
			if _, ok := byID["PersistentVolumeClaim/models"]; !ok {
				t.Error("no model claim")
			}
			command := map[string]string{"standalone": "http://hubbridge.smartx.svc.cluster.local:59880", "edgex": "http://edgex-core-command.smartx.svc.cluster.local:59882"}[mode]
			if got := componenttest.Field(byID["ConfigMap/controller-env"].Object, "data", "CONTROLLER_COMMAND_URL"); got != command {
				t.Errorf("controller command URL %v, want %s", got, command)
			}
			if got := componenttest.Field(byID["ConfigMap/controller-env"].Object, "data", "CONTROLLER_DEVICES"); got != "pi-1,pi-2" {
				t.Errorf("controller devices %v", got)
			}
			if _, ok := byID["NetworkPolicy/default-deny"]; !ok {
				t.Error("no default-deny NetworkPolicy")
			}
			if mode == "edgex" {
				env := componenttest.Field(byID["ConfigMap/hubbridge-env"].Object, "data")
				if componenttest.Field(env, "HUB_MODE") != "edgex" || !strings.HasPrefix(fmt.Sprint(componenttest.Field(env, "HUB_MQTT_URL")), "mqtt://edgex-mqtt.") {
					t.Errorf("hub bridge env in edgex mode: %v", env)
				}
			}
			if len(outs) != 5 {
				t.Errorf("got %d outputs, want 5", len(outs))
			} else if outs[4] != "http://controller.smartx.svc.cluster.local:8080" {
				t.Errorf("controllerUrl %q", outs[4])
			}
			for _, o := range outs {
				noSecret(t, "output", o)
			}
		})
	}
}

func noSecret(t *testing.T, where, s string) {
	t.Helper()
	for k, v := range secrets {
		if strings.Contains(s, v) || k == "deviceTokens" && strings.Contains(s, "device-token-e8e8") {
			t.Errorf("%s holds the value of secret %s", where, k)
		}
	}
}

// Secret values reach Kubernetes only inside Secrets, marked secret for Pulumi; no
// ConfigMap, env literal or any other object holds one.
func TestNoSecretOutsideSecrets(t *testing.T) {
	rs, _, _ := run(t, map[string]string{"hubMode": "edgex"})
	found := map[string]bool{}
	for _, r := range rs {
		pulumitest.Strings(resource.NewObjectProperty(r.Inputs), func(s string, secret bool) {
			for k, v := range secrets {
				if !strings.Contains(s, v) && !(k == "deviceTokens" && strings.Contains(s, "device-token-e8e8")) {
					continue
				}
				found[k] = true
				if r.Type != "kubernetes:core/v1:Secret" || !secret {
					t.Errorf("%s holds secret %s (marked secret: %v)", r.Key(), k, secret)
				}
			}
		})
	}
	for k := range secrets {
		if !found[k] {
			t.Errorf("secret %s reached no Kubernetes Secret", k)
		}
	}
}

func TestProductionKafka(t *testing.T) {
	_, ms, _ := run(t, map[string]string{"kafkaBrokers": "3"})
	for _, m := range ms {
		switch m.ID() {
		case "StatefulSet/smartx/kafka":
			if got := componenttest.Field(m.Object, "spec", "replicas"); got != int64(3) {
				t.Errorf("brokers = %v, want 3", got)
			}
		case "ConfigMap/smartx/kafka-env":
			data := componenttest.Field(m.Object, "data")
			if componenttest.Field(data, "KAFKA_DEFAULT_REPLICATION_FACTOR") != "3" || componenttest.Field(data, "KAFKA_MIN_INSYNC_REPLICAS") != "2" {
				t.Errorf("replication settings: %v", data)
			}
			if !strings.Contains(fmt.Sprint(componenttest.Field(data, "KAFKA_CONTROLLER_QUORUM_VOTERS")), "2@kafka-2.") {
				t.Errorf("quorum voters: %v", componenttest.Field(data, "KAFKA_CONTROLLER_QUORUM_VOTERS"))
			}
		}
	}
}

func TestOverridesFromConfig(t *testing.T) {
	_, ms, _ := run(t, map[string]string{
		"components": `{"sender": {"replicas": 2, "nodeSelector": {"kubernetes.io/hostname": "n1"}, "env": {"SENDER_BATCH_SIZE": "100"}},
		                "influxdb": {"storageSize": "50Gi", "image": "example.org/influxdb:2.7.12"}}`,
		"roles": `{"grafana": "storage"}`,
	})
	checks := map[string]func(m componenttest.Manifest) (any, any){
		"Deployment/smartx/sender": func(m componenttest.Manifest) (any, any) {
			return componenttest.Field(m.Object, "spec", "template", "spec", "nodeSelector", "kubernetes.io/hostname"), "n1"
		},
		"ConfigMap/smartx/sender-env": func(m componenttest.Manifest) (any, any) {
			return componenttest.Field(m.Object, "data", "SENDER_BATCH_SIZE"), "100"
		},
		"StatefulSet/smartx/influxdb": func(m componenttest.Manifest) (any, any) {
			return componenttest.Field(m.Object, "spec", "volumeClaimTemplates", 0, "spec", "resources", "requests", "storage"), "50Gi"
		},
		"Deployment/smartx/grafana": func(m componenttest.Manifest) (any, any) {
			return componenttest.Field(m.Object, "spec", "template", "spec", "nodeSelector", workload.DefaultRoleLabel), "storage"
		},
	}
	seen := 0
	for _, m := range ms {
		if check, ok := checks[m.ID()]; ok {
			seen++
			if got, want := check(m); got != want {
				t.Errorf("%s: got %v, want %v", m.ID(), got, want)
			}
		}
	}
	if seen != len(checks) {
		t.Errorf("found %d of %d objects", seen, len(checks))
	}
}

// Bad config is refused with an error naming its config key.
func TestBadConfigIsRejected(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra map[string]string
		key   string
	}{
		{"tagged image", map[string]string{"senderImage": "example.org/sender:latest"}, "smartx:senderImage"},
		{"no image", map[string]string{"hubbridgeImage": ""}, "smartx:hubbridgeImage"},
		{"hub mode", map[string]string{"hubMode": "cloud"}, "smartx:hubMode"},
		{"brokers", map[string]string{"kafkaBrokers": "2"}, "smartx:kafkaBrokers"},
		{"brokers not a number", map[string]string{"kafkaBrokers": "three"}, "smartx:kafkaBrokers"},
		{"brokers with a suffix", map[string]string{"kafkaBrokers": "3x"}, "smartx:kafkaBrokers"},
		{"brokers empty", map[string]string{"kafkaBrokers": ""}, "smartx:kafkaBrokers"},
		{"brokers negative", map[string]string{"kafkaBrokers": "-1"}, "smartx:kafkaBrokers"},
		{"brokers a fraction", map[string]string{"kafkaBrokers": "3.0"}, "smartx:kafkaBrokers"},
		{"image tags", map[string]string{"allowImageTags": "yes"}, "smartx:allowImageTags"},
		{"components", map[string]string{"components": `{"sender": {"replicas": "many"}}`}, "smartx:components"},
		{"roles", map[string]string{"roles": `["sender"]`}, "smartx:roles"},
		{"no inference image", map[string]string{"inferenceImage": ""}, "smartx:inferenceImage"},
		{"no trainer image", map[string]string{"trainerImage": ""}, "smartx:trainerImage"},
		{"tagged controller image", map[string]string{"controllerImage": "example.org/controller:1"}, "smartx:controllerImage"},
		{"no air conditioners", map[string]string{"airConditioners": "[]"}, "smartx:airConditioners"},
		{"air conditioners not a list", map[string]string{"airConditioners": "pi-1"}, "smartx:airConditioners"},
		{"bad air conditioner", map[string]string{"airConditioners": `["pi 1"]`}, "smartx:airConditioners"},
		{"controller", map[string]string{"controller": "yes"}, "smartx:controller"},
		{"trainer apart from inference", map[string]string{"roles": `{"trainer": "storage"}`}, "smartx:roles"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, keys := Config(tc.extra)
			_, err := pulumitest.Run(program.Project, "test", cfg, keys, program.Run)
			if err == nil {
				t.Fatal("program accepted bad config")
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Errorf("error %q does not name %s", err, tc.key)
			}
		})
	}
}

// kafkaBrokers is read strictly as a decimal integer; white space around it is
// trimmed (a value set with `pulumi config set` may carry it), nothing else is.
func TestKafkaBrokersParsing(t *testing.T) {
	for _, tc := range []struct {
		value   string
		brokers int64  // the StatefulSet's replicas when accepted
		err     string // the error's text after the key, when refused
	}{
		{value: "3", brokers: 3},
		{value: " 3 ", brokers: 3},
		{value: "1\n", brokers: 1},
		{value: "+3", brokers: 3},
		{value: "3x", err: `"3x" is not an integer`},
		{value: "", err: `"" is not an integer`},
		{value: "3 3", err: `"3 3" is not an integer`},
		{value: "0x3", err: `"0x3" is not an integer`},
		{value: "-1", err: "KafkaBrokers -1: want 1 or 3"},
	} {
		t.Run(fmt.Sprintf("%q", tc.value), func(t *testing.T) {
			cfg, keys := Config(map[string]string{"kafkaBrokers": tc.value})
			m, err := pulumitest.Run(program.Project, "test", cfg, keys, program.Run)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), "config smartx:kafkaBrokers: ") || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want smartx:kafkaBrokers: ...%s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("program: %v", err)
			}
			ms, err := componenttest.Manifests(m.Resources())
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, mf := range ms {
				if mf.ID() == "StatefulSet/smartx/kafka" {
					found = true
					if got := componenttest.Field(mf.Object, "spec", "replicas"); got != tc.brokers {
						t.Errorf("brokers = %v, want %d", got, tc.brokers)
					}
				}
			}
			if !found {
				t.Error("no Kafka StatefulSet")
			}
		})
	}
}

// Pulumi.yaml declares every key the program reads, with the program's defaults.
func TestProjectFileDeclaresConfig(t *testing.T) {
	proj, err := workspace.LoadProject(filepath.Join("..", "..", "Pulumi.yaml"))
	if err != nil {
		t.Fatalf("load Pulumi.yaml: %v", err)
	}
	if proj.Name != program.Project || proj.Main != "stacks/" || proj.StackConfigDir != "stacks" {
		t.Errorf("project %q main %q stackConfigDir %q", proj.Name, proj.Main, proj.StackConfigDir)
	}
	for k, def := range program.Defaults {
		c, ok := proj.Config[k]
		if !ok {
			t.Errorf("Pulumi.yaml does not declare %s", k)
			continue
		}
		if c.Description == "" {
			t.Errorf("%s has no description", k)
		}
		if got := fmt.Sprint(c.Default); got != def {
			t.Errorf("%s default %q, program's %q", k, got, def)
		}
	}
	for _, k := range append(slices.Clone(program.ObjectKeys), program.SecretKeys...) {
		if c, ok := proj.Config[k]; !ok || c.Description == "" {
			t.Errorf("Pulumi.yaml does not describe %s", k)
		}
	}
	for _, k := range program.ObjectKeys {
		if got := fmt.Sprint(proj.Config[k].Default); got != "[]" && got != "map[]" {
			t.Errorf("%s default %s, want empty", k, got)
		}
	}
	for _, k := range program.SecretKeys {
		if !proj.Config[k].Secret {
			t.Errorf("%s is not declared secret", k)
		}
	}
	// The keys the program's errors name for smartenergy's fields are real keys.
	for field, k := range program.ArgKeys {
		if _, ok := proj.Config[k]; !ok {
			t.Errorf("ArgKeys maps %s to %s, which Pulumi.yaml does not declare", field, k)
		}
	}
	if _, err := workspace.LoadProjectStack(nil, proj, filepath.Join("..", "Pulumi.local.yaml")); err != nil {
		t.Errorf("load Pulumi.local.yaml: %v", err)
	}
}

// BenchmarkProgram measures evaluating the full stack program under mocks, per hub
// mode, and reports the Pulumi resources and Kubernetes objects it declares.
func BenchmarkProgram(b *testing.B) {
	for _, mode := range []string{"standalone", "edgex"} {
		b.Run(mode, func(b *testing.B) {
			var rs []pulumitest.Resource
			var ms []componenttest.Manifest
			for b.Loop() {
				rs, ms, _ = run(b, map[string]string{"hubMode": mode})
			}
			b.ReportMetric(float64(len(rs)), "resources")
			b.ReportMetric(float64(len(ms)), "k8s-objects")
		})
	}
}

// Every setting the stack gives our functions is one their --help documents: the
// components know the functions only by these names, so a rename must fail here.
func TestFunctionSettingsAreDocumented(t *testing.T) {
	_, ms, _ := run(t, map[string]string{"hubMode": "edgex"})
	for _, fn := range []string{"hubbridge", "sender", "inference", "trainer", "controller"} {
		bin := filepath.Join(t.TempDir(), fn)
		build := exec.Command("go", "build", "-o", bin, "./functions/"+fn)
		build.Dir = filepath.Join("..", "..")
		build.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", fn, err, out)
		}
		help, _ := exec.Command(bin, "--help").CombinedOutput()
		documented := map[string]bool{}
		for _, m := range regexp.MustCompile(`\[([A-Z][A-Z0-9_]*)\]`).FindAllStringSubmatch(string(help), -1) {
			documented[m[1]] = true
		}
		if len(documented) == 0 {
			t.Fatalf("%s --help documents no environment variables:\n%s", fn, help)
		}
		var cm componenttest.Manifest
		for _, m := range ms {
			if m.ID() == "ConfigMap/smartx/"+fn+"-env" {
				cm = m
			}
		}
		data, _ := componenttest.Field(cm.Object, "data").(map[string]any)
		if len(data) == 0 {
			t.Fatalf("no settings for %s", fn)
		}
		for k := range data {
			if !documented[k] {
				t.Errorf("%s: setting %s is not in its --help", fn, k)
			}
		}
	}
}

// With smartx:controller false the stack needs no air conditioners and declares no
// controller (controllerUrl is empty); the trainer and inference stay, and the
// controller's peers do not admit it.
func TestControllerOff(t *testing.T) {
	cfg, keys := Config(map[string]string{"controller": "false"})
	delete(cfg, "smartx:airConditioners")
	var url string
	done := make(chan struct{})
	m, err := pulumitest.Run(program.Project, "test", cfg, keys, func(ctx *pulumi.Context) error {
		se, err := program.Declare(ctx)
		if err != nil {
			return err
		}
		se.ControllerURL.ApplyT(func(u string) string { url = u; close(done); return u })
		return nil
	})
	if err != nil {
		t.Fatalf("program: %v", err)
	}
	<-done
	if url != "" {
		t.Errorf("controllerUrl %q, want empty", url)
	}
	ms, err := componenttest.Manifests(m.Resources())
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range ms {
		found[mf.Kind+"/"+mf.Name] = true
		if mf.Name == "controller" || strings.HasPrefix(mf.Name, "controller-") {
			t.Errorf("declared %s", mf.ID())
		}
	}
	for _, want := range []string{"CronJob/trainer", "Deployment/inference", "PersistentVolumeClaim/models"} {
		if !found[want] {
			t.Errorf("no %s", want)
		}
	}
}

// `make images` sets smartx:<name>Image for every function stacks/images/images.sh
// builds: each is a key the program reads, and each function with a component in
// components/ is built.
func TestImageKeysMatchImagesScript(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "images", "images.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^functions=\(([^)]*)\)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("images.sh has no functions=(...) line")
	}
	built := strings.Fields(string(m[1]))
	for _, f := range built {
		if _, ok := program.Defaults[f+"Image"]; !ok {
			t.Errorf("images.sh builds %s, but the program reads no smartx:%sImage", f, f)
		}
	}
	for k := range program.Defaults {
		if f, ok := strings.CutSuffix(k, "Image"); ok && !slices.Contains(built, f) {
			t.Errorf("the program reads smartx:%s, which images.sh does not build", k)
		}
	}
	entries, err := os.ReadDir(filepath.Join("..", "..", "functions"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join("..", "..", "components", e.Name())); e.IsDir() && err == nil && !slices.Contains(built, e.Name()) {
			t.Errorf("functions/%s has a component but images.sh does not build it", e.Name())
		}
	}
}
