package infra

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"time"

	"github.com/smartx-team/overcloud/infra/cloudinit"
)

// Node roles. They are the cluster's vocabulary (the node label values), not the
// service's: the components place their pods on the same names, which infra does not
// import (stacks' TestRolesMatchComponents checks that they agree).
const (
	RoleTower   = "tower"
	RoleHub     = "hub"
	RoleStorage = "storage"
)

// Roles lists the node roles in the order the groups are declared.
var Roles = []string{RoleTower, RoleHub, RoleStorage}

// DefaultRoleLabel is the node label that carries the role.
const DefaultRoleLabel = "smartx.io/role"

// DefaultK3sVersion is the k3s release the nodes install. Pinned: every node of a
// cluster, and every edge gateway that joins later, runs the same release.
const DefaultK3sVersion = "v1.33.4+k3s1"

// OS images the AMI lookup knows.
const (
	OSDebian12    = "debian-12"
	OSUbuntu2404  = "ubuntu-24.04"
	DefaultOS     = OSDebian12
	DefaultVPC    = "10.40.0.0/16"
	DefaultAZs    = 2
	defaultWait   = 15 * time.Minute
	APIPort       = 6443
	HTTPSPort     = 443
	SSHPort       = 22
	serverAddress = 10 // host number of the k3s server in its subnet
)

// NodeGroup is the VMs of one role.
type NodeGroup struct {
	// InstanceType, for example "t3.large" (required).
	InstanceType string `json:"instanceType"`
	// Count of VMs (required: at least 1 for the tower, whose first VM is the k3s
	// server; 0 or more for the others).
	Count int `json:"count"`
	// DiskGB is the size of the encrypted gp3 root volume (required, at least 20).
	DiskGB int `json:"diskGb"`
	// Taints are node taints, key=value:Effect (optional, default none; the
	// components tolerate none, so a taint needs matching tolerations in
	// smartx:components).
	Taints []string `json:"taints,omitempty"`
}

// DefaultNodes are the groups of a small production-like cluster; Args.Nodes
// replaces them role by role.
var DefaultNodes = map[string]NodeGroup{
	RoleTower:   {InstanceType: "t3.large", Count: 1, DiskGB: 40},
	RoleHub:     {InstanceType: "t3.small", Count: 1, DiskGB: 20},
	RoleStorage: {InstanceType: "t3.medium", Count: 1, DiskGB: 50},
}

// ReadyFunc waits until the cluster behind kubeconfig answers and has at least nodes
// Ready nodes. It runs during `pulumi up` only (not in previews).
type ReadyFunc func(ctx context.Context, kubeconfig string, nodes int) error

// Args configures the OverCloud. Owner and AdminCIDRs are required.
type Args struct {
	// Owner goes into the owner tag of every resource (required).
	Owner string
	// AdminCIDRs may reach SSH (22) and the Kubernetes API (6443) (required, at least
	// one; 0.0.0.0/0 or ::/0 only with AllowOpenAdmin).
	AdminCIDRs []string
	// AllowOpenAdmin accepts 0.0.0.0/0 in AdminCIDRs (default false).
	AllowOpenAdmin bool
	// WebCIDRs may reach the dashboard and Grafana over HTTPS (443) (optional, default
	// AdminCIDRs; 0.0.0.0/0 is allowed here, for a public dashboard).
	WebCIDRs []string
	// EdgeCIDRs are the addresses edge gateways outside the cloud join from: they may
	// reach the API and join port 6443 (optional, default none).
	EdgeCIDRs []string
	// VPCCIDR is the VPC's IPv4 range, a /16 to /20 (default DefaultVPC).
	VPCCIDR string
	// AZs is how many availability zones get a public and a private subnet (default
	// DefaultAZs, at least 2).
	AZs int
	// NAT gives the private subnets a NAT gateway and puts the nodes there (the
	// server stays in a public subnet behind its Elastic IP). Without NAT (cheap dev
	// stacks) every node is in a public subnet with a public address (default false;
	// the stack config defaults to true).
	NAT bool
	// OS is the image family the AMI lookup finds: OSDebian12 (default) or OSUbuntu2404.
	OS string
	// AMI is a fixed image id that replaces the lookup (optional).
	AMI string
	// K3sVersion is the k3s release (default DefaultK3sVersion).
	K3sVersion string
	// SSHKeyName is an EC2 key pair for SSH (optional, default none: no SSH key).
	SSHKeyName string
	// SSM attaches AmazonSSMManagedInstanceCore to the nodes' role, for Session
	// Manager shells (default false: the role has no permission at all).
	SSM bool
	// RoleLabel is the node label holding the role (default DefaultRoleLabel).
	RoleLabel string
	// Nodes are the groups by role; a role absent here keeps DefaultNodes (optional).
	Nodes map[string]NodeGroup
	// Ready waits for the cluster before the kubeconfig output resolves (default
	// WaitForCluster with a 15-minute limit). Tests pass a no-op.
	Ready ReadyFunc
}

// ErrConfig is wrapped by every validation error.
var ErrConfig = errors.New("invalid OverCloud config")

var (
	ownerTag = regexp.MustCompile(`^[A-Za-z0-9 _.:/=+@-]{1,128}$`)
	amiID    = regexp.MustCompile(`^ami-[0-9a-f]{8,17}$`)
	keyName  = regexp.MustCompile(`^[ -~]{1,255}$`)
	instType = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
)

// withDefaults returns a copy of a with every default filled in.
func (a Args) withDefaults() Args {
	if len(a.WebCIDRs) == 0 {
		a.WebCIDRs = a.AdminCIDRs
	}
	if a.VPCCIDR == "" {
		a.VPCCIDR = DefaultVPC
	}
	if a.AZs == 0 {
		a.AZs = DefaultAZs
	}
	if a.OS == "" {
		a.OS = DefaultOS
	}
	if a.K3sVersion == "" {
		a.K3sVersion = DefaultK3sVersion
	}
	if a.RoleLabel == "" {
		a.RoleLabel = DefaultRoleLabel
	}
	nodes := make(map[string]NodeGroup, len(Roles))
	for r, g := range a.Nodes {
		nodes[r] = g // unknown roles stay, for Validate to name
	}
	for _, r := range Roles {
		if _, ok := nodes[r]; !ok {
			nodes[r] = DefaultNodes[r]
		}
	}
	a.Nodes = nodes
	if a.Ready == nil {
		a.Ready = func(ctx context.Context, kubeconfig string, nodes int) error {
			ctx, cancel := context.WithTimeout(ctx, defaultWait)
			defer cancel()
			return WaitForCluster(ctx, kubeconfig, nodes)
		}
	}
	return a
}

// Validate names the first bad field. It is called by New on the defaulted Args.
func (a *Args) Validate() error {
	bad := func(format string, v ...any) error { return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, v...)) }
	if !ownerTag.MatchString(a.Owner) {
		return bad("Owner (smartx:owner) is required: who answers for these resources")
	}
	if len(a.AdminCIDRs) == 0 {
		return bad("AdminCIDRs (smartx:adminCidrs) is required: the addresses that may reach SSH and the Kubernetes API")
	}
	for _, set := range []struct {
		key   string
		cidrs []string
		open  bool
	}{{"adminCidrs", a.AdminCIDRs, a.AllowOpenAdmin}, {"webCidrs", a.WebCIDRs, true}, {"edgeCidrs", a.EdgeCIDRs, a.AllowOpenAdmin}} {
		for _, c := range set.cidrs {
			p, err := netip.ParsePrefix(c)
			if err != nil || p.Masked() != p || !p.Addr().Is4() {
				return bad("smartx:%s: %q is not an IPv4 CIDR such as 198.51.100.7/32", set.key, c)
			}
			if p.Bits() == 0 && !set.open {
				return bad("smartx:%s: %s opens SSH and the Kubernetes API to the whole internet; set smartx:allowOpenAdmin to true if you really mean it", set.key, c)
			}
		}
	}
	vpc, err := netip.ParsePrefix(a.VPCCIDR)
	if err != nil || vpc.Masked() != vpc || !vpc.Addr().Is4() || vpc.Bits() < 16 || vpc.Bits() > 20 {
		return bad("smartx:vpcCidr %q: want an IPv4 /16 to /20 such as %s", a.VPCCIDR, DefaultVPC)
	}
	if a.AZs < 2 || a.AZs > 6 {
		return bad("smartx:azCount %d: want 2 to 6", a.AZs)
	}
	if a.OS != OSDebian12 && a.OS != OSUbuntu2404 {
		return bad("smartx:nodeOs %q: want %s or %s", a.OS, OSDebian12, OSUbuntu2404)
	}
	if a.AMI != "" && !amiID.MatchString(a.AMI) {
		return bad("smartx:ami %q: want an image id such as ami-0123456789abcdef0", a.AMI)
	}
	if a.SSHKeyName != "" && !keyName.MatchString(a.SSHKeyName) {
		return bad("smartx:sshKeyName %q", a.SSHKeyName)
	}
	if len(a.Nodes) != len(Roles) {
		keys := make([]string, 0, len(a.Nodes))
		for k := range a.Nodes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return bad("smartx:nodes: roles %v, want only %v", keys, Roles)
	}
	for _, r := range Roles {
		g := a.Nodes[r]
		switch {
		case !instType.MatchString(g.InstanceType):
			return bad("smartx:nodes.%s.instanceType %q", r, g.InstanceType)
		case g.Count < 0 || g.Count > 20 || r == RoleTower && g.Count < 1:
			return bad("smartx:nodes.%s.count %d: want 0 to 20 (at least 1 tower: it runs the control plane)", r, g.Count)
		case g.DiskGB < 20 || g.DiskGB > 16384:
			return bad("smartx:nodes.%s.diskGb %d: want 20 to 16384", r, g.DiskGB)
		}
	}
	// The node settings are checked by the renderer itself, on a stand-in node.
	for _, r := range Roles {
		probe := cloudinit.Node{Mode: cloudinit.ModeAgent, Version: a.K3sVersion, Name: "probe", Labels: map[string]string{a.RoleLabel: r},
			Taints: a.Nodes[r].Taints, Token: "probe", ServerURL: "https://10.0.0.1:6443"}
		if err := probe.Validate(); err != nil {
			return bad("smartx:nodes.%s or smartx:k3sVersion: %v", r, err)
		}
	}
	return nil
}

// Subnets returns the public and private subnet ranges of each zone: /20s (or the
// VPC's size + 4 bits) taken in order, the public ones first.
func Subnets(vpcCIDR string, azs int) (public, private []string, err error) {
	vpc, err := netip.ParsePrefix(vpcCIDR)
	if err != nil {
		return nil, nil, fmt.Errorf("vpc cidr %q: %w", vpcCIDR, err)
	}
	bits := vpc.Bits() + 4
	size := uint32(1) << (32 - bits)
	base := vpc.Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	nth := func(i int) string {
		v := start + uint32(i)*size
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits).String()
	}
	for i := 0; i < azs; i++ {
		public = append(public, nth(i))
		private = append(private, nth(8+i))
	}
	return public, private, nil
}

// host returns the n-th address of a subnet.
func host(cidr string, n int) string {
	p := netip.MustParsePrefix(cidr)
	a := p.Addr()
	for i := 0; i < n; i++ {
		a = a.Next()
	}
	return a.String()
}
