package aws

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/infra/overcloud"
)

// SSMPolicy is the managed policy Args.SSM attaches (Session Manager shells).
const SSMPolicy = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"

// newNodeIdentity makes the nodes' IAM role and instance profile. The role may be
// assumed by EC2 only and has no permission (k3s here needs none: no cloud
// controller, no AWS load balancers or volumes), unless Args.SSM adds Session Manager.
func newNodeIdentity(ctx *pulumi.Context, name string, a *Args, tags tagger, opts ...pulumi.ResourceOption) (*iam.InstanceProfile, error) {
	trust, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": map[string]string{"Service": "ec2.amazonaws.com"},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("trust policy: %w", err)
	}
	role, err := iam.NewRole(ctx, name+"-node", &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(string(trust)),
		Description:      pulumi.String("OverCloud nodes: no AWS permissions"),
		Tags:             tags.of(name+"-node", overcloud.RoleCluster),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("node role: %w", err)
	}
	if a.SSM {
		if _, err := iam.NewRolePolicyAttachment(ctx, name+"-node-ssm", &iam.RolePolicyAttachmentArgs{
			Role: role.Name, PolicyArn: pulumi.String(SSMPolicy),
		}, opts...); err != nil {
			return nil, fmt.Errorf("node role ssm: %w", err)
		}
	}
	profile, err := iam.NewInstanceProfile(ctx, name+"-node", &iam.InstanceProfileArgs{Role: role.Name, Tags: tags.of(name+"-node", overcloud.RoleCluster)}, opts...)
	if err != nil {
		return nil, fmt.Errorf("node instance profile: %w", err)
	}
	return profile, nil
}

// armFamily matches instance families of AWS Graviton (arm64) CPUs: t4g, m7g, c6gn, ...
var armFamily = regexp.MustCompile(`^[a-z]+[0-9]+[a-z]*g[a-z]*\.`)

// Arch returns the CPU architecture of an instance type, as AMIs name it.
func Arch(instanceType string) string {
	if armFamily.MatchString(instanceType) {
		return "arm64"
	}
	return "x86_64"
}

// Image owners and name patterns of the lookups, by OS and architecture.
var imageOwners = map[string]string{OSDebian12: "136693071363", OSUbuntu2404: "099720109477"}

func imageName(os, arch string) string {
	a := map[string]string{"x86_64": "amd64", "arm64": "arm64"}[arch]
	if os == OSUbuntu2404 {
		return "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-" + a + "-server-*"
	}
	return "debian-12-" + a + "-*"
}

// lookupImages returns the AMI per architecture the node groups need: Args.AMI for
// all when set, else the newest official image of Args.OS.
func lookupImages(ctx *pulumi.Context, a *Args, opts ...pulumi.InvokeOption) (map[string]string, error) {
	images := map[string]string{}
	for _, r := range overcloud.Roles {
		g := a.Nodes[r]
		arch := Arch(g.InstanceType)
		if g.Count == 0 || images[arch] != "" {
			continue
		}
		if a.AMI != "" {
			images[arch] = a.AMI
			continue
		}
		img, err := ec2.LookupAmi(ctx, &ec2.LookupAmiArgs{
			MostRecent: pulumi.BoolRef(true),
			Owners:     []string{imageOwners[a.OS]},
			Filters: []ec2.GetAmiFilter{
				{Name: "name", Values: []string{imageName(a.OS, arch)}},
				{Name: "architecture", Values: []string{arch}},
				{Name: "virtualization-type", Values: []string{"hvm"}},
				{Name: "root-device-type", Values: []string{"ebs"}},
			},
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("find the %s %s image: %w", a.OS, arch, err)
		}
		images[arch] = img.Id
	}
	return images, nil
}

// NodeGroupResource is the VMs of one role.
type NodeGroupResource struct {
	pulumi.ResourceState

	// Role of the group's nodes.
	Role string
	// Instances in order; the tower's first is the k3s server.
	Instances []*ec2.Instance
}

type nodeGroupArgs struct {
	role    string
	group   NodeGroup
	args    *Args
	net     *Network
	fw      *Firewall
	cluster *overcloud.Cluster
	profile *iam.InstanceProfile
	images  map[string]string
	tags    tagger
}

func newNodeGroup(ctx *pulumi.Context, name string, g *nodeGroupArgs, opts ...pulumi.ResourceOption) (*NodeGroupResource, error) {
	ng := &NodeGroupResource{Role: g.role}
	if err := ctx.RegisterComponentResource(overcloud.TypeNodeGroup, name, ng, opts...); err != nil {
		return nil, fmt.Errorf("register node group %s: %w", name, err)
	}
	a := g.args
	for i := 0; i < g.group.Count; i++ {
		server := g.role == overcloud.RoleTower && i == 0
		sgs := pulumi.StringArray{g.fw.Nodes.ID()}
		subnet := g.net.PublicSubnets[i%len(g.net.PublicSubnets)]
		publicIP := !a.NAT
		var privateIP pulumi.StringPtrInput
		var userData pulumi.StringOutput
		if server {
			// The server sits in the first public subnet at a fixed address (agents
			// join it there) behind the Elastic IP (everyone else joins there).
			subnet, publicIP, privateIP = g.net.PublicSubnets[0], false, pulumi.String(g.cluster.ServerIP)
			sgs = append(sgs, g.fw.API.ID())
			userData = g.cluster.ServerUserData(g.group.Taints)
		} else {
			if a.NAT {
				subnet = g.net.PrivateSubnets[i%len(g.net.PrivateSubnets)]
			}
			userData = g.cluster.AgentUserData(g.role, i, g.group.Taints)
		}
		var key pulumi.StringPtrInput
		if a.SSHKeyName != "" {
			key = pulumi.String(a.SSHKeyName)
		}
		tags := g.tags.of(name+"-"+itoa(i), g.role)
		inst, err := ec2.NewInstance(ctx, name+"-"+itoa(i), &ec2.InstanceArgs{
			Ami:                      pulumi.String(g.images[Arch(g.group.InstanceType)]),
			InstanceType:             pulumi.String(g.group.InstanceType),
			SubnetId:                 subnet.ID(),
			PrivateIp:                privateIP,
			AssociatePublicIpAddress: pulumi.Bool(publicIP),
			VpcSecurityGroupIds:      sgs,
			IamInstanceProfile:       g.profile.Name,
			KeyName:                  key,
			// The user data holds join tokens (and, on the server, the CA keys).
			UserData:                userData,
			UserDataReplaceOnChange: pulumi.Bool(false),
			RootBlockDevice: &ec2.InstanceRootBlockDeviceArgs{
				VolumeSize: pulumi.Int(g.group.DiskGB), VolumeType: pulumi.String("gp3"),
				Encrypted: pulumi.Bool(true), DeleteOnTermination: pulumi.Bool(true),
			},
			// IMDSv2 only, one hop: pods (one hop further) cannot read the user data.
			MetadataOptions: &ec2.InstanceMetadataOptionsArgs{
				HttpEndpoint: pulumi.String("enabled"), HttpTokens: pulumi.String("required"), HttpPutResponseHopLimit: pulumi.Int(1),
			},
			Tags:       tags,
			VolumeTags: tags,
		}, pulumi.Parent(ng),
			// A newer image from the lookup must not replace running nodes; new nodes
			// get it. Pin smartx:ami to roll images deliberately.
			pulumi.IgnoreChanges([]string{"ami"}))
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
