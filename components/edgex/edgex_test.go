package edgex_test

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/edgex"
	"github.com/smartx-team/overcloud/components/workload"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

// Only core-data and core-command are open beyond EdgeX; the database and the bus
// accept their listed peers only.
func TestPolicies(t *testing.T) {
	m, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		_, err := edgex.New(ctx, "edgex", &edgex.Args{
			Base:             workload.Base{Namespace: "smartx"},
			PostgresPassword: pulumi.ToSecret(pulumi.String("pg")).(pulumi.StringOutput),
			BusClients:       []string{"hubbridge"},
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := componenttest.Manifests(m.Resources())
	if err != nil {
		t.Fatal(err)
	}
	open := map[string]bool{}
	peers := map[string][]string{}
	for _, mf := range ms {
		if mf.Kind != "NetworkPolicy" {
			continue
		}
		rules, _ := mf.Object["spec"].(map[string]any)["ingress"].([]any)
		for _, r := range rules {
			from, ok := r.(map[string]any)["from"].([]any)
			if !ok {
				open[mf.Name] = true
			}
			for _, f := range from {
				app := f.(map[string]any)["podSelector"].(map[string]any)["matchLabels"].(map[string]any)[workload.LabelName]
				peers[mf.Name] = append(peers[mf.Name], fmt.Sprint(app))
			}
		}
	}
	// core-command alone may reach the Pis' command endpoints, outside the cluster.
	toDevices := map[string]bool{}
	for _, mf := range ms {
		if mf.Kind != "NetworkPolicy" {
			continue
		}
		rules, _ := mf.Object["spec"].(map[string]any)["egress"].([]any)
		for _, r := range rules {
			rule := r.(map[string]any)
			if _, scoped := rule["to"]; scoped {
				continue
			}
			for _, p := range rule["ports"].([]any) {
				if fmt.Sprint(p.(map[string]any)["port"]) == fmt.Sprint(edgex.DeviceCommandPort) {
					toDevices[mf.Name] = true
				}
			}
		}
	}
	if fmt.Sprint(toDevices) != "map[edgex-core-command:true]" {
		t.Errorf("egress to the devices' command port from %v, want core-command only", toDevices)
	}
	if fmt.Sprint(open) != "map[edgex-core-command:true edgex-core-data:true]" {
		t.Errorf("open to any address: %v", open)
	}
	if got := fmt.Sprint(peers["edgex-mqtt"]); got != "[edgex-core-data edgex-core-metadata edgex-core-command hubbridge]" {
		t.Errorf("bus peers %s", got)
	}
	if got := fmt.Sprint(peers["edgex-postgres"]); got != "[edgex-core-data edgex-core-metadata edgex-core-command]" {
		t.Errorf("database peers %s", got)
	}
}

// Every core service reads the component's common configuration, mounted from its
// ConfigMap, and publishes on the bus with QoS 1, so that the broker keeps the events
// for the hub bridge's persistent session while the bridge is away. The file holds no
// password: that comes from the Secret.
func TestCommonConfig(t *testing.T) {
	var common struct {
		All struct {
			Writable struct {
				InsecureSecrets struct {
					DB struct {
						SecretData map[string]string `yaml:"SecretData"`
					} `yaml:"DB"`
				} `yaml:"InsecureSecrets"`
			} `yaml:"Writable"`
			MessageBus struct {
				Optional map[string]string `yaml:"Optional"`
			} `yaml:"MessageBus"`
		} `yaml:"all-services"`
	}
	if err := yaml.Unmarshal([]byte(edgex.CommonConfig), &common); err != nil {
		t.Fatal(err)
	}
	if qos := common.All.MessageBus.Optional["Qos"]; qos != "1" {
		t.Errorf("common configuration: MessageBus.Optional.Qos %q, want 1", qos)
	}
	if pw := common.All.Writable.InsecureSecrets.DB.SecretData["password"]; pw != "" {
		t.Error("common configuration holds a database password")
	}

	m, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		_, err := edgex.New(ctx, "edgex", &edgex.Args{
			Base:             workload.Base{Namespace: "smartx"},
			PostgresPassword: pulumi.ToSecret(pulumi.String("pg")).(pulumi.StringOutput),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := componenttest.Manifests(m.Resources())
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"core-data", "core-metadata", "core-command"} {
		name := "edgex-" + svc
		data := map[string]any{} // its env and files ConfigMaps
		for _, mf := range ms {
			if mf.Kind == "ConfigMap" && strings.HasPrefix(mf.Name, name+"-") {
				d, _ := mf.Object["data"].(map[string]any)
				maps.Copy(data, d)
			}
		}
		if data["EDGEX_COMMON_CONFIG"] != edgex.CommonConfigPath {
			t.Errorf("%s: EDGEX_COMMON_CONFIG %v, want %s", svc, data["EDGEX_COMMON_CONFIG"], edgex.CommonConfigPath)
		}
		mounted := false
		for _, v := range data {
			mounted = mounted || v == edgex.CommonConfig
		}
		if !mounted {
			t.Errorf("%s: its ConfigMap does not carry the common configuration", svc)
		}
		if _, ok := data[edgex.DatabasePasswordEnv]; ok {
			t.Errorf("%s: the database password is in a ConfigMap", svc)
		}
		// Only core-data gets the larger pool: PostgreSQL's connections are shared.
		wantPool := map[string]any{"core-data": strconv.Itoa(edgex.CoreDataMaxConns)}[svc]
		if got := data["DATABASE_MAXCONNS"]; got != wantPool {
			t.Errorf("%s: DATABASE_MAXCONNS %v, want %v", svc, got, wantPool)
		}
	}
}

func TestInvalidArgsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		args *edgex.Args
		want string
	}{
		{"nil args", nil, "nil args"},
		{"no namespace", &edgex.Args{PostgresPassword: pulumi.ToSecret(pulumi.String("pg")).(pulumi.StringOutput)}, "Namespace is required"},
		{"no password", &edgex.Args{Base: workload.Base{Namespace: "smartx"}}, "PostgresPassword is required"},
		// Several missing: always the first in declaration order.
		{"nothing", &edgex.Args{}, "Namespace is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
				_, err := edgex.New(ctx, "edgex", tc.args)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}
