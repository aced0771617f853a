// Package kafka is the Pulumi component of the message bus: Apache Kafka in KRaft mode
// (no ZooKeeper) as a StatefulSet whose brokers are also the controller quorum, and a
// Job that creates the topics, since automatic topic creation is turned off.
package kafka

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/workload"
)

// TypeToken is the Pulumi type of a Kafka cluster.
const TypeToken = "smartx:components:Kafka"

// DefaultImage is the pinned upstream broker image.
const DefaultImage = "docker.io/apache/kafka:3.9.1"

// Port is the client port.
const Port = 9092

// Topic is one topic the cluster must have.
type Topic struct {
	Name       string
	Partitions int
}

// Args configures the cluster. Role defaults to tower.
type Args struct {
	workload.Base
	// Brokers is the number of broker+controller pods (default 1; 3 in production).
	Brokers int
	// Replication of every topic (default min(Brokers, 3)); min.insync.replicas is
	// 2 when it is 3 or more, so one broker may fail without losing acknowledged data.
	Replication int
	// Topics to create (none by default).
	Topics []Topic
	// Clients are the apps allowed to connect (app.kubernetes.io/name).
	Clients []string
	// Overrides of the brokers (default resources 250m/512Mi..1/1Gi, storage 10Gi).
	Overrides workload.Overrides
}

// Kafka is a running cluster.
type Kafka struct {
	pulumi.ResourceState

	// Bootstrap is the client bootstrap address (host:port).
	Bootstrap string
	// BootstrapOutput is Bootstrap as an output.
	BootstrapOutput pulumi.StringOutput `pulumi:"bootstrap"`
}

// New declares the cluster name.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Kafka, error) {
	if args == nil {
		return nil, fmt.Errorf("kafka %s: nil args", name)
	}
	a := *args
	if a.Brokers == 0 {
		a.Brokers = 1
	}
	if a.Replication == 0 {
		a.Replication = min(a.Brokers, 3)
	}
	if a.Brokers < 1 || a.Replication < 1 || a.Replication > a.Brokers {
		return nil, fmt.Errorf("kafka %s: Replication %d must be between 1 and Brokers %d", name, a.Replication, a.Brokers)
	}
	for _, t := range a.Topics {
		if t.Name == "" || t.Partitions < 1 {
			return nil, fmt.Errorf("kafka %s: Topics: bad topic %q with %d partitions", name, t.Name, t.Partitions)
		}
	}
	k := &Kafka{}
	if err := ctx.RegisterComponentResource(TypeToken, name, k, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	ns, obj := a.Namespace, workload.Or(a.ObjectName, name)
	headless := fmt.Sprintf("%s-headless.%s.svc.cluster.local", obj, ns)
	k.Bootstrap = fmt.Sprintf("%s.%s.svc.cluster.local:%d", obj, ns, Port)
	k.BootstrapOutput = pulumi.String(k.Bootstrap).ToStringOutput()

	voters := make([]string, a.Brokers)
	for i := range voters {
		voters[i] = fmt.Sprintf("%d@%s-%d.%s:9093", i, obj, i, headless)
	}
	minISR := 1
	if a.Replication >= 3 {
		minISR = 2
	}
	replicas := a.Brokers
	over := a.Overrides
	if over.Replicas == nil {
		over.Replicas = &replicas
	}
	if over.Resources == nil {
		over.Resources = &workload.Resources{CPURequest: "250m", MemoryRequest: "512Mi", CPULimit: "1", MemoryLimit: "1Gi"}
	}
	ingress := []workload.Peer{{App: obj, Ports: []int{Port, 9093}}, {App: obj + "-topics", Ports: []int{Port}}}
	for _, c := range a.Clients {
		ingress = append(ingress, workload.Peer{App: c, Ports: []int{Port}})
	}
	brokers, err := workload.New(ctx, name, &workload.Args{
		Namespace: ns, ObjectName: obj, Role: workload.Or(a.Role, workload.RoleTower), RoleLabel: a.RoleLabel,
		Image: workload.Or(a.Image, DefaultImage),
		Ports: []workload.Port{{Name: "kafka", Port: Port}, {Name: "controller", Port: 9093}},
		// The node id and advertised name depend on the pod's ordinal.
		Command: []string{"/bin/sh", "-c", `export KAFKA_NODE_ID="${HOSTNAME##*-}" ` +
			`KAFKA_ADVERTISED_LISTENERS="PLAINTEXT://${HOSTNAME}.` + headless + `:9092"; exec /etc/kafka/docker/run`},
		Env: map[string]string{
			"CLUSTER_ID":                                     clusterID(ns, obj),
			"KAFKA_PROCESS_ROLES":                            "broker,controller",
			"KAFKA_LISTENERS":                                "PLAINTEXT://:9092,CONTROLLER://:9093",
			"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
			"KAFKA_INTER_BROKER_LISTENER_NAME":               "PLAINTEXT",
			"KAFKA_CONTROLLER_QUORUM_VOTERS":                 strings.Join(voters, ","),
			"KAFKA_LOG_DIRS":                                 "/var/lib/kafka/data/logs",
			"KAFKA_AUTO_CREATE_TOPICS_ENABLE":                "false",
			"KAFKA_DEFAULT_REPLICATION_FACTOR":               fmt.Sprint(a.Replication),
			"KAFKA_MIN_INSYNC_REPLICAS":                      fmt.Sprint(minISR),
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         fmt.Sprint(a.Replication),
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": fmt.Sprint(a.Replication),
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            fmt.Sprint(minISR),
			"KAFKA_HEAP_OPTS":                                "-Xms256m -Xmx512m",
		},
		Writable:   []string{"/opt/kafka/config", "/opt/kafka/logs", "/tmp"},
		Storage:    &workload.Storage{Size: "10Gi", Path: "/var/lib/kafka/data"},
		RunAsUser:  1000,
		RunAsGroup: 1000,
		Liveness:   &workload.Probe{Port: Port, InitialDelay: 30, Period: 15},
		Readiness:  &workload.Probe{Port: Port, Period: 5},
		Ingress:    ingress,
		Egress:     []workload.Peer{{App: obj, Ports: []int{Port, 9093}}},
		DependsOn:  a.DependsOn,
		Overrides:  over,
	}, pulumi.Parent(k))
	if err != nil {
		return nil, err
	}
	if len(a.Topics) > 0 {
		if err := k.topicsJob(ctx, name, &a, brokers); err != nil {
			return nil, fmt.Errorf("kafka %s topics: %w", name, err)
		}
	}
	if err := ctx.RegisterResourceOutputs(k, pulumi.Map{"bootstrap": k.BootstrapOutput}); err != nil {
		return nil, err
	}
	return k, nil
}

// topicsJob creates the topics once the brokers answer; --if-not-exists makes a
// re-run harmless. It retries on its own (backoffLimit) while the brokers start.
func (k *Kafka) topicsJob(ctx *pulumi.Context, name string, a *Args, brokers *workload.Workload) error {
	jobName := brokers.Name + "-topics"
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, t := range a.Topics {
		fmt.Fprintf(&script, "/opt/kafka/bin/kafka-topics.sh --bootstrap-server %s --create --if-not-exists --topic %s --partitions %d --replication-factor %d\n",
			k.Bootstrap, t.Name, t.Partitions, a.Replication)
	}
	labels := workload.Labels(jobName, "smartx")
	meta := &metav1.ObjectMetaArgs{Name: pulumi.String(jobName), Namespace: pulumi.String(a.Namespace), Labels: pulumi.ToStringMap(labels)}
	opts := []pulumi.ResourceOption{pulumi.Parent(k), pulumi.DependsOn(append([]pulumi.Resource{brokers}, a.DependsOn...))}
	selector := map[string]string{a.roleLabel(): workload.Or(a.Role, workload.RoleTower)}
	if a.Overrides.NodeSelector != nil {
		selector = a.Overrides.NodeSelector
	}
	var tolerations corev1.TolerationArray
	for _, t := range a.Overrides.Tolerations {
		tolerations = append(tolerations, corev1.TolerationArgs{Key: pulumi.String(t.Key), Operator: pulumi.String(workload.Or(t.Operator, "Equal")), Value: pulumi.String(t.Value), Effect: pulumi.String(t.Effect)})
	}
	if _, err := batchv1.NewJob(ctx, name+"-topics", &batchv1.JobArgs{
		Metadata: meta,
		Spec: &batchv1.JobSpecArgs{
			BackoffLimit: pulumi.Int(20),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(labels)},
				Spec: &corev1.PodSpecArgs{
					RestartPolicy:                pulumi.String("OnFailure"),
					AutomountServiceAccountToken: pulumi.Bool(false),
					NodeSelector:                 pulumi.ToStringMap(selector),
					Tolerations:                  tolerations,
					SecurityContext: &corev1.PodSecurityContextArgs{
						RunAsNonRoot: pulumi.Bool(true), RunAsUser: pulumi.Int(1000), RunAsGroup: pulumi.Int(1000),
						SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
					},
					Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name:    pulumi.String("topics"),
						Image:   pulumi.String(workload.Or(a.Image, DefaultImage)),
						Command: pulumi.StringArray{pulumi.String("/bin/sh"), pulumi.String("-c"), pulumi.String(script.String())},
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String("100m"), "memory": pulumi.String("256Mi")},
							Limits:   pulumi.StringMap{"cpu": pulumi.String("500m"), "memory": pulumi.String("512Mi")},
						},
						SecurityContext: &corev1.SecurityContextArgs{
							RunAsNonRoot: pulumi.Bool(true), AllowPrivilegeEscalation: pulumi.Bool(false),
							ReadOnlyRootFilesystem: pulumi.Bool(true),
							Capabilities:           &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
						},
						VolumeMounts: corev1.VolumeMountArray{corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")}},
					}},
					Volumes: corev1.VolumeArray{corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}}},
				},
			},
		},
	}, opts...); err != nil {
		return err
	}
	return workload.NewNetworkPolicy(ctx, name+"-topics", &workload.PolicyArgs{
		App: jobName, Namespace: a.Namespace, Labels: labels,
		Egress: []workload.Peer{{App: brokers.Name, Ports: []int{Port}}},
	}, opts...)
}

func (a *Args) roleLabel() string { return workload.Or(a.RoleLabel, workload.DefaultRoleLabel) }

// clusterID derives the KRaft cluster id (16 bytes, base64url) from the namespace and
// object name, so that every run of the program declares the same one.
func clusterID(namespace, name string) string {
	sum := sha256.Sum256([]byte("smartx-kafka/" + namespace + "/" + name))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
