package openstack

import (
	"fmt"

	"github.com/pulumi/pulumi-openstack/sdk/v4/go/openstack/compute"
	"github.com/pulumi/pulumi-openstack/sdk/v4/go/openstack/networking"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/infra/overcloud"
)

// NodeGroupResource is the VMs of one role.
type NodeGroupResource struct {
	pulumi.ResourceState

	// Role of the group's nodes.
	Role string
	// Instances in order; the tower's first is the k3s server.
	Instances []*compute.Instance
	// ServerGroup keeps the group's VMs on different hypervisors (nil for one VM).
	ServerGroup *compute.ServerGroup
}

type nodeGroupArgs struct {
	role       string
	group      NodeGroup
	args       *Args
	net        *Network
	fw         *Firewall
	cluster    *overcloud.Cluster
	serverPort *networking.Port
	imageID    string
	keyPair    pulumi.StringPtrInput
	tags       tagger
}

func newNodeGroup(ctx *pulumi.Context, name string, g *nodeGroupArgs, opts ...pulumi.ResourceOption) (*NodeGroupResource, error) {
	ng := &NodeGroupResource{Role: g.role}
	if err := ctx.RegisterComponentResource(overcloud.TypeNodeGroup, name, ng, opts...); err != nil {
		return nil, fmt.Errorf("register node group %s: %w", name, err)
	}
	parent := pulumi.Parent(ng)
	var hints compute.InstanceSchedulerHintArray
	if g.group.Count > 1 {
		sg, err := compute.NewServerGroup(ctx, name, &compute.ServerGroupArgs{
			Name: pulumi.String(ctx.Stack() + "-" + name), Policies: pulumi.ToStringArray([]string{AntiAffinity}),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("%s server group: %w", g.role, err)
		}
		ng.ServerGroup = sg
		hints = compute.InstanceSchedulerHintArray{compute.InstanceSchedulerHintArgs{Group: sg.ID()}}
	}
	for i := 0; i < g.group.Count; i++ {
		vm := fmt.Sprintf("%s-%d", name, i)
		var port *networking.Port
		var userData pulumi.StringOutput
		if g.role == overcloud.RoleTower && i == 0 {
			port, userData = g.serverPort, g.cluster.ServerUserData(g.group.Taints)
		} else {
			var err error
			if port, err = g.net.port(ctx, vm, "", pulumi.StringArray{g.fw.Nodes.ID()}, g.tags.list(vm, g.role), parent); err != nil {
				return nil, err
			}
			userData = g.cluster.AgentUserData(g.role, i, g.group.Taints)
		}
		inst, err := compute.NewInstance(ctx, vm, &compute.InstanceArgs{
			Name:       pulumi.String(ctx.Stack() + "-" + vm),
			FlavorName: pulumi.String(g.group.Flavor),
			BlockDevices: compute.InstanceBlockDeviceArray{compute.InstanceBlockDeviceArgs{
				SourceType: pulumi.String("image"), Uuid: pulumi.String(g.imageID), DestinationType: pulumi.String("volume"),
				VolumeSize: pulumi.Int(g.group.DiskGB), BootIndex: pulumi.Int(0), DeleteOnTermination: pulumi.Bool(true),
			}},
			Networks: compute.InstanceNetworkArray{compute.InstanceNetworkArgs{Port: port.ID()}},
			KeyPair:  g.keyPair,
			// The user data holds join tokens (and, on the server, the CA keys); a
			// config drive hands it to cloud-init without the metadata service.
			UserData:       userData,
			ConfigDrive:    pulumi.Bool(true),
			SchedulerHints: hints,
			Metadata:       g.tags.metadata(vm, g.role),
		}, parent,
			// A newer image of the same name must not replace running nodes; new
			// nodes get it.
			pulumi.IgnoreChanges([]string{"blockDevices[0].uuid"}))
		if err != nil {
			return nil, fmt.Errorf("%s instance %d: %w", g.role, i, err)
		}
		ng.Instances = append(ng.Instances, inst)
	}
	ids := pulumi.StringArray{}
	for _, inst := range ng.Instances {
		ids = append(ids, inst.ID().ToStringOutput())
	}
	if err := ctx.RegisterResourceOutputs(ng, pulumi.Map{"instances": ids}); err != nil {
		return nil, fmt.Errorf("node group %s outputs: %w", name, err)
	}
	return ng, nil
}
