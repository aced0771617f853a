package openstack

import (
	"fmt"

	"github.com/pulumi/pulumi-openstack/sdk/v4/go/openstack/networking"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/infra/overcloud"
)

// Firewall is overcloud.Policy as two security groups: Nodes on every node's port,
// API on the k3s server's port only. Neutron's default rules (all egress) are
// deleted, so the groups hold the policy's rules and nothing else; rules between
// nodes admit the Nodes group itself.
type Firewall struct {
	pulumi.ResourceState

	// Nodes is on every node; API on the k3s server only.
	Nodes, API *networking.SecGroup
	// Rules are the groups' rules, in the policy's order.
	Rules []*networking.SecGroupRule
}

func newFirewall(ctx *pulumi.Context, name string, a *Args, tags tagger, opts ...pulumi.ResourceOption) (*Firewall, error) {
	f := &Firewall{}
	if err := ctx.RegisterComponentResource(overcloud.TypeFirewall, name, f, opts...); err != nil {
		return nil, fmt.Errorf("register firewall %s: %w", name, err)
	}
	parent := pulumi.Parent(f)
	group := func(n, role, what string) (*networking.SecGroup, error) {
		g, err := networking.NewSecGroup(ctx, name+"-"+n, &networking.SecGroupArgs{
			Name: pulumi.String(ctx.Stack() + "-" + name + "-" + n), Description: pulumi.String(what),
			DeleteDefaultRules: pulumi.Bool(true), Tags: tags.list(name+"-"+n, role),
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("%s security group: %w", n, err)
		}
		return g, nil
	}
	var err error
	if f.Nodes, err = group("nodes", overcloud.RoleCluster, "OverCloud nodes: k3s between nodes, SSH from admins"); err != nil {
		return nil, err
	}
	if f.API, err = group("api", overcloud.RoleTower, "OverCloud k3s server: API from admins and edge gateways, HTTPS for the dashboard"); err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, r := range overcloud.Policy(a.access()) {
		on, onName := f.Nodes, "nodes"
		if r.On == overcloud.OnServer {
			on, onName = f.API, "api"
		}
		direction := "ingress"
		if r.Egress {
			direction = "egress"
		}
		var proto pulumi.StringPtrInput // nil: every protocol
		var from, to pulumi.IntPtrInput
		if r.Protocol != "all" {
			proto, from, to = pulumi.String(r.Protocol), pulumi.Int(r.FromPort), pulumi.Int(r.ToPort)
		}
		sources := []pulumi.StringPtrInput{nil}
		if !r.FromCluster {
			sources = sources[:0]
			for _, c := range r.CIDRs {
				sources = append(sources, pulumi.String(c))
			}
		}
		for _, src := range sources {
			args := &networking.SecGroupRuleArgs{
				SecurityGroupId: on.ID(), Direction: pulumi.String(direction), Ethertype: pulumi.String("IPv4"),
				Protocol: proto, PortRangeMin: from, PortRangeMax: to, Description: pulumi.String(r.Description),
			}
			if r.FromCluster {
				args.RemoteGroupId = f.Nodes.ID()
			} else {
				args.RemoteIpPrefix = src
			}
			// Named by group and position, so a rule keeps its name while the
			// ranges before it keep their number.
			ruleName := fmt.Sprintf("%s-%s-%d", name, onName, counts[onName])
			counts[onName]++
			rule, err := networking.NewSecGroupRule(ctx, ruleName, args, parent)
			if err != nil {
				return nil, fmt.Errorf("security group rule %s (%s): %w", ruleName, r.Description, err)
			}
			f.Rules = append(f.Rules, rule)
		}
	}
	if err := ctx.RegisterResourceOutputs(f, pulumi.Map{"nodes": f.Nodes.ID(), "api": f.API.ID()}); err != nil {
		return nil, fmt.Errorf("firewall %s outputs: %w", name, err)
	}
	return f, nil
}
