// Package function is the Pulumi component every service function is deployed with:
// our own functions (hub bridge, sender, ...) and the platform services (Kafka, MongoDB,
// InfluxDB, Grafana, EdgeX) alike.
//
// One Function is a ServiceAccount, ConfigMaps for plain settings and files, a Deployment
// (or a StatefulSet with one volume per pod), a Service, a PodDisruptionBudget and a
// NetworkPolicy that allows only the connections its Args list. Pods run as a non-root
// user with a read-only root file system, no privilege escalation and no capabilities,
// on the nodes of their role. Secret values never pass through this package: Args only
// name Kubernetes Secrets the caller made.
package function

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	policyv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/policy/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// TypeToken is the Pulumi type of a Function.
const TypeToken = "smartx:components:Function"

// Label keys set on every object and used to select a function's pods.
const (
	LabelName   = "app.kubernetes.io/name"
	LabelPartOf = "app.kubernetes.io/part-of"
	LabelMgr    = "app.kubernetes.io/managed-by"
)

// Function is one deployed service function.
type Function struct {
	pulumi.ResourceState

	// Name of the Kubernetes objects (the component's name).
	Name string
	// Host is the Service's cluster DNS name.
	Host string
	// Port is the Service's first port.
	Port int
	// Endpoint is Host:Port, as an output.
	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
}

// URL returns scheme://Host:Port.
func (f *Function) URL(scheme string) string {
	return fmt.Sprintf("%s://%s:%d", scheme, f.Host, f.Port)
}

// New declares the function name with args. Pass the Kubernetes provider in opts
// (pulumi.Provider); children inherit it.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Function, error) {
	if args == nil {
		return nil, fmt.Errorf("function %s: nil args", name)
	}
	if err := args.validate(name); err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	f := &Function{
		Name: name,
		Host: fmt.Sprintf("%s.%s.svc.cluster.local", name, args.Namespace),
		Port: args.Ports[0].Port,
	}
	if err := ctx.RegisterComponentResource(TypeToken, name, f, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	f.Endpoint = pulumi.Sprintf("%s:%d", f.Host, f.Port).ToStringOutput()
	if err := f.declare(ctx, name, args); err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	if err := ctx.RegisterResourceOutputs(f, pulumi.Map{"endpoint": f.Endpoint}); err != nil {
		return nil, fmt.Errorf("function %s outputs: %w", name, err)
	}
	return f, nil
}

// Labels returns the labels of a function's objects; the selector is its first two.
func Labels(name, part string) map[string]string {
	if part == "" {
		part = "smartx"
	}
	return map[string]string{LabelName: name, LabelPartOf: part, LabelMgr: "pulumi"}
}

func (f *Function) declare(ctx *pulumi.Context, name string, a *Args) error {
	opts := []pulumi.ResourceOption{pulumi.Parent(f), pulumi.DependsOn(a.DependsOn)}
	labels := Labels(name, a.Part)
	selector := map[string]string{LabelName: labels[LabelName], LabelPartOf: labels[LabelPartOf]}
	meta := func(n string) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{Name: pulumi.String(n), Namespace: pulumi.String(a.Namespace), Labels: stringMap(labels)}
	}

	sa, err := corev1.NewServiceAccount(ctx, name, &corev1.ServiceAccountArgs{
		Metadata: meta(name),
		// The functions never call the Kubernetes API.
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, opts...)
	if err != nil {
		return fmt.Errorf("service account: %w", err)
	}
	deps := []pulumi.Resource{sa}

	env := a.env()
	if len(env) > 0 {
		cm, err := corev1.NewConfigMap(ctx, name+"-env", &corev1.ConfigMapArgs{Metadata: meta(name + "-env"), Data: stringMap(env)}, opts...)
		if err != nil {
			return fmt.Errorf("env config map: %w", err)
		}
		deps = append(deps, cm)
	}
	files := fileKeys(a.Files)
	if len(files) > 0 {
		data := make(map[string]string, len(files))
		for _, fk := range files {
			data[fk.key] = a.Files[fk.path]
		}
		cm, err := corev1.NewConfigMap(ctx, name+"-files", &corev1.ConfigMapArgs{Metadata: meta(name + "-files"), Data: stringMap(data)}, opts...)
		if err != nil {
			return fmt.Errorf("files config map: %w", err)
		}
		deps = append(deps, cm)
	}

	template := f.podTemplate(name, a, labels, configHash(env, a.Files), files)
	selectorArgs := &metav1.LabelSelectorArgs{MatchLabels: stringMap(selector)}
	var workload pulumi.Resource
	if a.Storage == nil {
		workload, err = appsv1.NewDeployment(ctx, name, &appsv1.DeploymentArgs{
			Metadata: meta(name),
			Spec: &appsv1.DeploymentSpecArgs{
				Replicas: pulumi.Int(a.replicas()),
				Selector: selectorArgs,
				Template: template,
			},
		}, append(opts, pulumi.DependsOn(deps))...)
	} else {
		headless, herr := corev1.NewService(ctx, name+"-headless", &corev1.ServiceArgs{
			Metadata: meta(name + "-headless"),
			Spec: &corev1.ServiceSpecArgs{
				ClusterIP: pulumi.String("None"),
				Selector:  stringMap(selector),
				Ports:     servicePorts(a.Ports),
				// Peers (Kafka controllers) must find each other before any is ready.
				PublishNotReadyAddresses: pulumi.Bool(true),
			},
		}, opts...)
		if herr != nil {
			return fmt.Errorf("headless service: %w", herr)
		}
		deps = append(deps, headless)
		claim := corev1.PersistentVolumeClaimTypeArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("data"), Labels: stringMap(selector)},
			Spec: &corev1.PersistentVolumeClaimSpecArgs{
				AccessModes: pulumi.StringArray{pulumi.String("ReadWriteOnce")},
				Resources: &corev1.VolumeResourceRequirementsArgs{
					Requests: pulumi.StringMap{"storage": pulumi.String(a.storageSize())},
				},
			},
		}
		if a.Storage.StorageClass != "" {
			claim.Spec.(*corev1.PersistentVolumeClaimSpecArgs).StorageClassName = pulumi.String(a.Storage.StorageClass)
		}
		workload, err = appsv1.NewStatefulSet(ctx, name, &appsv1.StatefulSetArgs{
			Metadata: meta(name),
			Spec: &appsv1.StatefulSetSpecArgs{
				Replicas:    pulumi.Int(a.replicas()),
				ServiceName: pulumi.String(name + "-headless"),
				Selector:    selectorArgs,
				Template:    template,
				// Members of a quorum (Kafka KRaft) become ready only together.
				PodManagementPolicy:  pulumi.String("Parallel"),
				VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{claim},
			},
		}, append(opts, pulumi.DependsOn(deps))...)
	}
	if err != nil {
		return fmt.Errorf("workload: %w", err)
	}

	if _, err := corev1.NewService(ctx, name, &corev1.ServiceArgs{
		Metadata: meta(name),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String(a.serviceType()),
			Selector: stringMap(selector),
			Ports:    servicePorts(a.Ports),
		},
	}, append(opts, pulumi.DependsOn([]pulumi.Resource{workload}))...); err != nil {
		return fmt.Errorf("service: %w", err)
	}

	// One pod may be drained at a time, so a node drain never stops a function
	// entirely when it has more than one replica, and is never blocked when it has one.
	if _, err := policyv1.NewPodDisruptionBudget(ctx, name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: meta(name),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: stringMap(selector)},
		},
	}, append(opts, pulumi.DependsOn([]pulumi.Resource{workload}))...); err != nil {
		return fmt.Errorf("disruption budget: %w", err)
	}

	if err := NewNetworkPolicy(ctx, name, a.Namespace, labels, a.Ingress, a.Egress, opts...); err != nil {
		return fmt.Errorf("network policy: %w", err)
	}
	return nil
}

func servicePorts(ports []Port) corev1.ServicePortArray {
	out := make(corev1.ServicePortArray, 0, len(ports))
	for _, p := range ports {
		out = append(out, corev1.ServicePortArgs{
			Name:       pulumi.String(p.Name),
			Port:       pulumi.Int(p.Port),
			TargetPort: pulumi.String(p.Name),
			Protocol:   pulumi.String(protocol(p.Protocol)),
		})
	}
	return out
}

func protocol(p string) string {
	if p == "" {
		return "TCP"
	}
	return p
}

// configHash changes whenever plain settings or files change, so that a changed
// ConfigMap rolls the pods (envFrom is read only at container start).
func configHash(env, files map[string]string) string {
	h := sha256.New()
	for _, m := range []map[string]string{env, files} {
		for _, k := range sortedKeys(m) {
			fmt.Fprintf(h, "%q=%q\n", k, m[k])
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
