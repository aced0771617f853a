package aws

import (
	"fmt"
	"net/netip"
	"regexp"

	"github.com/smartx-team/overcloud/infra/overcloud"
)

// OS images the AMI lookup knows.
const (
	OSDebian12    = "debian-12"
	OSUbuntu2404  = "ubuntu-24.04"
	DefaultOS     = OSDebian12
	DefaultVPC    = "10.40.0.0/16"
	DefaultAZs    = 2
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
	overcloud.RoleTower:   {InstanceType: "t3.large", Count: 1, DiskGB: 40},
	overcloud.RoleHub:     {InstanceType: "t3.small", Count: 1, DiskGB: 20},
	overcloud.RoleStorage: {InstanceType: "t3.medium", Count: 1, DiskGB: 50},
}

// Args configures the OverCloud. Owner and AdminCIDRs are required.
type Args struct {
	// Owner goes into the owner tag of every resource (required).
	Owner string
	// AdminCIDRs, AllowOpenAdmin, WebCIDRs and EdgeCIDRs are who may reach the
	// OverCloud (overcloud.Access documents them; AdminCIDRs is required).
	AdminCIDRs     []string
	AllowOpenAdmin bool
	WebCIDRs       []string
	EdgeCIDRs      []string
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
	Ready overcloud.ReadyFunc
}

// access is who may reach the OverCloud.
func (a *Args) access() overcloud.Access {
	return overcloud.Access{AdminCIDRs: a.AdminCIDRs, AllowOpenAdmin: a.AllowOpenAdmin, WebCIDRs: a.WebCIDRs, EdgeCIDRs: a.EdgeCIDRs}
}

var (
	ownerTag = regexp.MustCompile(`^[A-Za-z0-9 _.:/=+@-]{1,128}$`)
	amiID    = regexp.MustCompile(`^ami-[0-9a-f]{8,17}$`)
	keyName  = regexp.MustCompile(`^[ -~]{1,255}$`)
	instType = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
)

// withDefaults returns a copy of a with every default filled in.
func (a Args) withDefaults() Args {
	a.WebCIDRs = a.access().WithDefaults().WebCIDRs
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
		a.K3sVersion = overcloud.DefaultK3sVersion
	}
	if a.RoleLabel == "" {
		a.RoleLabel = overcloud.DefaultRoleLabel
	}
	a.Nodes = overcloud.WithDefaultRoles(a.Nodes, DefaultNodes)
	if a.Ready == nil {
		a.Ready = overcloud.DefaultReady
	}
	return a
}

// Validate names the first bad field. It is called by New on the defaulted Args.
func (a *Args) Validate() error {
	bad := overcloud.Bad
	if !ownerTag.MatchString(a.Owner) {
		return bad("Owner (smartx:owner) is required: who answers for these resources")
	}
	if err := a.access().Validate(); err != nil {
		return err
	}
	if err := overcloud.CheckNetwork("vpcCidr", a.VPCCIDR, 16, 20, DefaultVPC); err != nil {
		return err
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
	if err := overcloud.CheckRoles(a.Nodes); err != nil {
		return err
	}
	for _, r := range overcloud.Roles {
		g := a.Nodes[r]
		if !instType.MatchString(g.InstanceType) {
			return bad("smartx:nodes.%s.instanceType %q", r, g.InstanceType)
		}
		if err := overcloud.CheckGroup(r, g.Count, g.DiskGB); err != nil {
			return err
		}
	}
	for _, r := range overcloud.Roles {
		if err := overcloud.CheckNode(r, a.K3sVersion, a.RoleLabel, a.Nodes[r].Taints); err != nil {
			return err
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
