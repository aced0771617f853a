package edgex_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

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

// Every core service publishes on the bus with QoS 1, so that the broker keeps the
// events for the hub bridge's persistent session while the bridge is away.
func TestBusQoS(t *testing.T) {
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
	qos := map[string]any{}
	for _, mf := range ms {
		if mf.Kind != "ConfigMap" {
			continue
		}
		data, _ := mf.Object["data"].(map[string]any)
		if v, ok := data["MESSAGEBUS_OPTIONAL_QOS"]; ok {
			qos[mf.Name] = v
		}
	}
	for _, svc := range []string{"core-data", "core-metadata", "core-command"} {
		found := false
		for name, v := range qos {
			if strings.Contains(name, svc) && v == "1" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: MESSAGEBUS_OPTIONAL_QOS is not 1 in its settings (found %v)", svc, qos)
		}
	}
}
