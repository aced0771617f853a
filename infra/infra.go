// Package infra is the OverCloud on AWS: a VPC with public and private subnets in
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
package infra

import (
	"context"
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/infra/cloudinit"
)

// Type tokens.
const (
	TypeOverCloud = "smartx:infra:OverCloud"
	TypeNetwork   = "smartx:infra:Network"
	TypeFirewall  = "smartx:infra:Firewall"
	TypePKI       = "smartx:infra:ClusterPKI"
	TypeNodeGroup = "smartx:infra:NodeGroup"
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
	PKI      *PKI
	Groups   map[string]*NodeGroupResource
}

// New declares the OverCloud. args is validated after defaults are applied; nothing
// is registered when it is invalid.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*OverCloud, error) {
	if args == nil {
		return nil, fmt.Errorf("overcloud %s: %w: Args are required", name, ErrConfig)
	}
	a := args.withDefaults()
	if err := a.Validate(); err != nil {
		return nil, err
	}
	oc := &OverCloud{Groups: map[string]*NodeGroupResource{}}
	if err := ctx.RegisterComponentResource(TypeOverCloud, name, oc, opts...); err != nil {
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
	pki, err := newPKI(ctx, name+"-pki", parent)
	if err != nil {
		return nil, err
	}
	profile, err := newNodeIdentity(ctx, name, &a, tags, parent)
	if err != nil {
		return nil, err
	}
	// The API's address exists before any VM boots, so the server's certificate
	// names it and the kubeconfig can point at it.
	eip, err := ec2.NewEip(ctx, name+"-api", &ec2.EipArgs{Domain: pulumi.String("vpc"), Tags: tags.of(name+"-api", RoleTower)}, parent)
	if err != nil {
		return nil, fmt.Errorf("api address: %w", err)
	}
	images, err := lookupImages(ctx, &a, parent)
	if err != nil {
		return nil, err
	}

	serverIP := host(net.PublicCIDRs[0], serverAddress)
	serverURL := fmt.Sprintf("https://%s:%d", serverIP, APIPort)
	joinToken := pulumi.All(pki.ServerCA.CertPem, pki.AgentToken.Result).ApplyT(func(v []any) string {
		return cloudinit.JoinToken(v[0].(string), v[1].(string))
	}).(pulumi.StringOutput)

	var server *ec2.Instance
	total := 0
	for _, role := range Roles {
		g := a.Nodes[role]
		total += g.Count
		ng, err := newNodeGroup(ctx, name+"-"+role, &nodeGroupArgs{
			role: role, group: g, args: &a, net: net, fw: fw, pki: pki, profile: profile, images: images,
			eip: eip, serverIP: serverIP, serverURL: serverURL, joinToken: joinToken, tags: tags,
		}, parent)
		if err != nil {
			return nil, err
		}
		oc.Groups[role] = ng
		if role == RoleTower {
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
	oc.APIEndpoint = pulumi.Sprintf("https://%s:%d", eip.PublicIp, APIPort)
	ready := a.Ready
	oc.Kubeconfig = pulumi.ToSecret(pulumi.All(eip.PublicIp, pki.ServerCA.CertPem, pki.AdminCert.CertPem, pki.AdminKey.PrivateKeyPem, assoc.ID()).ApplyTWithContext(ctx.Context(),
		func(c context.Context, v []any) (string, error) {
			kc, err := BuildKubeconfig(fmt.Sprintf("https://%s:%d", v[0], APIPort), v[1].(string), v[2].(string), v[3].(string))
			if err != nil {
				return "", err
			}
			if !ctx.DryRun() {
				if err := ready(c, kc, total); err != nil {
					return "", fmt.Errorf("wait for the cluster: %w", err)
				}
			}
			return kc, nil
		})).(pulumi.StringOutput)
	hub := a.Nodes[RoleHub]
	oc.JoinCommand = pulumi.ToSecret(pulumi.All(eip.PublicIp, joinToken).ApplyT(func(v []any) string {
		return cloudinit.JoinCommand(fmt.Sprintf("https://%s:%d", v[0], APIPort), a.K3sVersion, v[1].(string),
			map[string]string{a.RoleLabel: RoleHub}, hub.Taints)
	})).(pulumi.StringOutput)

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

// Tag keys on every taggable resource.
const (
	TagStack   = "smartx:stack"
	TagRole    = "smartx:role"
	TagOwner   = "smartx:owner"
	TagProject = "smartx:project"
)

func (t tagger) of(name, role string) pulumi.StringMap {
	return pulumi.StringMap{
		"Name": pulumi.String(name), TagStack: pulumi.String(t.stack), TagRole: pulumi.String(role),
		TagOwner: pulumi.String(t.owner), TagProject: pulumi.String("smartx"),
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
