package openstack

import (
	"fmt"

	"github.com/pulumi/pulumi-openstack/sdk/v4/go/openstack/networking"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/infra/overcloud"
)

// Network is the nodes' network: one subnet, and a router whose gateway is on the
// external network (the nodes' way out, and the floating IP's way in).
type Network struct {
	pulumi.ResourceState

	Network   *networking.Network
	Subnet    *networking.Subnet
	Router    *networking.Router
	Interface *networking.RouterInterface
}

func newNetwork(ctx *pulumi.Context, name string, a *Args, tags tagger, opts ...pulumi.ResourceOption) (*Network, error) {
	n := &Network{}
	if err := ctx.RegisterComponentResource(overcloud.TypeNetwork, name, n, opts...); err != nil {
		return nil, fmt.Errorf("register network %s: %w", name, err)
	}
	parent := pulumi.Parent(n)
	ext, err := networking.LookupNetwork(ctx, &networking.LookupNetworkArgs{
		Name: pulumi.StringRef(a.ExternalNetwork), External: pulumi.BoolRef(true),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("find the external network smartx:externalNetwork %q: %w", a.ExternalNetwork, err)
	}
	if n.Network, err = networking.NewNetwork(ctx, name, &networking.NetworkArgs{
		Name: pulumi.String(ctx.Stack() + "-" + name), AdminStateUp: pulumi.Bool(true),
		Tags: tags.list(name, overcloud.RoleCluster),
	}, parent); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	var dns pulumi.StringArray
	if len(a.DNSNameservers) > 0 {
		dns = pulumi.ToStringArray(a.DNSNameservers)
	}
	if n.Subnet, err = networking.NewSubnet(ctx, name, &networking.SubnetArgs{
		Name: pulumi.String(ctx.Stack() + "-" + name), NetworkId: n.Network.ID(), Cidr: pulumi.String(a.SubnetCIDR),
		IpVersion: pulumi.Int(4), EnableDhcp: pulumi.Bool(true), DnsNameservers: dns,
		Tags: tags.list(name, overcloud.RoleCluster),
	}, parent); err != nil {
		return nil, fmt.Errorf("subnet: %w", err)
	}
	if n.Router, err = networking.NewRouter(ctx, name, &networking.RouterArgs{
		Name: pulumi.String(ctx.Stack() + "-" + name), AdminStateUp: pulumi.Bool(true),
		ExternalNetworkId: pulumi.String(ext.Id), Tags: tags.list(name, overcloud.RoleCluster),
	}, parent); err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	if n.Interface, err = networking.NewRouterInterface(ctx, name, &networking.RouterInterfaceArgs{
		RouterId: n.Router.ID(), SubnetId: n.Subnet.ID(),
	}, parent); err != nil {
		return nil, fmt.Errorf("router interface: %w", err)
	}
	if err := ctx.RegisterResourceOutputs(n, pulumi.Map{"network": n.Network.ID(), "subnet": n.Subnet.ID(), "router": n.Router.ID()}); err != nil {
		return nil, fmt.Errorf("network %s outputs: %w", name, err)
	}
	return n, nil
}

// port makes a VM's port on the subnet, with the security groups on it (Neutron
// applies them per port) and a fixed address when ip is set.
func (n *Network) port(ctx *pulumi.Context, name, ip string, groups pulumi.StringArray, tags pulumi.StringArray, opts ...pulumi.ResourceOption) (*networking.Port, error) {
	fixed := networking.PortFixedIpArgs{SubnetId: n.Subnet.ID()}
	if ip != "" {
		fixed.IpAddress = pulumi.String(ip)
	}
	p, err := networking.NewPort(ctx, name, &networking.PortArgs{
		Name: pulumi.String(ctx.Stack() + "-" + name), NetworkId: n.Network.ID(), AdminStateUp: pulumi.Bool(true),
		FixedIps: networking.PortFixedIpArray{fixed}, SecurityGroupIds: groups, Tags: tags,
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("port %s: %w", name, err)
	}
	return p, nil
}
