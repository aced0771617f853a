package smartenergy_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/smartenergy"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

func validArgs() *smartenergy.Args {
	s := func(v string) pulumi.StringInput { return pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput) }
	return &smartenergy.Args{
		Images: smartenergy.Images{
			HubBridge: "r/hub@sha256:aa", Sender: "r/sender@sha256:bb",
			Inference: "r/inference@sha256:cc", Trainer: "r/trainer@sha256:dd", Controller: "r/controller@sha256:ee",
		},
		AirConditioners: []string{"pi-1", "pi-2"},
		Secrets: smartenergy.Secrets{
			InfluxPassword: s("a"), InfluxToken: s("b"), MongoPassword: s("c"),
			GrafanaPassword: s("d"), DeviceTokens: s(`{}`), PostgresPassword: s("e"),
		},
	}
}

// Each bad Args is refused with an *ArgError whose Field, and message, name the bad
// field; key "" is a valid Args.
func TestArgsValidation(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*smartenergy.Args)
		key    string
	}{
		"defaults":                           {func(*smartenergy.Args) {}, ""},
		"edgex":                              {func(a *smartenergy.Args) { a.HubMode = smartenergy.HubEdgeX }, ""},
		"edgex without pg":                   {func(a *smartenergy.Args) { a.HubMode = smartenergy.HubEdgeX; a.Secrets.PostgresPassword = nil }, "Secrets.PostgresPassword"},
		"unknown mode":                       {func(a *smartenergy.Args) { a.HubMode = "cloud" }, "HubMode"},
		"tag":                                {func(a *smartenergy.Args) { a.Images.Sender = "r/sender:1.0" }, "Images.Sender"},
		"tag allowed":                        {func(a *smartenergy.Args) { a.Images.Sender = "r/sender:1.0"; a.AllowTags = true }, ""},
		"no image":                           {func(a *smartenergy.Args) { a.Images.HubBridge = "" }, "Images.HubBridge"},
		"two brokers":                        {func(a *smartenergy.Args) { a.KafkaBrokers = 2 }, "KafkaBrokers"},
		"no device tokens":                   {func(a *smartenergy.Args) { a.Secrets.DeviceTokens = nil }, "Secrets.DeviceTokens"},
		"no influx token":                    {func(a *smartenergy.Args) { a.Secrets.InfluxToken = nil }, "Secrets.InfluxToken"},
		"no inference":                       {func(a *smartenergy.Args) { a.Images.Inference = "" }, "Images.Inference"},
		"no trainer":                         {func(a *smartenergy.Args) { a.Images.Trainer = "" }, "Images.Trainer"},
		"no controller":                      {func(a *smartenergy.Args) { a.Images.Controller = "" }, "Images.Controller"},
		"tagged trainer":                     {func(a *smartenergy.Args) { a.Images.Trainer = "r/trainer:1" }, "Images.Trainer"},
		"no air conditioners":                {func(a *smartenergy.Args) { a.AirConditioners = nil }, "AirConditioners"},
		"no controller, no air conditioners": {func(a *smartenergy.Args) { a.AirConditioners, a.NoController = nil, true }, ""},
		"bad air conditioner":                {func(a *smartenergy.Args) { a.AirConditioners = []string{"pi 1"} }, "AirConditioners"},
		"air conditioner twice":              {func(a *smartenergy.Args) { a.AirConditioners = []string{"pi-1", "pi-1"} }, "AirConditioners"},
		"bad air conditioner, no controller": {func(a *smartenergy.Args) { a.AirConditioners, a.NoController = []string{"pi,1"}, true }, "AirConditioners"},
		"trainer moved alone":                {func(a *smartenergy.Args) { a.Roles = map[string]string{"trainer": "storage"} }, "Roles"},
		"inference moved alone":              {func(a *smartenergy.Args) { a.Roles = map[string]string{"inference": "hub"} }, "Roles"},
		"both moved":                         {func(a *smartenergy.Args) { a.Roles = map[string]string{"trainer": "storage", "inference": "storage"} }, ""},
		"dashboard without its image": {func(a *smartenergy.Args) {
			a.Secrets.DashboardUsers = pulumi.ToSecret(pulumi.String("kim:$2y$10$x")).(pulumi.StringOutput)
		}, "Images.Dashboard"},
		"dashboard": {func(a *smartenergy.Args) {
			a.Secrets.DashboardUsers = pulumi.ToSecret(pulumi.String("kim:$2y$10$x")).(pulumi.StringOutput)
			a.Images.Dashboard = "r/dashboard@sha256:ff"
		}, ""},
		"optional tokens": {func(a *smartenergy.Args) {
			a.Secrets.ControllerAPIToken = pulumi.ToSecret(pulumi.String("x")).(pulumi.StringOutput)
			a.Secrets.CommandToken = pulumi.ToSecret(pulumi.String("y")).(pulumi.StringOutput)
		}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			args := validArgs()
			tc.mutate(args)
			m, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
				_, err := smartenergy.New(ctx, "se", args)
				return err
			})
			if tc.key == "" {
				if err != nil {
					t.Fatalf("valid args refused: %v", err)
				}
				if len(pulumitest.Of(m.Resources(), "kubernetes:core/v1:Namespace")) != 1 {
					t.Error("no namespace declared")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("err = %v, want one naming %s", err, tc.key)
			}
			var bad *smartenergy.ArgError
			if !errors.As(err, &bad) || bad.Field != tc.key {
				t.Errorf("err = %v (%T), want an *ArgError of field %s", err, err, tc.key)
			}
		})
	}
}

// Two instances in one stack, in different namespaces, declare no URN twice and keep
// their Kubernetes object names inside their namespaces.
func TestTwoInstancesInOneStack(t *testing.T) {
	m, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		for _, in := range []struct{ name, namespace, mode string }{
			{"energy-a", "smartx-a", smartenergy.HubStandalone},
			{"energy-b", "smartx-b", smartenergy.HubEdgeX},
		} {
			args := validArgs()
			args.Namespace, args.HubMode = in.namespace, in.mode
			if _, err := smartenergy.New(ctx, in.name, args); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("two instances: %v", err)
	}
	rs := m.Resources()
	seen := map[string]bool{}
	for _, r := range rs {
		if seen[r.Key()] {
			t.Errorf("%s declared twice", r.Key())
		}
		seen[r.Key()] = true
	}
	ms, err := componenttest.Manifests(rs)
	if err != nil {
		t.Fatal(err)
	}
	byNamespace := map[string]map[string]bool{}
	for _, mf := range ms {
		if byNamespace[mf.Namespace] == nil {
			byNamespace[mf.Namespace] = map[string]bool{}
		}
		byNamespace[mf.Namespace][mf.Kind+"/"+mf.Name] = true
	}
	for _, ns := range []string{"smartx-a", "smartx-b"} {
		for _, want := range []string{"Service/kafka", "Deployment/hubbridge", "Deployment/sender", "NetworkPolicy/default-deny", "Secret/hubbridge-mongo",
			"CronJob/trainer", "Deployment/inference", "Deployment/controller", "PersistentVolumeClaim/models"} {
			if !byNamespace[ns][want] {
				t.Errorf("namespace %s has no %s", ns, want)
			}
		}
	}
	if !byNamespace["smartx-b"]["Deployment/edgex-core-data"] || byNamespace["smartx-a"]["Deployment/edgex-core-data"] {
		t.Error("EdgeX is not in the EdgeX instance only")
	}
}

// With several keys wrong, the error names the same one on every run (validation
// does not follow map order).
func TestValidationIsStable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*smartenergy.Args)
		key    string
	}{
		{"all images", func(a *smartenergy.Args) { a.Images = smartenergy.Images{} }, "Images.Controller"},
		{"two images", func(a *smartenergy.Args) { a.Images.Sender, a.Images.Inference = "", "" }, "Images.Inference"},
		{"all tagged", func(a *smartenergy.Args) {
			a.Images = smartenergy.Images{HubBridge: "r/hub:1", Sender: "r/sender:1", Inference: "r/i:1", Trainer: "r/t:1", Controller: "r/c:1"}
		}, "Images.Controller"},
		{"images before air conditioners", func(a *smartenergy.Args) { a.Images.Trainer, a.AirConditioners = "", nil }, "Images.Trainer"},
		{"all secrets", func(a *smartenergy.Args) { a.Secrets = smartenergy.Secrets{} }, "Secrets.DeviceTokens"},
		{"two secrets", func(a *smartenergy.Args) { a.Secrets.MongoPassword, a.Secrets.InfluxToken = nil, nil }, "Secrets.InfluxToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var first string
			for i := range 20 {
				args := validArgs()
				tc.mutate(args)
				_, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
					_, err := smartenergy.New(ctx, "se", args)
					return err
				})
				if err == nil {
					t.Fatal("accepted invalid args")
				}
				if i == 0 {
					first = err.Error()
					if !strings.Contains(first, tc.key) {
						t.Fatalf("error %q does not name %s", first, tc.key)
					}
				} else if err.Error() != first {
					t.Fatalf("run %d: error %q, run 0: %q", i, err, first)
				}
			}
		})
	}
}

// declare runs New("se") with validArgs changed by mutate and returns its manifests
// by "Kind/name" and the value of its ControllerURL.
func declare(t *testing.T, mutate func(*smartenergy.Args)) (map[string]componenttest.Manifest, string) {
	t.Helper()
	args := validArgs()
	mutate(args)
	urls := make(chan string, 1)
	m, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		se, err := smartenergy.New(ctx, "se", args)
		if err != nil {
			return err
		}
		se.ControllerURL.ApplyT(func(u string) string { urls <- u; return u })
		return nil
	})
	if err != nil {
		t.Fatalf("declare: %v", err)
	}
	ms, err := componenttest.Manifests(m.Resources())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]componenttest.Manifest{}
	for _, mf := range ms {
		byName[mf.Kind+"/"+mf.Name] = mf
	}
	return byName, <-urls
}

// claimMounts lists a pod spec's claim volumes as "claim at path (ro|rw)".
func claimMounts(pod any) []string {
	claims := map[string]string{}
	vols, _ := componenttest.Field(pod, "volumes").([]any)
	for _, v := range vols {
		if c := componenttest.Field(v, "persistentVolumeClaim", "claimName"); c != nil {
			claims[fmt.Sprint(componenttest.Field(v, "name"))] = fmt.Sprint(c)
		}
	}
	var out []string
	mounts, _ := componenttest.Field(pod, "containers", 0, "volumeMounts").([]any)
	for _, mnt := range mounts {
		if c, ok := claims[fmt.Sprint(componenttest.Field(mnt, "name"))]; ok {
			mode := "rw"
			if componenttest.Field(mnt, "readOnly") == true {
				mode = "ro"
			}
			out = append(out, fmt.Sprintf("%s at %v (%s)", c, componenttest.Field(mnt, "mountPath"), mode))
		}
	}
	return out
}

// The trainer writes the one model claim and inference reads it, on one role; they
// move together.
func TestModelClaimSharedOnOneRole(t *testing.T) {
	for _, tc := range []struct {
		name  string
		roles map[string]string
		role  string
	}{
		{"default", nil, "tower"},
		{"moved together", map[string]string{"trainer": "storage", "inference": "storage"}, "storage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := declare(t, func(a *smartenergy.Args) { a.Roles = tc.roles })
			pvc, ok := m["PersistentVolumeClaim/models"]
			if !ok {
				t.Fatal("no PersistentVolumeClaim models")
			}
			if got := componenttest.Field(pvc.Object, "spec", "accessModes", 0); got != "ReadWriteOnce" {
				t.Errorf("claim access mode %v", got)
			}
			trainerPod := componenttest.Field(m["CronJob/trainer"].Object, "spec", "jobTemplate", "spec", "template", "spec")
			inferencePod := componenttest.Field(m["Deployment/inference"].Object, "spec", "template", "spec")
			if got := claimMounts(trainerPod); !slices.Equal(got, []string{"models at /models (rw)"}) {
				t.Errorf("trainer claims %v", got)
			}
			if got := claimMounts(inferencePod); !slices.Equal(got, []string{"models at /models (ro)"}) {
				t.Errorf("inference claims %v", got)
			}
			for n, pod := range map[string]any{"trainer": trainerPod, "inference": inferencePod} {
				if got := componenttest.Field(pod, "nodeSelector", "smartx.io/role"); got != tc.role {
					t.Errorf("%s on role %v, want %s", n, got, tc.role)
				}
			}
			env := componenttest.Field(m["ConfigMap/trainer-env"].Object, "data")
			if componenttest.Field(env, "TRAINER_MODEL_NAME") != smartenergy.ModelName || componenttest.Field(env, "TRAINER_INFLUX_URL") != "http://influxdb.smartx.svc.cluster.local:8086" {
				t.Errorf("trainer env %v", env)
			}
		})
	}
}

// The controller sends set-points to the hub bridge in standalone mode and to EdgeX
// core-command in EdgeX mode, and each peer's policy admits exactly what it needs.
func TestControllerWiring(t *testing.T) {
	for _, tc := range []struct {
		mode, commandURL, commandPeer string
	}{
		{smartenergy.HubStandalone, "http://hubbridge.smartx.svc.cluster.local:59880", "hubbridge:TCP 59880"},
		{smartenergy.HubEdgeX, "http://edgex-core-command.smartx.svc.cluster.local:59882", "edgex-core-command:TCP 59882"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			m, url := declare(t, func(a *smartenergy.Args) { a.HubMode = tc.mode })
			if url != "http://controller.smartx.svc.cluster.local:8080" {
				t.Errorf("ControllerURL %q", url)
			}
			env := componenttest.Field(m["ConfigMap/controller-env"].Object, "data")
			for k, want := range map[string]string{
				"CONTROLLER_COMMAND_URL": tc.commandURL, "CONTROLLER_DEVICES": "pi-1,pi-2",
				"CONTROLLER_INFERENCE_URL": "http://inference.smartx.svc.cluster.local:8501",
				"CONTROLLER_INFLUX_URL":    "http://influxdb.smartx.svc.cluster.local:8086", "CONTROLLER_INFLUX_BUCKET": "Sensordata",
				"CONTROLLER_MODEL_NAME": smartenergy.ModelName,
			} {
				if got := componenttest.Field(env, k); got != want {
					t.Errorf("%s = %v, want %s", k, got, want)
				}
			}
			// The controller shares the hub bridge's MongoDB URI Secret.
			var secrets []string
			vols, _ := componenttest.Field(m["Deployment/controller"].Object, "spec", "template", "spec", "volumes").([]any)
			for _, v := range vols {
				if s := componenttest.Field(v, "secret", "secretName"); s != nil {
					secrets = append(secrets, fmt.Sprint(s))
				}
			}
			if !slices.Equal(secrets, []string{"influxdb-token", "hubbridge-mongo"}) {
				t.Errorf("controller Secrets %v", secrets)
			}
			policy := func(name, dir, peer string) []string {
				np, ok := m["NetworkPolicy/"+name]
				if !ok {
					t.Fatalf("no NetworkPolicy %s", name)
				}
				return componenttest.PolicyRules(np, dir, peer)
			}
			for _, c := range []struct {
				name, dir, peer string
				want            []string
			}{
				{"controller", "ingress", "from", []string{"dashboard:TCP 8080"}},
				{"controller", "egress", "to", []string{"*:TCP 53,UDP 53", "influxdb:TCP 8086", "inference:TCP 8501", "mongodb:TCP 27017", tc.commandPeer}},
				{"inference", "ingress", "from", []string{"controller:TCP 8501"}},
				{"inference", "egress", "to", []string{"*:TCP 53,UDP 53"}},
				{"trainer", "ingress", "from", nil},
				{"trainer", "egress", "to", []string{"*:TCP 53,UDP 53", "influxdb:TCP 8086"}},
				{"influxdb", "ingress", "from", []string{"sender:TCP 8086", "grafana:TCP 8086", "trainer:TCP 8086", "controller:TCP 8086"}},
				{"mongodb", "ingress", "from", []string{"hubbridge:TCP 27017", "controller:TCP 27017"}},
			} {
				if got := policy(c.name, c.dir, c.peer); !slices.Equal(got, c.want) {
					t.Errorf("%s %s %v, want %v", c.name, c.dir, got, c.want)
				}
			}
			// The command target admits any address on its port (devices post to it
			// from outside the cluster), the controller included.
			target, port := "hubbridge", "59880"
			if tc.mode == smartenergy.HubEdgeX {
				target, port = "edgex-core-command", "59882"
			}
			if got := policy(target, "ingress", "from"); !slices.Contains(got, "*:TCP "+port) {
				t.Errorf("%s ingress %v does not admit the controller on %s", target, got, port)
			}
		})
	}
}

// Without the controller nothing of it is declared and ControllerURL is empty; the
// trainer and inference stay.
func TestNoController(t *testing.T) {
	m, url := declare(t, func(a *smartenergy.Args) { a.NoController, a.AirConditioners = true, nil })
	if url != "" {
		t.Errorf("ControllerURL %q, want empty", url)
	}
	for id := range m {
		if strings.HasSuffix(id, "/controller") || strings.HasPrefix(id, "ConfigMap/controller") {
			t.Errorf("declared %s", id)
		}
	}
	for _, want := range []string{"CronJob/trainer", "Deployment/inference", "PersistentVolumeClaim/models"} {
		if _, ok := m[want]; !ok {
			t.Errorf("no %s", want)
		}
	}
	for _, peer := range []string{"influxdb", "mongodb"} {
		for _, r := range componenttest.PolicyRules(m["NetworkPolicy/"+peer], "ingress", "from") {
			if strings.HasPrefix(r, "controller:") {
				t.Errorf("%s admits the controller, which is not deployed", peer)
			}
		}
	}
}

// The optional tokens reach only the controller's Secret; a ConfigMap names only
// their files.
func TestControllerTokens(t *testing.T) {
	m, _ := declare(t, func(a *smartenergy.Args) {
		a.Secrets.ControllerAPIToken = pulumi.ToSecret(pulumi.String("api-7e7e")).(pulumi.StringOutput)
		a.Secrets.CommandToken = pulumi.ToSecret(pulumi.String("cmd-8f8f")).(pulumi.StringOutput)
	})
	for id, mf := range m {
		b := fmt.Sprint(mf.Object)
		if (strings.Contains(b, "api-7e7e") || strings.Contains(b, "cmd-8f8f")) && id != "Secret/controller-tokens" {
			t.Errorf("%s holds a token", id)
		}
	}
	data := componenttest.Field(m["Secret/controller-tokens"].Object, "stringData")
	if componenttest.Field(data, "api-token") != "api-7e7e" || componenttest.Field(data, "command-token") != "cmd-8f8f" {
		t.Errorf("tokens Secret %v", data)
	}
	env := componenttest.Field(m["ConfigMap/controller-env"].Object, "data")
	if componenttest.Field(env, "CONTROLLER_API_TOKEN_FILE") == nil || componenttest.Field(env, "CONTROLLER_COMMAND_TOKEN_FILE") == nil {
		t.Errorf("controller env %v", env)
	}
}

// With users, the dashboard is deployed and every part it reads admits it: InfluxDB,
// the controller's API, and the admin ports of the hub bridge and the sender. Without
// users, none of that exists.
func TestDashboardWiring(t *testing.T) {
	withUsers := func(a *smartenergy.Args) {
		a.Secrets.DashboardUsers = pulumi.ToSecret(pulumi.String("kim:$2y$10$x")).(pulumi.StringOutput)
		a.Images.Dashboard = "r/dashboard@sha256:ff"
		a.Secrets.ControllerAPIToken = pulumi.ToSecret(pulumi.String("api-token-1")).(pulumi.StringOutput)
	}
	admits := func(m map[string]componenttest.Manifest, peer, rule string) bool {
		return slices.Contains(componenttest.PolicyRules(m["NetworkPolicy/"+peer], "ingress", "from"), rule)
	}
	m, _ := declare(t, withUsers)
	if _, ok := m["Deployment/dashboard"]; !ok {
		t.Fatal("no dashboard Deployment")
	}
	for peer, rule := range map[string]string{
		"influxdb": "dashboard:TCP 8086", "controller": "dashboard:TCP 8080",
		"hubbridge": "dashboard:TCP 9102", "sender": "dashboard:TCP 9103",
	} {
		if !admits(m, peer, rule) {
			t.Errorf("%s does not admit %s: %v", peer, rule, componenttest.PolicyRules(m["NetworkPolicy/"+peer], "ingress", "from"))
		}
	}
	env := componenttest.Field(m["ConfigMap/dashboard-env"].Object, "data").(map[string]any)
	for k, want := range map[string]string{
		"DASHBOARD_CONTROLLER_URL":        "http://controller.smartx.svc.cluster.local:8080",
		"DASHBOARD_HUB_METRICS_URL":       "http://hubbridge.smartx.svc.cluster.local:9102/metrics",
		"DASHBOARD_SENDER_METRICS_URL":    "http://sender.smartx.svc.cluster.local:9103/metrics",
		"DASHBOARD_CONTROLLER_TOKEN_FILE": "/var/run/secrets/smartx/dashboard/controller-token",
	} {
		if env[k] != want {
			t.Errorf("%s = %v, want %s", k, env[k], want)
		}
	}

	m, _ = declare(t, func(*smartenergy.Args) {})
	for id := range m {
		if strings.Contains(id, "/dashboard") {
			t.Errorf("declared %s without users", id)
		}
	}
	for _, peer := range []string{"influxdb", "hubbridge", "sender"} {
		for _, r := range componenttest.PolicyRules(m["NetworkPolicy/"+peer], "ingress", "from") {
			if strings.HasPrefix(r, "dashboard:") {
				t.Errorf("%s admits the dashboard, which is not deployed", peer)
			}
		}
	}
}
