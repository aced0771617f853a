package aws

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/infra/overcloud"
)

// Network is the VPC: a public and a private subnet per zone, an internet gateway, a
// NAT gateway for the private subnets (when Args.NAT) and the route tables.
type Network struct {
	pulumi.ResourceState

	// Vpc is the network itself.
	Vpc *ec2.Vpc
	// PublicSubnets route to the internet gateway, one per zone.
	PublicSubnets []*ec2.Subnet
	// PrivateSubnets route through the NAT gateway (none without NAT), one per zone.
	PrivateSubnets []*ec2.Subnet
	// PublicCIDRs and PrivateCIDRs are the subnets' ranges, known before deployment.
	PublicCIDRs, PrivateCIDRs []string
	// Zones are the availability zones, in subnet order.
	Zones []string
}

func newNetwork(ctx *pulumi.Context, name string, a *Args, tags tagger, opts ...pulumi.ResourceOption) (*Network, error) {
	n := &Network{}
	if err := ctx.RegisterComponentResource(overcloud.TypeNetwork, name, n, opts...); err != nil {
		return nil, fmt.Errorf("register network %s: %w", name, err)
	}
	parent := pulumi.Parent(n)
	zones, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{State: pulumi.StringRef("available")}, pulumi.Parent(n))
	if err != nil {
		return nil, fmt.Errorf("availability zones: %w", err)
	}
	if len(zones.Names) < a.AZs {
		return nil, fmt.Errorf("%w: smartx:azCount %d but the region has %d available zones", overcloud.ErrConfig, a.AZs, len(zones.Names))
	}
	n.Zones = zones.Names[:a.AZs]
	if n.PublicCIDRs, n.PrivateCIDRs, err = Subnets(a.VPCCIDR, a.AZs); err != nil {
		return nil, err
	}

	if n.Vpc, err = ec2.NewVpc(ctx, name, &ec2.VpcArgs{
		CidrBlock: pulumi.String(a.VPCCIDR), EnableDnsHostnames: pulumi.Bool(true), EnableDnsSupport: pulumi.Bool(true),
		Tags: tags.of(name, overcloud.RoleCluster),
	}, parent); err != nil {
		return nil, fmt.Errorf("vpc: %w", err)
	}
	igw, err := ec2.NewInternetGateway(ctx, name, &ec2.InternetGatewayArgs{VpcId: n.Vpc.ID(), Tags: tags.of(name, overcloud.RoleCluster)}, parent)
	if err != nil {
		return nil, fmt.Errorf("internet gateway: %w", err)
	}
	public, err := ec2.NewRouteTable(ctx, name+"-public", &ec2.RouteTableArgs{
		VpcId:  n.Vpc.ID(),
		Routes: ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), GatewayId: igw.ID()}},
		Tags:   tags.of(name+"-public", overcloud.RoleCluster),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("public route table: %w", err)
	}
	for i, zone := range n.Zones {
		s, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-public-%d", name, i), &ec2.SubnetArgs{
			VpcId: n.Vpc.ID(), CidrBlock: pulumi.String(n.PublicCIDRs[i]), AvailabilityZone: pulumi.String(zone),
			MapPublicIpOnLaunch: pulumi.Bool(false), Tags: tags.of(fmt.Sprintf("%s-public-%d", name, i), overcloud.RoleCluster),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("public subnet %d: %w", i, err)
		}
		n.PublicSubnets = append(n.PublicSubnets, s)
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-public-%d", name, i), &ec2.RouteTableAssociationArgs{
			SubnetId: s.ID(), RouteTableId: public.ID(),
		}, parent); err != nil {
			return nil, fmt.Errorf("public route %d: %w", i, err)
		}
	}

	// Private subnets have no route out unless there is a NAT gateway.
	var routes ec2.RouteTableRouteArray
	if a.NAT {
		ip, err := ec2.NewEip(ctx, name+"-nat", &ec2.EipArgs{Domain: pulumi.String("vpc"), Tags: tags.of(name+"-nat", overcloud.RoleCluster)}, parent)
		if err != nil {
			return nil, fmt.Errorf("nat address: %w", err)
		}
		nat, err := ec2.NewNatGateway(ctx, name, &ec2.NatGatewayArgs{
			AllocationId: ip.AllocationId, SubnetId: n.PublicSubnets[0].ID(), Tags: tags.of(name, overcloud.RoleCluster),
		}, parent, pulumi.DependsOn([]pulumi.Resource{igw}))
		if err != nil {
			return nil, fmt.Errorf("nat gateway: %w", err)
		}
		routes = ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), NatGatewayId: nat.ID()}}
	}
	private, err := ec2.NewRouteTable(ctx, name+"-private", &ec2.RouteTableArgs{
		VpcId: n.Vpc.ID(), Routes: routes, Tags: tags.of(name+"-private", overcloud.RoleCluster),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("private route table: %w", err)
	}
	for i, zone := range n.Zones {
		s, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-private-%d", name, i), &ec2.SubnetArgs{
			VpcId: n.Vpc.ID(), CidrBlock: pulumi.String(n.PrivateCIDRs[i]), AvailabilityZone: pulumi.String(zone),
			MapPublicIpOnLaunch: pulumi.Bool(false), Tags: tags.of(fmt.Sprintf("%s-private-%d", name, i), overcloud.RoleCluster),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("private subnet %d: %w", i, err)
		}
		n.PrivateSubnets = append(n.PrivateSubnets, s)
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-private-%d", name, i), &ec2.RouteTableAssociationArgs{
			SubnetId: s.ID(), RouteTableId: private.ID(),
		}, parent); err != nil {
			return nil, fmt.Errorf("private route %d: %w", i, err)
		}
	}
	if err := ctx.RegisterResourceOutputs(n, pulumi.Map{"vpcId": n.Vpc.ID()}); err != nil {
		return nil, fmt.Errorf("network %s outputs: %w", name, err)
	}
	return n, nil
}
