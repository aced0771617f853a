package kafka_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/componenttest"
	"github.com/smartx-team/overcloud/components/kafka"
	"github.com/smartx-team/overcloud/components/workload"
	"github.com/smartx-team/overcloud/internal/pulumitest"
)

func declare(args *kafka.Args) ([]componenttest.Manifest, error) {
	m, err := pulumitest.Run("smartx", "test", nil, nil, func(ctx *pulumi.Context) error {
		_, err := kafka.New(ctx, "kafka", args)
		return err
	})
	if err != nil {
		return nil, err
	}
	return componenttest.Manifests(m.Resources())
}

func TestArgs(t *testing.T) {
	base := workload.Base{Namespace: "smartx"}
	topics := []kafka.Topic{{Name: "readings", Partitions: 6}, {Name: "readings.dead", Partitions: 1}}
	for _, tc := range []struct {
		name             string
		args             kafka.Args
		wantErr          string // the key the error names; "" for valid args
		replicas, minISR string
		wantJob          bool
	}{
		{name: "defaults", args: kafka.Args{Base: base}, replicas: "1", minISR: "1"},
		{name: "production", args: kafka.Args{Base: base, Brokers: 3, Topics: topics}, replicas: "3", minISR: "2", wantJob: true},
		{name: "replication above brokers", args: kafka.Args{Base: base, Brokers: 1, Replication: 3}, wantErr: "Replication"},
		{name: "topic without partitions", args: kafka.Args{Base: base, Topics: []kafka.Topic{{Name: "x"}}}, wantErr: "Topics"},
		{name: "topic without a name", args: kafka.Args{Base: base, Topics: []kafka.Topic{{Partitions: 1}}}, wantErr: "Topics"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := declare(&tc.args)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatal("accepted bad args")
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not name %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var job string
			for _, m := range ms {
				switch m.ID() {
				case "ConfigMap/smartx/kafka-env":
					data := m.Object["data"].(map[string]any)
					if data["KAFKA_DEFAULT_REPLICATION_FACTOR"] != tc.replicas || data["KAFKA_MIN_INSYNC_REPLICAS"] != tc.minISR {
						t.Errorf("replication %v min ISR %v, want %s %s", data["KAFKA_DEFAULT_REPLICATION_FACTOR"], data["KAFKA_MIN_INSYNC_REPLICAS"], tc.replicas, tc.minISR)
					}
					if data["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] != "false" {
						t.Error("topics are created automatically")
					}
				case "Job/smartx/kafka-topics":
					c := m.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0]
					job = strings.Join(func() []string {
						var s []string
						for _, a := range c.(map[string]any)["command"].([]any) {
							s = append(s, a.(string))
						}
						return s
					}(), " ")
				}
			}
			if tc.wantJob != (job != "") {
				t.Fatalf("topics job present = %v, want %v", job != "", tc.wantJob)
			}
			for _, topic := range tc.args.Topics {
				if !strings.Contains(job, "--topic "+topic.Name+" ") || !strings.Contains(job, "--replication-factor "+tc.replicas) {
					t.Errorf("job does not create %s with replication %s: %s", topic.Name, tc.replicas, job)
				}
			}
		})
	}
}
