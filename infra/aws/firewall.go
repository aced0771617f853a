package aws

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/infra/overcloud"
)

// Firewall is overcloud.Policy as two security groups: Nodes on every node, API on
// the k3s server only. Rules between nodes admit the Nodes group itself.
type Firewall struct {
	pulumi.ResourceState

	// Nodes is on every node; API on the k3s server only.
	Nodes, API *ec2.SecurityGroup
}

// protocols maps the policy's protocol names to EC2's.
var protocols = map[string]string{"tcp": "tcp", "udp": "udp", "all": "-1"}

func newFirewall(ctx *pulumi.Context, name string, a *Args, net *Network, tags tagger, opts ...pulumi.ResourceOption) (*Firewall, error) {
	f := &Firewall{}
	if err := ctx.RegisterComponentResource(overcloud.TypeFirewall, name, f, opts...); err != nil {
		return nil, fmt.Errorf("register firewall %s: %w", name, err)
	}
	parent := pulumi.Parent(f)
	var nodesIn, apiIn ec2.SecurityGroupIngressArray
	var nodesOut ec2.SecurityGroupEgressArray
	for _, r := range overcloud.Policy(a.access()) {
		proto := pulumi.String(protocols[r.Protocol])
		from, to, desc := pulumi.Int(r.FromPort), pulumi.Int(r.ToPort), pulumi.String(r.Description)
		var cidrs pulumi.StringArray
		if len(r.CIDRs) > 0 {
			cidrs = pulumi.ToStringArray(r.CIDRs)
		}
		var self pulumi.BoolPtrInput
		if r.FromCluster {
			self = pulumi.Bool(true)
		}
		switch {
		case r.Egress:
			nodesOut = append(nodesOut, ec2.SecurityGroupEgressArgs{Protocol: proto, FromPort: from, ToPort: to, CidrBlocks: cidrs, Description: desc})
		case r.On == overcloud.OnServer:
			apiIn = append(apiIn, ec2.SecurityGroupIngressArgs{Protocol: proto, FromPort: from, ToPort: to, CidrBlocks: cidrs, Description: desc})
		default:
			nodesIn = append(nodesIn, ec2.SecurityGroupIngressArgs{Protocol: proto, FromPort: from, ToPort: to, CidrBlocks: cidrs,
				Self: self, Description: desc})
		}
	}
	var err error
	if f.Nodes, err = ec2.NewSecurityGroup(ctx, name+"-nodes", &ec2.SecurityGroupArgs{
		VpcId:       net.Vpc.ID(),
		Description: pulumi.String("OverCloud nodes: k3s between nodes, SSH from admins"),
		Ingress:     nodesIn,
		Egress:      nodesOut,
		Tags:        tags.of(name+"-nodes", overcloud.RoleCluster),
	}, parent); err != nil {
		return nil, fmt.Errorf("nodes security group: %w", err)
	}
	if f.API, err = ec2.NewSecurityGroup(ctx, name+"-api", &ec2.SecurityGroupArgs{
		VpcId:       net.Vpc.ID(),
		Description: pulumi.String("OverCloud k3s server: API from admins and edge gateways, HTTPS for the dashboard"),
		Ingress:     apiIn,
		Tags:        tags.of(name+"-api", overcloud.RoleTower),
	}, parent); err != nil {
		return nil, fmt.Errorf("api security group: %w", err)
	}
	if err := ctx.RegisterResourceOutputs(f, pulumi.Map{"nodes": f.Nodes.ID(), "api": f.API.ID()}); err != nil {
		return nil, fmt.Errorf("firewall %s outputs: %w", name, err)
	}
	return f, nil
}
