// Package aws is the OverCloud on AWS: a VPC with public and private subnets in
// several availability zones, security groups open only where needed, one group of
// VMs per node role (tower, hub, storage) and a k3s cluster bootstrapped on them by
// cloud-init. Its outputs are what a user needs to use the cluster: the admin
// kubeconfig (secret), the API endpoint and the command that joins an edge gateway
// outside AWS as a hub node (secret).
//
// Everything it makes is a Pulumi resource parented to the OverCloud component, so
// `pulumi destroy` removes all of it; the nodes' IAM role has no permissions (unless
// SSM is asked for), so the cluster itself cannot create AWS resources that Pulumi
// does not know about. infra knows nothing of the service it hosts: the stack program
// deploys that on the kubeconfig.
package aws

import (
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/infra/overcloud"
)

// OverCloud is the cluster and everything under it.
type OverCloud struct {
	pulumi.ResourceState

	// Kubeconfig is the admin kubeconfig (secret). It resolves once the API answers
	// and the AWS nodes are Ready (Args.Ready).
	Kubeconfig pulumi.StringOutput `pulumi:"kubeconfig"`
	// APIEndpoint is https://<Elastic IP>:6443.
	APIEndpoint pulumi.StringOutput `pulumi:"apiEndpoint"`
	// PublicIP is the tower's Elastic IP: the API, the dashboard (443) and the join
	// address of edge gateways.
	PublicIP pulumi.StringOutput `pulumi:"publicIp"`
	// JoinCommand joins a machine outside AWS (a Pi 4 edge gateway) as a hub node
	// (secret: it holds the agent join token).
	JoinCommand pulumi.StringOutput `pulumi:"joinCommand"`
	// VpcID is the VPC.
	VpcID pulumi.IDOutput `pulumi:"vpcId"`

	// Network, Firewall, PKI and Groups are the children, for tests and callers.
	Network  *Network
	Firewall *Firewall
	PKI      *overcloud.PKI
	Groups   map[string]*NodeGroupResource
}

// New declares the OverCloud. args is validated after defaults are applied; nothing
// is registered when it is invalid.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*OverCloud, error) {
	if args == nil {
		return nil, fmt.Errorf("overcloud %s: %w: Args are required", name, overcloud.ErrConfig)
	}
	a := args.withDefaults()
	if err := a.Validate(); err != nil {
		return nil, err
	}
	oc := &OverCloud{Groups: map[string]*NodeGroupResource{}}
	if err := ctx.RegisterComponentResource(overcloud.TypeOverCloud, name, oc, opts...); err != nil {
		return nil, fmt.Errorf("register overcloud %s: %w", name, err)
	}
	tags := tagger{stack: ctx.Stack(), owner: a.Owner}
	parent := pulumi.Parent(oc)

	net, err := newNetwork(ctx, name+"-net", &a, tags, parent)
	if err != nil {
		return nil, err
	}
	fw, err := newFirewall(ctx, name+"-fw", &a, net, tags, parent)
	if err != nil {
		return nil, err
	}
	pki, err := overcloud.NewPKI(ctx, name+"-pki", parent)
	if err != nil {
		return nil, err
	}
	profile, err := newNodeIdentity(ctx, name, &a, tags, parent)
	if err != nil {
		return nil, err
	}
	// The API's address exists before any VM boots, so the server's certificate
	// names it and the kubeconfig can point at it.
	eip, err := ec2.NewEip(ctx, name+"-api", &ec2.EipArgs{Domain: pulumi.String("vpc"), Tags: tags.of(name+"-api", overcloud.RoleTower)}, parent)
	if err != nil {
		return nil, fmt.Errorf("api address: %w", err)
	}
	images, err := lookupImages(ctx, &a, parent)
	if err != nil {
		return nil, err
	}

	cluster := &overcloud.Cluster{
		PKI: pki, K3sVersion: a.K3sVersion, RoleLabel: a.RoleLabel,
		ServerIP: overcloud.Host(net.PublicCIDRs[0], serverAddress), PublicIP: eip.PublicIp,
	}

	var server *ec2.Instance
	total := 0
	for _, role := range overcloud.Roles {
		g := a.Nodes[role]
		total += g.Count
		ng, err := newNodeGroup(ctx, name+"-"+role, &nodeGroupArgs{
			role: role, group: g, args: &a, net: net, fw: fw, cluster: cluster, profile: profile, images: images, tags: tags,
		}, parent)
		if err != nil {
			return nil, err
		}
		oc.Groups[role] = ng
		if role == overcloud.RoleTower {
			server = ng.Instances[0]
		}
	}
	assoc, err := ec2.NewEipAssociation(ctx, name+"-api", &ec2.EipAssociationArgs{
		AllocationId: eip.AllocationId, InstanceId: server.ID(),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("api address association: %w", err)
	}

	oc.Network, oc.Firewall, oc.PKI = net, fw, pki
	oc.VpcID = net.Vpc.ID()
	oc.PublicIP = eip.PublicIp
	oc.APIEndpoint = cluster.APIEndpoint()
	oc.Kubeconfig = cluster.Kubeconfig(ctx, a.Ready, total, assoc.ID())
	oc.JoinCommand = cluster.JoinCommand(a.Nodes[overcloud.RoleHub].Taints)

	if err := ctx.RegisterResourceOutputs(oc, pulumi.Map{
		"kubeconfig": oc.Kubeconfig, "apiEndpoint": oc.APIEndpoint, "publicIp": oc.PublicIP,
		"joinCommand": oc.JoinCommand, "vpcId": oc.VpcID, "nodes": pulumi.Int(total),
	}); err != nil {
		return nil, fmt.Errorf("overcloud %s outputs: %w", name, err)
	}
	return oc, nil
}

// tagger makes the tags every taggable resource carries.
type tagger struct{ stack, owner string }

func (t tagger) of(name, role string) pulumi.StringMap {
	return pulumi.ToStringMap(overcloud.Tags(t.stack, t.owner, name, role))
}

func itoa(i int) string { return strconv.Itoa(i) }
