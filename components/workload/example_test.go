package workload_test

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/workload"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

// A function on the tower nodes that reads a token from a Secret file and may reach
// InfluxDB only.
func ExampleNew() {
	m, _ := pulumitest.Run("smartx", "dev", nil, nil, func(ctx *pulumi.Context) error {
		f, err := workload.New(ctx, "sender", &workload.Args{
			Namespace:    "smartx",
			Image:        "registry.example/sender@sha256:0123",
			Role:         workload.RoleTower,
			Ports:        []workload.Port{{Name: "admin", Port: 9103}},
			Env:          map[string]string{"SENDER_INFLUX_TOKEN_FILE": "/var/run/secrets/influx/token"},
			SecretMounts: []workload.SecretMount{{Secret: "influxdb-token", Path: "/var/run/secrets/influx"}},
			Liveness:     &workload.Probe{Path: "/healthz", Port: 9103},
			Readiness:    &workload.Probe{Path: "/readyz", Port: 9103},
			Egress:       []workload.Peer{{App: "influxdb", Ports: []int{8086}}},
		})
		if err != nil {
			return err
		}
		fmt.Println(f.URL("http"))
		return nil
	})
	ms, _ := componenttest.Manifests(m.Resources())
	for _, mf := range ms {
		fmt.Println(mf.Kind, mf.Name)
	}
	// Output:
	// http://sender.smartx.svc.cluster.local:9103
	// ServiceAccount sender
	// ConfigMap sender-env
	// Deployment sender
	// Service sender
	// NetworkPolicy sender
	// PodDisruptionBudget sender
}
