// Package workload is the Pulumi component every service function is deployed with:
// our own functions (hub bridge, sender, ...) and the platform services (Kafka, MongoDB,
// InfluxDB, Grafana, EdgeX) alike. (The functions' code is in functions/; this package
// knows them only by image and settings.)
//
// One Workload is a ServiceAccount, ConfigMaps for plain settings and files, a
// Deployment (or a StatefulSet with one volume per pod), a Service, a
// PodDisruptionBudget and a NetworkPolicy that allows only the connections its Args
// list; a scheduled one (Args.Schedule) is a CronJob and its NetworkPolicy, with no
// ingress at all. Pods run as a non-root user with a read-only root file system, no privilege
// escalation and no capabilities, on the nodes of their role. Secret values never pass
// through this package: Args only name Kubernetes Secrets the caller made.
package workload

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

// TypeToken is the Pulumi type of a Workload. It keeps the package's former name,
// "Function", so that renaming the Go package changed no URN.
const TypeToken = "smartx:components:Function"

// Label keys set on every object and used to select a function's pods.
const (
	LabelName   = "app.kubernetes.io/name"
	LabelPartOf = "app.kubernetes.io/part-of"
	LabelMgr    = "app.kubernetes.io/managed-by"
)

// Workload is one deployed service function.
type Workload struct {
	pulumi.ResourceState

	// Name of the Kubernetes objects (Args.ObjectName, default the component's name).
	Name string
	// Host is the Service's cluster DNS name.
	Host string
	// Port is the Service's first port.
	Port int
	// Endpoint is Host:Port, as an output.
	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
}

// URL returns scheme://Host:Port.
func (w *Workload) URL(scheme string) string {
	return fmt.Sprintf("%s://%s:%d", scheme, w.Host, w.Port)
}

// New declares the workload name with args; its Pulumi children are named from name,
// its Kubernetes objects from Args.ObjectName. Pass the Kubernetes provider in opts
// (pulumi.Provider); children inherit it.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Workload, error) {
	if args == nil {
		return nil, fmt.Errorf("workload %s: nil args", name)
	}
	obj := args.objectName(name)
	if err := args.validate(obj); err != nil {
		return nil, fmt.Errorf("workload %s: %w", name, err)
	}
	w := &Workload{Name: obj, Host: fmt.Sprintf("%s.%s.svc.cluster.local", obj, args.Namespace)}
	if len(args.Ports) > 0 {
		w.Port = args.Ports[0].Port
	}
	if err := ctx.RegisterComponentResource(TypeToken, name, w, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	w.Endpoint = pulumi.Sprintf("%s:%d", w.Host, w.Port).ToStringOutput()
	if err := w.declare(ctx, name, args); err != nil {
		return nil, fmt.Errorf("workload %s: %w", name, err)
	}
	if err := ctx.RegisterResourceOutputs(w, pulumi.Map{"endpoint": w.Endpoint}); err != nil {
		return nil, fmt.Errorf("workload %s outputs: %w", name, err)
	}
	return w, nil
}

// Labels returns the labels of a function's objects; the selector is its first two.
func Labels(name, part string) map[string]string {
	if part == "" {
		part = "smartx"
	}
	return map[string]string{LabelName: name, LabelPartOf: part, LabelMgr: "pulumi"}
}

// objects is what every Kubernetes object of one workload shares.
type objects struct {
	name      string // the object name
	namespace string
	labels    map[string]string
	selector  map[string]string
}

func newObjects(name string, a *Args) objects {
	labels := Labels(name, a.Part)
	return objects{
		name: name, namespace: a.Namespace, labels: labels,
		selector: map[string]string{LabelName: labels[LabelName], LabelPartOf: labels[LabelPartOf]},
	}
}

// meta is the metadata of the object named n.
func (o objects) meta(n string) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Name: pulumi.String(n), Namespace: pulumi.String(o.namespace), Labels: stringMap(o.labels)}
}

// declare declares the children of the component name: their Pulumi names are name
// plus a suffix, their object names the object name plus the same suffix.
func (w *Workload) declare(ctx *pulumi.Context, name string, a *Args) error {
	opts := []pulumi.ResourceOption{pulumi.Parent(w), pulumi.DependsOn(a.DependsOn)}
	o := newObjects(w.Name, a)

	sa, err := corev1.NewServiceAccount(ctx, name, &corev1.ServiceAccountArgs{
		Metadata: o.meta(o.name),
		// The functions never call the Kubernetes API.
		AutomountServiceAccountToken: pulumi.Bool(false),
	}, opts...)
	if err != nil {
		return fmt.Errorf("service account: %w", err)
	}
	env, files := a.env(), fileKeys(a.Files)
	cms, err := configMaps(ctx, name, o, env, a.Files, files, opts)
	if err != nil {
		return err
	}
	deps := append([]pulumi.Resource{sa}, cms...)

	template := podTemplate(o.name, a, o.labels, configHash(env, a.Files), files)
	if a.Schedule != "" {
		if _, err := cronJob(ctx, name, a, o, template, deps, opts); err != nil {
			return fmt.Errorf("workload: %w", err)
		}
		if err := NewNetworkPolicy(ctx, name, &PolicyArgs{
			App: o.name, Namespace: a.Namespace, Labels: o.labels, Ingress: nil, Egress: a.Egress,
		}, opts...); err != nil {
			return fmt.Errorf("network policy: %w", err)
		}
		return nil
	}
	var pods pulumi.Resource
	if a.Storage == nil {
		spec := &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(a.replicas()),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: stringMap(o.selector)},
			Template: template,
		}
		if a.Recreate {
			spec.Strategy = &appsv1.DeploymentStrategyArgs{Type: pulumi.String("Recreate")}
		}
		pods, err = appsv1.NewDeployment(ctx, name, &appsv1.DeploymentArgs{
			Metadata: o.meta(o.name), Spec: spec,
		}, append(opts, pulumi.DependsOn(deps))...)
	} else {
		pods, err = statefulSet(ctx, name, a, o, template, deps, opts)
	}
	if err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	return front(ctx, name, a, o, pods, opts)
}

// configMaps declares the ConfigMap of the plain settings (env) and the one of the
// files (contents by path, under the keys of files), each only if it holds something.
// The pods depend on them, so that a pod never starts before its settings exist.
func configMaps(ctx *pulumi.Context, name string, o objects, env, contents map[string]string, files []fileKey, opts []pulumi.ResourceOption) ([]pulumi.Resource, error) {
	var out []pulumi.Resource
	if len(env) > 0 {
		cm, err := corev1.NewConfigMap(ctx, name+"-env", &corev1.ConfigMapArgs{Metadata: o.meta(o.name + "-env"), Data: stringMap(env)}, opts...)
		if err != nil {
			return nil, fmt.Errorf("env config map: %w", err)
		}
		out = append(out, cm)
	}
	if len(files) > 0 {
		data := make(map[string]string, len(files))
		for _, fk := range files {
			data[fk.key] = contents[fk.path]
		}
		cm, err := corev1.NewConfigMap(ctx, name+"-files", &corev1.ConfigMapArgs{Metadata: o.meta(o.name + "-files"), Data: stringMap(data)}, opts...)
		if err != nil {
			return nil, fmt.Errorf("files config map: %w", err)
		}
		out = append(out, cm)
	}
	return out, nil
}

// front declares what stands before the pods of a long-running workload: its Service,
// its PodDisruptionBudget (both after the pods they select) and its NetworkPolicy.
func front(ctx *pulumi.Context, name string, a *Args, o objects, pods pulumi.Resource, opts []pulumi.ResourceOption) error {
	if _, err := corev1.NewService(ctx, name, &corev1.ServiceArgs{
		Metadata: o.meta(o.name),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String(a.serviceType()),
			Selector: stringMap(o.selector),
			Ports:    servicePorts(a.Ports),
		},
	}, append(opts, pulumi.DependsOn([]pulumi.Resource{pods}))...); err != nil {
		return fmt.Errorf("service: %w", err)
	}

	// One pod may be drained at a time, so a node drain never stops a function
	// entirely when it has more than one replica, and is never blocked when it has one.
	if _, err := policyv1.NewPodDisruptionBudget(ctx, name, &policyv1.PodDisruptionBudgetArgs{
		Metadata: o.meta(o.name),
		Spec: &policyv1.PodDisruptionBudgetSpecArgs{
			MaxUnavailable: pulumi.Int(1),
			Selector:       &metav1.LabelSelectorArgs{MatchLabels: stringMap(o.selector)},
		},
	}, append(opts, pulumi.DependsOn([]pulumi.Resource{pods}))...); err != nil {
		return fmt.Errorf("disruption budget: %w", err)
	}

	if err := NewNetworkPolicy(ctx, name, &PolicyArgs{
		App: o.name, Namespace: a.Namespace, Labels: o.labels, Ingress: a.Ingress, Egress: a.Egress,
	}, opts...); err != nil {
		return fmt.Errorf("network policy: %w", err)
	}
	return nil
}

// statefulSet declares the StatefulSet of a workload with Storage, and the headless
// Service that gives its pods stable DNS names; deps are what it waits for besides.
func statefulSet(ctx *pulumi.Context, name string, a *Args, o objects, template *corev1.PodTemplateSpecArgs, deps []pulumi.Resource, opts []pulumi.ResourceOption) (*appsv1.StatefulSet, error) {
	headless, err := corev1.NewService(ctx, name+"-headless", &corev1.ServiceArgs{
		Metadata: o.meta(o.name + "-headless"),
		Spec: &corev1.ServiceSpecArgs{
			ClusterIP: pulumi.String("None"),
			Selector:  stringMap(o.selector),
			Ports:     servicePorts(a.Ports),
			// Peers (Kafka controllers) must find each other before any is ready.
			PublishNotReadyAddresses: pulumi.Bool(true),
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("headless service: %w", err)
	}
	claim := corev1.PersistentVolumeClaimTypeArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("data"), Labels: stringMap(o.selector)},
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
	return appsv1.NewStatefulSet(ctx, name, &appsv1.StatefulSetArgs{
		Metadata: o.meta(o.name),
		Spec: &appsv1.StatefulSetSpecArgs{
			Replicas:    pulumi.Int(a.replicas()),
			ServiceName: pulumi.String(o.name + "-headless"),
			Selector:    &metav1.LabelSelectorArgs{MatchLabels: stringMap(o.selector)},
			Template:    template,
			// Members of a quorum (Kafka KRaft) become ready only together.
			PodManagementPolicy:  pulumi.String("Parallel"),
			VolumeClaimTemplates: corev1.PersistentVolumeClaimTypeArray{claim},
		},
	}, append(opts, pulumi.DependsOn(append(deps, headless)))...)
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
