// Package openstack is the OverCloud on an OpenStack project (the SmartX
// playgrounds' UnderCloud): a network, a subnet and a router to a configured external
// network, security groups made from overcloud.Policy, an optional keypair, one group
// of VMs per node role (booted from a volume made of the image looked up by name, in
// an anti-affinity server group when the role has more than one) and a floating IP
// on the k3s server. The k3s user data, the PKI and the kubeconfig are
// infra/overcloud's, the same as on AWS, so the outputs are the same: the admin
// kubeconfig and the edge join command (both secret) and the API endpoint.
//
// Everything it makes is a Pulumi resource parented to the OverCloud component, so
// `pulumi destroy` removes all of it, in the reverse of the order it was made.
// Pulumi reaches the cloud by the provider's own conventions (OS_CLOUD and
// clouds.yaml, or openstack:* config); nothing here reads credentials.
package openstack

import (
	"fmt"

	"github.com/pulumi/pulumi-openstack/sdk/v4/go/openstack/compute"
	"github.com/pulumi/pulumi-openstack/sdk/v4/go/openstack/images"
	"github.com/pulumi/pulumi-openstack/sdk/v4/go/openstack/networking"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/infra/overcloud"
)

// OverCloud is the cluster and everything under it.
type OverCloud struct {
	pulumi.ResourceState

	// Kubeconfig is the admin kubeconfig (secret). It resolves once the API answers
	// and the nodes are Ready (Args.Ready).
	Kubeconfig pulumi.StringOutput `pulumi:"kubeconfig"`
	// APIEndpoint is https://<floating IP>:6443.
	APIEndpoint pulumi.StringOutput `pulumi:"apiEndpoint"`
	// PublicIP is the server's floating IP: the API, the dashboard (443) and the
	// join address of edge gateways.
	PublicIP pulumi.StringOutput `pulumi:"publicIp"`
	// JoinCommand joins a machine outside the cloud (a Pi 4 edge gateway) as a hub
	// node (secret: it holds the agent join token).
	JoinCommand pulumi.StringOutput `pulumi:"joinCommand"`
	// NetworkID is the nodes' network.
	NetworkID pulumi.IDOutput `pulumi:"networkId"`

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
	fw, err := newFirewall(ctx, name+"-fw", &a, tags, parent)
	if err != nil {
		return nil, err
	}
	pki, err := overcloud.NewPKI(ctx, name+"-pki", parent)
	if err != nil {
		return nil, err
	}
	var keyPair pulumi.StringPtrInput
	if a.SSHPublicKey != "" {
		kp, err := compute.NewKeypair(ctx, name+"-ssh", &compute.KeypairArgs{
			Name: pulumi.String(ctx.Stack() + "-" + name + "-ssh"), PublicKey: pulumi.String(a.SSHPublicKey),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("keypair: %w", err)
		}
		keyPair = kp.Name
	}
	imageIDs, err := lookupImages(ctx, &a, parent)
	if err != nil {
		return nil, err
	}

	// The server's port and floating IP exist before any VM boots, so the server's
	// certificate names the public address and the kubeconfig can point at it.
	serverIP := overcloud.Host(a.SubnetCIDR, serverAddress)
	serverPort, err := net.port(ctx, name+"-server", serverIP, pulumi.StringArray{fw.Nodes.ID(), fw.API.ID()}, tags.list(name+"-server", overcloud.RoleTower), parent)
	if err != nil {
		return nil, err
	}
	fip, err := networking.NewFloatingIp(ctx, name+"-api", &networking.FloatingIpArgs{
		Pool: pulumi.String(a.ExternalNetwork), PortId: serverPort.ID(),
		Description: pulumi.String("OverCloud k3s server: API, dashboard and the edge gateways' join address"),
		Tags:        tags.list(name+"-api", overcloud.RoleTower),
		// Neutron attaches a floating IP only to a port whose subnet has a router to
		// the external network.
	}, parent, pulumi.DependsOn([]pulumi.Resource{net.Interface}))
	if err != nil {
		return nil, fmt.Errorf("floating ip: %w", err)
	}
	cluster := &overcloud.Cluster{PKI: pki, K3sVersion: a.K3sVersion, RoleLabel: a.RoleLabel, ServerIP: serverIP, PublicIP: fip.Address}

	total := 0
	for _, role := range overcloud.Roles {
		g := a.Nodes[role]
		total += g.Count
		ng, err := newNodeGroup(ctx, name+"-"+role, &nodeGroupArgs{
			role: role, group: g, args: &a, net: net, fw: fw, cluster: cluster, serverPort: serverPort,
			imageID: imageIDs[g.Image], keyPair: keyPair, tags: tags,
		}, parent)
		if err != nil {
			return nil, err
		}
		oc.Groups[role] = ng
	}

	oc.Network, oc.Firewall, oc.PKI = net, fw, pki
	oc.NetworkID = net.Network.ID()
	oc.PublicIP = fip.Address
	oc.APIEndpoint = cluster.APIEndpoint()
	oc.Kubeconfig = cluster.Kubeconfig(ctx, a.Ready, total, fip.ID())
	oc.JoinCommand = cluster.JoinCommand(a.Nodes[overcloud.RoleHub].Taints)
	if err := ctx.RegisterResourceOutputs(oc, pulumi.Map{
		"kubeconfig": oc.Kubeconfig, "apiEndpoint": oc.APIEndpoint, "publicIp": oc.PublicIP,
		"joinCommand": oc.JoinCommand, "networkId": oc.NetworkID, "nodes": pulumi.Int(total),
	}); err != nil {
		return nil, fmt.Errorf("overcloud %s outputs: %w", name, err)
	}
	return oc, nil
}

// lookupImages returns the id of the newest image of each name the groups with VMs
// boot.
func lookupImages(ctx *pulumi.Context, a *Args, opts ...pulumi.InvokeOption) (map[string]string, error) {
	ids := map[string]string{}
	for _, r := range overcloud.Roles {
		g := a.Nodes[r]
		if g.Count == 0 || ids[g.Image] != "" {
			continue
		}
		img, err := images.LookupImage(ctx, &images.LookupImageArgs{Name: pulumi.StringRef(g.Image), MostRecent: pulumi.BoolRef(true)}, opts...)
		if err != nil {
			return nil, fmt.Errorf("find the image %q of smartx:nodes.%s.image: %w", g.Image, r, err)
		}
		ids[g.Image] = img.Id
	}
	return ids, nil
}

// tagger makes the tags of the resources that take them. Neutron tags and Nova
// instance tags are plain strings, so each is key=value; Nova metadata is a map.
type tagger struct{ stack, owner string }

func (t tagger) list(name, role string) pulumi.StringArray {
	m := overcloud.Tags(t.stack, t.owner, name, role)
	var out pulumi.StringArray
	for _, k := range []string{"Name", overcloud.TagStack, overcloud.TagRole, overcloud.TagOwner, overcloud.TagProject} {
		out = append(out, pulumi.String(k+"="+m[k]))
	}
	return out
}

func (t tagger) metadata(name, role string) pulumi.StringMap {
	return pulumi.ToStringMap(overcloud.Tags(t.stack, t.owner, name, role))
}
