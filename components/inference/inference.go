// Package inference is the Pulumi component of our model server (the code is in
// functions/inference; this package knows it only by image and settings): a
// Deployment that serves the models under a shared PersistentVolumeClaim, which the
// trainer writes, over TensorFlow Serving's REST API on port 8501, with its admin
// endpoints on 9105. Only the client apps listed in Args may connect to it, and only
// to the REST port; it connects to nothing.
//
// The claim is mounted read-only at ModelBase. With a ReadWriteOnce claim (the
// default of workload.NewClaim) the trainer and inference must run on the same
// node: give them the same role and one node of it, or use a ReadWriteMany class.
package inference

import (
	"fmt"
	"strconv"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/workload"
)

// TypeToken is the Pulumi type of an inference server.
const TypeToken = "smartx:components:Inference"

// Ports of the server: the REST API (TF-Serving's REST port) and the admin endpoints.
const (
	Port      = 8501
	AdminPort = 9105
)

// ModelBase is where the model claim is mounted, as INFERENCE_MODEL_BASE.
const ModelBase = "/models"

// DefaultClients are the apps allowed to call the REST API unless Args.Clients says.
var DefaultClients = []string{"controller"}

// Args configures the inference server.
type Args struct {
	// Namespace of the objects (required; the caller creates it).
	Namespace string
	// ObjectName names the Kubernetes objects and the Service (optional, default the
	// component's name); see workload.Args.ObjectName.
	ObjectName string
	// Image of inference, by digest (required).
	Image string
	// Role is the node role the pods run on (optional, default workload.RoleTower).
	Role string
	// RoleLabel is the node label holding the role (optional, default
	// workload.DefaultRoleLabel).
	RoleLabel string

	// ModelClaim names the existing PersistentVolumeClaim holding the models, in
	// TF-Serving's layout <name>/<version>/ (required); mounted read-only at ModelBase.
	ModelClaim string
	// Clients are the app names (app.kubernetes.io/name) allowed to connect to the
	// REST port (optional, default DefaultClients).
	Clients []string
	// Poll is how often the models are scanned for new versions (optional, default
	// the server's: 10s).
	Poll time.Duration
	// MaxBodyBytes is the largest predict request (optional, default the server's: 1 MiB).
	MaxBodyBytes int
	// LogLevel of the server (optional, default "info").
	LogLevel string

	// DependsOn are resources every child waits for (the Namespace).
	DependsOn []pulumi.Resource
	// Backends are what the server needs before it starts (the model claim): its
	// workload waits for them as well (optional).
	Backends []pulumi.Resource
	// Overrides are the user's settings of the server (optional).
	Overrides workload.Overrides
}

// Inference is a deployed inference server.
type Inference struct {
	pulumi.ResourceState

	// Name of the Kubernetes objects and the pods' app name.
	Name string
	// URL is the REST API's base URL, http://<service>:8501, for the clients.
	URL string
	// Endpoint is the Service's host:port of the REST API.
	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
}

// validate names the first missing or bad key.
func (a *Args) validate() error {
	for _, f := range []struct{ key, value string }{
		{"Namespace", a.Namespace}, {"Image", a.Image}, {"ModelClaim", a.ModelClaim},
	} {
		if f.value == "" {
			return fmt.Errorf("%s is required", f.key)
		}
	}
	if err := workload.CheckClients("Clients", a.Clients); err != nil {
		return err
	}
	// The keys are the Args fields' names, as in the messages above.
	switch {
	case a.Poll < 0 || (a.Poll > 0 && (a.Poll < 100*time.Millisecond || a.Poll > time.Hour)):
		return fmt.Errorf("%s %v: want 100ms to 1h", "Poll", a.Poll)
	case a.MaxBodyBytes < 0 || (a.MaxBodyBytes > 0 && (a.MaxBodyBytes < 1<<10 || a.MaxBodyBytes > 64<<20)):
		return fmt.Errorf("%s %d: want 1024 to %d", "MaxBodyBytes", a.MaxBodyBytes, 64<<20)
	}
	return nil
}

// New declares the inference server name: its children are named from name. Pass the
// Kubernetes provider in opts.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Inference, error) {
	if args == nil {
		return nil, fmt.Errorf("inference %s: nil args", name)
	}
	a := *args
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("inference %s: %w", name, err)
	}
	s := &Inference{Name: workload.Or(a.ObjectName, name)}
	if err := ctx.RegisterComponentResource(TypeToken, name, s, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	env := map[string]string{
		"INFERENCE_LISTEN":       fmt.Sprintf(":%d", Port),
		"INFERENCE_ADMIN_LISTEN": fmt.Sprintf(":%d", AdminPort),
		"INFERENCE_MODEL_BASE":   ModelBase,
		"INFERENCE_LOG_LEVEL":    workload.Or(a.LogLevel, "info"),
	}
	if a.Poll > 0 {
		env["INFERENCE_POLL"] = a.Poll.String()
	}
	if a.MaxBodyBytes > 0 {
		env["INFERENCE_MAX_BODY_BYTES"] = strconv.Itoa(a.MaxBodyBytes)
	}
	clients := a.Clients
	if clients == nil {
		clients = DefaultClients
	}
	var ingress []workload.Peer
	for _, c := range clients {
		ingress = append(ingress, workload.Peer{App: c, Ports: []int{Port}})
	}
	w, err := workload.New(ctx, name, &workload.Args{
		Namespace: a.Namespace, ObjectName: s.Name,
		RoleLabel: a.RoleLabel, Role: workload.Or(a.Role, workload.RoleTower),
		Image:     a.Image,
		Ports:     []workload.Port{{Name: "http", Port: Port}, {Name: "admin", Port: AdminPort}},
		Env:       env,
		Claims:    []workload.ClaimMount{{Claim: a.ModelClaim, Path: ModelBase, ReadOnly: true}},
		Liveness:  &workload.Probe{Path: "/healthz", Port: AdminPort},
		Readiness: &workload.Probe{Path: "/readyz", Port: AdminPort, Period: 5},
		Ingress:   ingress,
		DependsOn: append(append([]pulumi.Resource(nil), a.Backends...), a.DependsOn...),
		Overrides: a.Overrides,
	}, pulumi.Parent(s))
	if err != nil {
		return nil, fmt.Errorf("inference %s: %w", name, err)
	}
	s.URL = w.URL("http")
	s.Endpoint = w.Endpoint
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{"endpoint": s.Endpoint}); err != nil {
		return nil, fmt.Errorf("inference %s outputs: %w", name, err)
	}
	return s, nil
}
