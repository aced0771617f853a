package infra

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Firewall is the security groups. Nodes: everything from inside the VPC (node to
// node), SSH from the admin CIDRs, all egress. API, on the k3s server only: 6443
// from the admin and edge CIDRs, 443 (the dashboard and Grafana, behind the
// cluster's ingress) from the web CIDRs. Nothing else reaches the VMs.
type Firewall struct {
	pulumi.ResourceState

	// Nodes is on every node; API on the k3s server only.
	Nodes, API *ec2.SecurityGroup
}

func newFirewall(ctx *pulumi.Context, name string, a *Args, net *Network, tags tagger, opts ...pulumi.ResourceOption) (*Firewall, error) {
	f := &Firewall{}
	if err := ctx.RegisterComponentResource(TypeFirewall, name, f, opts...); err != nil {
		return nil, fmt.Errorf("register firewall %s: %w", name, err)
	}
	parent := pulumi.Parent(f)
	tcp := func(port int, cidrs []string, what string) ec2.SecurityGroupIngressArgs {
		return ec2.SecurityGroupIngressArgs{
			Protocol: pulumi.String("tcp"), FromPort: pulumi.Int(port), ToPort: pulumi.Int(port),
			CidrBlocks: pulumi.ToStringArray(cidrs), Description: pulumi.String(what),
		}
	}
	var err error
	if f.Nodes, err = ec2.NewSecurityGroup(ctx, name+"-nodes", &ec2.SecurityGroupArgs{
		VpcId:       net.Vpc.ID(),
		Description: pulumi.String("OverCloud nodes: node to node inside the VPC, SSH from admins"),
		Ingress: ec2.SecurityGroupIngressArray{
			ec2.SecurityGroupIngressArgs{
				Protocol: pulumi.String("-1"), FromPort: pulumi.Int(0), ToPort: pulumi.Int(0),
				CidrBlocks: pulumi.ToStringArray([]string{a.VPCCIDR}), Description: pulumi.String("node to node inside the VPC"),
			},
			tcp(SSHPort, a.AdminCIDRs, "SSH from admins"),
		},
		Egress: ec2.SecurityGroupEgressArray{ec2.SecurityGroupEgressArgs{
			Protocol: pulumi.String("-1"), FromPort: pulumi.Int(0), ToPort: pulumi.Int(0),
			CidrBlocks: pulumi.ToStringArray([]string{"0.0.0.0/0"}), Description: pulumi.String("packages, k3s and images"),
		}},
		Tags: tags.of(name+"-nodes", RoleCluster),
	}, parent); err != nil {
		return nil, fmt.Errorf("nodes security group: %w", err)
	}
	ingress := ec2.SecurityGroupIngressArray{
		tcp(APIPort, a.AdminCIDRs, "Kubernetes API from admins"),
		tcp(HTTPSPort, a.WebCIDRs, "dashboard and Grafana over HTTPS"),
	}
	if len(a.EdgeCIDRs) > 0 {
		ingress = append(ingress, tcp(APIPort, a.EdgeCIDRs, "edge gateways join (k3s supervisor and API)"))
	}
	if f.API, err = ec2.NewSecurityGroup(ctx, name+"-api", &ec2.SecurityGroupArgs{
		VpcId:       net.Vpc.ID(),
		Description: pulumi.String("OverCloud k3s server: API from admins and edge gateways, HTTPS for the dashboard"),
		Ingress:     ingress,
		Tags:        tags.of(name+"-api", RoleTower),
	}, parent); err != nil {
		return nil, fmt.Errorf("api security group: %w", err)
	}
	if err := ctx.RegisterResourceOutputs(f, pulumi.Map{"nodes": f.Nodes.ID(), "api": f.API.ID()}); err != nil {
		return nil, fmt.Errorf("firewall %s outputs: %w", name, err)
	}
	return f, nil
}
