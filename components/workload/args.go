package workload

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// DefaultRoleLabel is the node label that names a node's role (tower, hub, storage),
// as the original deployment's `functiontype` label did.
const DefaultRoleLabel = "smartx.io/role"

// Node roles of the original deployment.
const (
	RoleTower   = "tower"
	RoleHub     = "hub"
	RoleStorage = "storage"
)

// Args describes one service function. Namespace, Image, Role and at least one Port
// are required; everything else has a default.
type Args struct {
	// Namespace the objects live in (required; the caller creates it).
	Namespace string
	// ObjectName names the Kubernetes objects, the pods' app.kubernetes.io/name and
	// the Service's DNS name (default the component's name). Peers find the function
	// by it, while the Pulumi name must be unique in the stack: a composite declared
	// twice gives its children distinct Pulumi names and the same object names.
	ObjectName string
	// Image reference, by digest for our own images (required).
	Image string
	// Role is the node role the pods run on (required): RoleTower, RoleHub or RoleStorage.
	Role string
	// RoleLabel is the node label holding the role (default DefaultRoleLabel).
	RoleLabel string
	// Part names the larger system the function belongs to (app.kubernetes.io/part-of;
	// default "smartx").
	Part string

	// Ports the Service exposes; the first is the main one (at least one).
	Ports []Port
	// ServiceType of the Service (default ClusterIP). Devices outside the cluster
	// reach the hub through LoadBalancer or NodePort; nothing else needs either.
	ServiceType string

	// Command and CommandArgs replace the image's entrypoint and arguments when set.
	Command     []string
	CommandArgs []string
	// Env is plain (non-secret) configuration; it goes to a ConfigMap read with envFrom.
	Env map[string]string
	// SecretEnv sets environment variables from keys of Kubernetes Secrets.
	SecretEnv []SecretEnv
	// SecretMounts mount whole Secrets read-only as directories (the _FILE settings).
	SecretMounts []SecretMount
	// Files are configuration files, mounted read-only from a ConfigMap: path -> content.
	Files map[string]string
	// Writable lists directories that get an emptyDir, since the root file system is
	// read-only (for example /tmp).
	Writable []string

	// Liveness and Readiness probes (required: every function reports its health).
	Liveness  *Probe
	Readiness *Probe

	// Recreate stops the old pods before new ones start on an update (the
	// Deployment's Recreate strategy), for a function that must never run twice at
	// once, such as one that sends set-points or holds a broker session. Default false:
	// a rolling update.
	Recreate bool

	// Storage, when set, makes the function a StatefulSet with one volume per pod.
	Storage *Storage
	// Claims mount existing PersistentVolumeClaims (see NewClaim), for a volume that
	// several workloads share: the trainer writes models, inference reads them.
	Claims []ClaimMount

	// Schedule, when set (cron syntax, e.g. "17 * * * *"), makes the function a
	// CronJob: one run to completion per schedule, no Service, no probes, no
	// disruption budget; Ports, Liveness and Readiness are then optional and unused.
	Schedule string

	// RunAsUser and RunAsGroup are the non-root identity (default 65532, distroless
	// nonroot). FSGroup owns mounted volumes (default RunAsGroup).
	RunAsUser  int
	RunAsGroup int
	FSGroup    int

	// Ingress lists who may connect to this function; Egress what it may connect to.
	// Everything else is denied (DNS is always allowed).
	Ingress []Peer
	Egress  []Peer

	// DependsOn are resources every child waits for (the Namespace, the Secrets the
	// function reads); children do not inherit their parent's dependencies.
	DependsOn []pulumi.Resource

	// Overrides are the chart-style knobs users set per component.
	Overrides Overrides
}

// Port is one port of a function's Service and container.
type Port struct {
	// Name of the port (required, DNS label, at most 15 characters).
	Name string
	// Port number (required).
	Port int
	// Protocol (default TCP).
	Protocol string
}

// SecretEnv sets the environment variable Name from Key of the Secret named Secret.
type SecretEnv struct {
	Name, Secret, Key string
}

// SecretMount mounts the Secret named Secret at the directory Path.
type SecretMount struct {
	Secret, Path string
}

// Probe checks a container: an HTTP GET of Path when set, else Exec when set, else a
// TCP connect to Port.
type Probe struct {
	Path string
	Port int
	Exec []string
	// InitialDelay, Period in seconds and FailureThreshold (defaults 0, 10, 3).
	InitialDelay, Period, FailureThreshold int
}

// ClaimMount mounts the PersistentVolumeClaim named Claim at the directory Path.
type ClaimMount struct {
	Claim, Path string
	ReadOnly    bool
}

// Storage is a StatefulSet's per-pod volume.
type Storage struct {
	// Size of the claim (default "1Gi"; Overrides.StorageSize wins).
	Size string
	// Path where the volume is mounted (required).
	Path string
	// StorageClass of the claim (default: the cluster's default class).
	StorageClass string
}

// Peer is one side of an allowed connection.
type Peer struct {
	// App is the app.kubernetes.io/name of the pods in the same namespace; empty means
	// any address, inside or outside the cluster.
	App string
	// Ports allowed (the destination ports; empty means all).
	Ports []int
}

// Overrides are the settings chart users always ask for, per component. The zero value
// keeps every default. JSON tags match the stack config (smartx:components).
type Overrides struct {
	// Image replaces the component's image.
	Image string `json:"image,omitempty"`
	// Replicas (default 1).
	Replicas *int `json:"replicas,omitempty"`
	// NodeSelector replaces the role selector when set.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations added to the pods.
	Tolerations []Toleration `json:"tolerations,omitempty"`
	// Resources of the main container (defaults per component).
	Resources *Resources `json:"resources,omitempty"`
	// Env adds or replaces plain environment variables.
	Env map[string]string `json:"env,omitempty"`
	// StorageSize replaces the volume size of stateful components.
	StorageSize string `json:"storageSize,omitempty"`
	// ServiceType replaces the Service type.
	ServiceType string `json:"serviceType,omitempty"`
}

// Toleration is a Kubernetes toleration.
type Toleration struct {
	Key      string `json:"key,omitempty"`
	Operator string `json:"operator,omitempty"`
	Value    string `json:"value,omitempty"`
	Effect   string `json:"effect,omitempty"`
}

// Resources are the requests and limits of a container, in Kubernetes quantities.
type Resources struct {
	CPURequest    string `json:"cpuRequest,omitempty"`
	MemoryRequest string `json:"memoryRequest,omitempty"`
	CPULimit      string `json:"cpuLimit,omitempty"`
	MemoryLimit   string `json:"memoryLimit,omitempty"`
}

// DefaultResources fit a small Go function on a Pi-class node.
var DefaultResources = Resources{CPURequest: "50m", MemoryRequest: "64Mi", CPULimit: "500m", MemoryLimit: "256Mi"}

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	envName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// validate names the first bad field. name is the object name.
func (a *Args) validate(name string) error {
	switch {
	case !dnsLabel.MatchString(name) || len(name) > 50:
		return fmt.Errorf("object name %q (ObjectName, default the component's name): want a DNS label of at most 50 characters", name)
	case a.Namespace == "":
		return fmt.Errorf("%s: Namespace is required", name)
	case a.image() == "":
		return fmt.Errorf("%s: Image is required", name)
	case a.Role == "" && a.Overrides.NodeSelector == nil:
		return fmt.Errorf("%s: Role is required", name)
	case a.Schedule == "" && len(a.Ports) == 0:
		return fmt.Errorf("%s: Ports: at least one port is required", name)
	case a.Schedule == "" && (a.Liveness == nil || a.Readiness == nil):
		return fmt.Errorf("%s: Liveness and Readiness probes are required", name)
	case a.Schedule != "" && len(strings.Fields(a.Schedule)) != 5:
		return fmt.Errorf("%s: Schedule %q: want five cron fields (minute hour day month weekday)", name, a.Schedule)
	case a.Schedule != "" && a.Storage != nil:
		return fmt.Errorf("%s: a scheduled function cannot have Storage (use Claims)", name)
	case a.Storage != nil && a.Storage.Path == "":
		return fmt.Errorf("%s: Storage.Path is required", name)
	case a.Overrides.Replicas != nil && *a.Overrides.Replicas < 0:
		return fmt.Errorf("%s: Overrides.Replicas must not be negative", name)
	}
	for _, p := range a.Ports {
		if !dnsLabel.MatchString(p.Name) || len(p.Name) > 15 || p.Port < 1 || p.Port > 65535 {
			return fmt.Errorf("%s: Ports: bad port %q %d", name, p.Name, p.Port)
		}
	}
	for _, k := range sortedKeys(a.env()) {
		if !envName.MatchString(k) {
			return fmt.Errorf("%s: Env: bad environment variable name %q", name, k)
		}
	}
	for _, s := range a.SecretEnv {
		if !envName.MatchString(s.Name) || s.Secret == "" || s.Key == "" {
			return fmt.Errorf("%s: bad SecretEnv %q", name, s.Name)
		}
	}
	for _, s := range a.SecretMounts {
		if s.Secret == "" || !strings.HasPrefix(s.Path, "/") {
			return fmt.Errorf("%s: bad SecretMount %q at %q", name, s.Secret, s.Path)
		}
	}
	for _, c := range a.Claims {
		if !dnsLabel.MatchString(c.Claim) || !strings.HasPrefix(c.Path, "/") {
			return fmt.Errorf("%s: bad Claims entry %q at %q", name, c.Claim, c.Path)
		}
	}
	for p := range a.Files {
		if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
			return fmt.Errorf("%s: Files: bad file path %q", name, p)
		}
	}
	return nil
}

// objectName is the Kubernetes name of the objects of the component name.
func (a *Args) objectName(name string) string { return Or(a.ObjectName, name) }

func (a *Args) image() string {
	if a.Overrides.Image != "" {
		return a.Overrides.Image
	}
	return a.Image
}

func (a *Args) replicas() int {
	if a.Overrides.Replicas != nil {
		return *a.Overrides.Replicas
	}
	return 1
}

func (a *Args) roleLabel() string {
	if a.RoleLabel != "" {
		return a.RoleLabel
	}
	return DefaultRoleLabel
}

func (a *Args) nodeSelector() map[string]string {
	if a.Overrides.NodeSelector != nil {
		return a.Overrides.NodeSelector
	}
	return map[string]string{a.roleLabel(): a.Role}
}

// env merges Env and Overrides.Env; the overrides win.
func (a *Args) env() map[string]string {
	m := make(map[string]string, len(a.Env)+len(a.Overrides.Env))
	for k, v := range a.Env {
		m[k] = v
	}
	for k, v := range a.Overrides.Env {
		m[k] = v
	}
	return m
}

func (a *Args) resources() Resources {
	r := DefaultResources
	if o := a.Overrides.Resources; o != nil {
		r = *o
	}
	return r
}

func (a *Args) serviceType() string {
	switch {
	case a.Overrides.ServiceType != "":
		return a.Overrides.ServiceType
	case a.ServiceType != "":
		return a.ServiceType
	}
	return "ClusterIP"
}

func (a *Args) storageSize() string {
	switch {
	case a.Overrides.StorageSize != "":
		return a.Overrides.StorageSize
	case a.Storage.Size != "":
		return a.Storage.Size
	}
	return "1Gi"
}

func (a *Args) ids() (user, group, fs int) {
	user, group, fs = 65532, 65532, 0
	if a.RunAsUser != 0 {
		user = a.RunAsUser
	}
	if a.RunAsGroup != 0 {
		group = a.RunAsGroup
	}
	fs = group
	if a.FSGroup != 0 {
		fs = a.FSGroup
	}
	return user, group, fs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func stringMap(m map[string]string) pulumi.StringMap {
	out := make(pulumi.StringMap, len(m))
	for k, v := range m {
		out[k] = pulumi.String(v)
	}
	return out
}

// Base holds what every platform component's Args share.
type Base struct {
	// Namespace of the objects (required).
	Namespace string
	// ObjectName names the component's Kubernetes objects, or prefixes them where it
	// has several (default the component's name); see Args.ObjectName.
	ObjectName string
	// RoleLabel is the node label holding the role (default DefaultRoleLabel).
	RoleLabel string
	// Role the component runs on (default per component).
	Role string
	// Image replaces the component's pinned upstream image.
	Image string
	// DependsOn are resources every child waits for (the Namespace).
	DependsOn []pulumi.Resource
}

// Or returns s, or def when s is empty.
func Or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// appName is Kubernetes' rule for a label value used as an app name: a DNS label.
var appName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// IsAppName reports whether s can name an app (app.kubernetes.io/name) in a policy.
func IsAppName(s string) bool { return len(s) <= 63 && appName.MatchString(s) }

// CheckClients checks a list of app names a policy admits, named key in the error. An
// empty name is refused: a peer without an app admits every address.
func CheckClients(key string, names []string) error {
	for _, n := range names {
		if !IsAppName(n) {
			return fmt.Errorf("%s: %q is not an app name (a DNS label); an empty one would admit any address", key, n)
		}
	}
	return nil
}

// URLPort is the port of an http(s) URL with a host: its own, or the scheme's (80,
// 443), for the egress rule of a component that calls it.
func URLPort(s string) (int, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return 0, fmt.Errorf("want an http(s)://host[:port] URL")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return 0, fmt.Errorf("bad port %q", p)
		}
		return n, nil
	}
	if u.Scheme == "https" {
		return 443, nil
	}
	return 80, nil
}
