package openstack

import (
	"net/netip"
	"regexp"

	"github.com/smartx-team/overcloud/infra/overcloud"
)

// Defaults.
const (
	// DefaultSubnet is the nodes' subnet; it stays clear of k3s's pod (10.42/16) and
	// service (10.43/16) ranges.
	DefaultSubnet = "10.40.0.0/24"
	// DefaultImage is the image name every role boots unless its group names another.
	DefaultImage = "debian-12"
	// AntiAffinity is the policy of the server group of a role with more than one VM:
	// no two of its VMs on one hypervisor.
	AntiAffinity  = "anti-affinity"
	serverAddress = 10 // host number of the k3s server in the subnet
)

// NodeGroup is the VMs of one role.
type NodeGroup struct {
	// Flavor is the Nova flavor's name, for example "m1.large" (required).
	Flavor string `json:"flavor"`
	// Count of VMs (required: at least 1 for the tower, whose first VM is the k3s
	// server; 0 or more for the others).
	Count int `json:"count"`
	// DiskGB is the size of the boot volume made from the image (required, at least
	// 20; deleted with the VM).
	DiskGB int `json:"diskGb"`
	// Image is the Glance image's name; the newest image of that name is used
	// (optional, default DefaultImage).
	Image string `json:"image,omitempty"`
	// Taints are node taints, key=value:Effect (optional, default none).
	Taints []string `json:"taints,omitempty"`
}

// DefaultNodes are the groups of a small cluster, in the flavor names most OpenStack
// clouds ship (m1.*); Args.Nodes replaces them role by role.
var DefaultNodes = map[string]NodeGroup{
	overcloud.RoleTower:   {Flavor: "m1.large", Count: 1, DiskGB: 40},
	overcloud.RoleHub:     {Flavor: "m1.small", Count: 1, DiskGB: 20},
	overcloud.RoleStorage: {Flavor: "m1.medium", Count: 1, DiskGB: 50},
}

// Args configures the OverCloud. Owner, AdminCIDRs and ExternalNetwork are required.
// How Pulumi reaches the cloud (OS_CLOUD and clouds.yaml, or the provider's
// openstack:* config, application credentials included) is the provider's business,
// not part of Args.
type Args struct {
	// Owner goes into the owner tag of every resource that takes tags (required).
	Owner string
	// AdminCIDRs, AllowOpenAdmin, WebCIDRs and EdgeCIDRs are who may reach the
	// OverCloud (overcloud.Access documents them; AdminCIDRs is required).
	AdminCIDRs     []string
	AllowOpenAdmin bool
	WebCIDRs       []string
	EdgeCIDRs      []string
	// ExternalNetwork is the name of the provider network the router's gateway and
	// the floating IP are on, for example "public" (required).
	ExternalNetwork string
	// SubnetCIDR is the nodes' IPv4 subnet, a /16 to /26 (default DefaultSubnet).
	SubnetCIDR string
	// DNSNameservers are the subnet's DNS servers (optional, default the cloud's).
	DNSNameservers []string
	// SSHPublicKey makes a keypair every VM gets, for SSH (optional, default none: no
	// SSH key).
	SSHPublicKey string
	// K3sVersion is the k3s release (default overcloud.DefaultK3sVersion).
	K3sVersion string
	// RoleLabel is the node label holding the role (default overcloud.DefaultRoleLabel).
	RoleLabel string
	// Nodes are the groups by role; a role absent here keeps DefaultNodes (optional).
	Nodes map[string]NodeGroup
	// Ready waits for the cluster before the kubeconfig output resolves (default
	// overcloud.DefaultReady). Tests pass a no-op.
	Ready overcloud.ReadyFunc
}

var (
	// Neutron tags are at most 60 characters, and the owner's is "smartx:owner=...".
	ownerTag = regexp.MustCompile(`^[A-Za-z0-9 _.:/=+@-]{1,47}$`)
	// Names of Neutron networks, Nova flavors and Glance images: printable, no
	// leading or trailing space.
	cloudName = regexp.MustCompile(`^[!-~]([ -~]{0,253}[!-~])?$`)
	publicKey = regexp.MustCompile(`^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( [ -~]*)?$`)
)

func (a *Args) access() overcloud.Access {
	return overcloud.Access{AdminCIDRs: a.AdminCIDRs, AllowOpenAdmin: a.AllowOpenAdmin, WebCIDRs: a.WebCIDRs, EdgeCIDRs: a.EdgeCIDRs}
}

// withDefaults returns a copy of a with every default filled in.
func (a Args) withDefaults() Args {
	a.WebCIDRs = a.access().WithDefaults().WebCIDRs
	if a.SubnetCIDR == "" {
		a.SubnetCIDR = DefaultSubnet
	}
	if a.K3sVersion == "" {
		a.K3sVersion = overcloud.DefaultK3sVersion
	}
	if a.RoleLabel == "" {
		a.RoleLabel = overcloud.DefaultRoleLabel
	}
	a.Nodes = overcloud.WithDefaultRoles(a.Nodes, DefaultNodes)
	for r, g := range a.Nodes {
		if g.Image == "" {
			g.Image = DefaultImage
			a.Nodes[r] = g
		}
	}
	if a.Ready == nil {
		a.Ready = overcloud.DefaultReady
	}
	return a
}

// Validate names the first bad key. It is called by New on the defaulted Args.
func (a *Args) Validate() error {
	bad := overcloud.Bad
	if !ownerTag.MatchString(a.Owner) {
		return bad("Owner (smartx:owner) is required: who answers for these resources (letters, digits, spaces and _.:/=+@-, at most 47: Neutron tags are short)")
	}
	if a.ExternalNetwork == "" {
		return bad("smartx:externalNetwork is required: the name of the external network the router and the floating IP are on (openstack network list --external)")
	}
	if !cloudName.MatchString(a.ExternalNetwork) {
		return bad("smartx:externalNetwork %q: want a network name", a.ExternalNetwork)
	}
	if err := a.access().Validate(); err != nil {
		return err
	}
	if err := overcloud.CheckNetwork("subnetCidr", a.SubnetCIDR, 16, 26, DefaultSubnet); err != nil {
		return err
	}
	for _, s := range a.DNSNameservers {
		if ip, err := netip.ParseAddr(s); err != nil || !ip.Is4() {
			return bad("smartx:dnsNameservers: %q is not an IPv4 address", s)
		}
	}
	if a.SSHPublicKey != "" && !publicKey.MatchString(a.SSHPublicKey) {
		return bad("smartx:sshPublicKey: want one OpenSSH public key line (ssh-ed25519 AAAA... comment)")
	}
	if err := overcloud.CheckRoles(a.Nodes); err != nil {
		return err
	}
	for _, r := range overcloud.Roles {
		g := a.Nodes[r]
		if !cloudName.MatchString(g.Flavor) {
			return bad("smartx:nodes.%s.flavor %q: want a flavor name (openstack flavor list)", r, g.Flavor)
		}
		if !cloudName.MatchString(g.Image) {
			return bad("smartx:nodes.%s.image %q: want an image name (openstack image list)", r, g.Image)
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
