// Package overcloud is what every cloud's OverCloud shares, and imports no cloud's
// SDK: the node roles, the firewall policy as data, the admission checks of the
// addresses and node groups, the cluster's PKI (the tls and random providers), the
// k3s user data of servers and agents, the kubeconfig and the wait for the cluster.
// infra/aws and infra/openstack turn it into their own resources, so the two clouds
// make the same cluster behind the same rules.
package overcloud

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/smartx-team/overcloud/infra/overcloud/cloudinit"
)

// Type tokens of the OverCloud's components, the same on every cloud.
const (
	TypeOverCloud = "smartx:infra:OverCloud"
	TypeNetwork   = "smartx:infra:Network"
	TypeFirewall  = "smartx:infra:Firewall"
	TypeNodeGroup = "smartx:infra:NodeGroup"
)

// Node roles. They are the cluster's vocabulary (the node label values), not the
// service's: the components place their pods on the same names, which infra does not
// import (stacks' TestRolesMatchComponents checks that they agree).
const (
	RoleTower   = "tower"
	RoleHub     = "hub"
	RoleStorage = "storage"
	// RoleCluster marks resources that serve every role.
	RoleCluster = "cluster"
)

// Roles lists the node roles in the order the groups are declared.
var Roles = []string{RoleTower, RoleHub, RoleStorage}

// DefaultRoleLabel is the node label that carries the role.
const DefaultRoleLabel = "smartx.io/role"

// DefaultK3sVersion is the k3s release the nodes install. Pinned: every node of a
// cluster, and every edge gateway that joins later, runs the same release.
const DefaultK3sVersion = "v1.33.4+k3s1"

// Ports the firewall opens.
const (
	APIPort   = 6443
	HTTPSPort = 443
	SSHPort   = 22
)

// Group sizes both clouds accept.
const (
	MaxCount  = 20
	MinDiskGB = 20
	MaxDiskGB = 16384
)

// DefaultWait bounds the wait for the cluster during `pulumi up`.
const DefaultWait = 15 * time.Minute

// ErrConfig is wrapped by every validation error.
var ErrConfig = errors.New("invalid OverCloud config")

// Bad returns a validation error wrapping ErrConfig.
func Bad(format string, v ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, v...))
}

// ReadyFunc waits until the cluster behind kubeconfig answers and has at least nodes
// Ready nodes. It runs during `pulumi up` only (not in previews).
type ReadyFunc func(ctx context.Context, kubeconfig string, nodes int) error

// DefaultReady is WaitForCluster limited to DefaultWait.
func DefaultReady(ctx context.Context, kubeconfig string, nodes int) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultWait)
	defer cancel()
	return WaitForCluster(ctx, kubeconfig, nodes)
}

// CheckRoles names the roles of nodes that are not Roles.
func CheckRoles[G any](nodes map[string]G) error {
	if len(nodes) == len(Roles) {
		ok := true
		for _, r := range Roles {
			if _, found := nodes[r]; !found {
				ok = false
			}
		}
		if ok {
			return nil
		}
	}
	keys := make([]string, 0, len(nodes))
	for k := range nodes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return Bad("smartx:nodes: roles %v, want only %v", keys, Roles)
}

// WithDefaultRoles returns nodes with every role it lacks taken from defaults;
// unknown roles stay, for CheckRoles to name.
func WithDefaultRoles[G any](nodes, defaults map[string]G) map[string]G {
	out := make(map[string]G, len(Roles))
	for r, g := range nodes {
		out[r] = g
	}
	for _, r := range Roles {
		if _, ok := out[r]; !ok {
			out[r] = defaults[r]
		}
	}
	return out
}

// CheckGroup checks the sizes of one role's group: 0 to MaxCount nodes (at least one
// tower: it runs the control plane) and a MinDiskGB..MaxDiskGB disk.
func CheckGroup(role string, count, diskGB int) error {
	switch {
	case count < 0 || count > MaxCount || role == RoleTower && count < 1:
		return Bad("smartx:nodes.%s.count %d: want 0 to %d (at least 1 tower: it runs the control plane)", role, count, MaxCount)
	case diskGB < MinDiskGB || diskGB > MaxDiskGB:
		return Bad("smartx:nodes.%s.diskGb %d: want %d to %d", role, diskGB, MinDiskGB, MaxDiskGB)
	}
	return nil
}

// CheckNode checks what the user data of one role's nodes is made from, with the
// renderer's own rules on a stand-in node.
func CheckNode(role, k3sVersion, roleLabel string, taints []string) error {
	probe := cloudinit.Node{Mode: cloudinit.ModeAgent, Version: k3sVersion, Name: "probe", Labels: map[string]string{roleLabel: role},
		Taints: taints, Token: "probe", ServerURL: "https://10.0.0.1:6443"}
	if err := probe.Validate(); err != nil {
		return Bad("smartx:nodes.%s or smartx:k3sVersion: %v", role, err)
	}
	return nil
}

// CheckNetwork checks a cluster network range: an IPv4 prefix of minBits to maxBits.
func CheckNetwork(key, cidr string, minBits, maxBits int, example string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || p.Masked() != p || !p.Addr().Is4() || p.Bits() < minBits || p.Bits() > maxBits {
		return Bad("smartx:%s %q: want an IPv4 /%d to /%d such as %s", key, cidr, minBits, maxBits, example)
	}
	return nil
}

// Host returns the n-th address of a subnet.
func Host(cidr string, n int) string {
	p := netip.MustParsePrefix(cidr)
	a := p.Addr()
	for i := 0; i < n; i++ {
		a = a.Next()
	}
	return a.String()
}

// Tags are the labels every resource that takes them carries, the same on every
// cloud: its name, stack, role, owner and project.
func Tags(stack, owner, name, role string) map[string]string {
	return map[string]string{
		"Name": name, TagStack: stack, TagRole: role, TagOwner: owner, TagProject: "smartx",
	}
}

// Tag keys.
const (
	TagStack   = "smartx:stack"
	TagRole    = "smartx:role"
	TagOwner   = "smartx:owner"
	TagProject = "smartx:project"
)
