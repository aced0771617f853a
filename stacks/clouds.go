package main

import (
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/smartx-team/overcloud/infra/aws"
	"github.com/smartx-team/overcloud/infra/openstack"
	"github.com/smartx-team/overcloud/infra/overcloud"
	"github.com/smartx-team/overcloud/stacks/program"
)

// Clouds smartx:cloud accepts.
const (
	CloudNone      = "none"
	CloudAWS       = "aws"
	CloudOpenStack = "openstack"
)

// sharedDefaults are the plain config keys every cloud's OverCloud reads.
var sharedDefaults = map[string]string{
	"cloud":          CloudNone,
	"owner":          "",
	"allowOpenAdmin": "false",
	"k3sVersion":     overcloud.DefaultK3sVersion,
}

// AWSDefaults are the defaults of the plain config keys of the OverCloud on AWS;
// Pulumi.yaml declares the same (a test checks).
var AWSDefaults = with(sharedDefaults, map[string]string{
	"vpcCidr":    aws.DefaultVPC,
	"azCount":    strconv.Itoa(aws.DefaultAZs),
	"natGateway": "true",
	"nodeOs":     aws.DefaultOS,
	"ami":        "",
	"sshKeyName": "",
	"ssm":        "false",
})

// OpenStackDefaults are the same for the OverCloud on OpenStack.
var OpenStackDefaults = with(sharedDefaults, map[string]string{
	"externalNetwork": "",
	"subnetCidr":      openstack.DefaultSubnet,
	"sshPublicKey":    "",
})

// OverCloudObjectKeys are the OverCloud's JSON config keys (lists and the node
// groups), by cloud.
var OverCloudObjectKeys = map[string][]string{
	CloudAWS:       {"adminCidrs", "webCidrs", "edgeCidrs", "nodes"},
	CloudOpenStack: {"adminCidrs", "webCidrs", "edgeCidrs", "dnsNameservers", "nodes"},
}

func with(base, more map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// overCloud is what the program uses of either cloud's OverCloud.
type overCloud struct {
	Kubeconfig, APIEndpoint, PublicIP, JoinCommand pulumi.StringOutput
}

// cloudConfig reads one cloud's config keys, with its defaults.
type cloudConfig struct {
	cfg      *config.Config
	defaults map[string]string
}

func (c cloudConfig) get(k string) string {
	if v, err := c.cfg.Try(k); err == nil {
		return v
	}
	return c.defaults[k]
}

func (c cloudConfig) boolean(k string) (bool, error) {
	v, err := strconv.ParseBool(c.get(k))
	if err != nil {
		return false, fmt.Errorf("config smartx:%s %q: want true or false", k, c.get(k))
	}
	return v, nil
}

// objects decodes the JSON keys that are set into their targets.
func (c cloudConfig) objects(targets map[string]any) error {
	for k, out := range targets {
		if _, err := c.cfg.Try(k); err != nil {
			continue // not set
		}
		if err := c.cfg.TryObject(k, out); err != nil {
			return fmt.Errorf("config smartx:%s: %w", k, err)
		}
	}
	return nil
}

func (c cloudConfig) roleLabel() string {
	if v, err := c.cfg.Try("roleLabel"); err == nil {
		return v
	}
	return program.Defaults["roleLabel"]
}

// awsArgs reads the OverCloud's config on AWS.
func awsArgs(ctx *pulumi.Context) (*aws.Args, error) {
	c := cloudConfig{cfg: config.New(ctx, ""), defaults: AWSDefaults}
	a := &aws.Args{
		Owner: c.get("owner"), VPCCIDR: c.get("vpcCidr"), OS: c.get("nodeOs"), AMI: c.get("ami"),
		K3sVersion: c.get("k3sVersion"), SSHKeyName: c.get("sshKeyName"), RoleLabel: c.roleLabel(),
	}
	var err error
	if a.AllowOpenAdmin, err = c.boolean("allowOpenAdmin"); err != nil {
		return nil, err
	}
	if a.NAT, err = c.boolean("natGateway"); err != nil {
		return nil, err
	}
	if a.SSM, err = c.boolean("ssm"); err != nil {
		return nil, err
	}
	if a.AZs, err = strconv.Atoi(c.get("azCount")); err != nil {
		return nil, fmt.Errorf("config smartx:azCount %q: want a number", c.get("azCount"))
	}
	if err := c.objects(map[string]any{"adminCidrs": &a.AdminCIDRs, "webCidrs": &a.WebCIDRs, "edgeCidrs": &a.EdgeCIDRs, "nodes": &a.Nodes}); err != nil {
		return nil, err
	}
	return a, nil
}

func declareAWS(ctx *pulumi.Context, ready overcloud.ReadyFunc) (*overCloud, error) {
	args, err := awsArgs(ctx)
	if err != nil {
		return nil, err
	}
	args.Ready = ready
	oc, err := aws.New(ctx, "overcloud", args)
	if err != nil {
		return nil, err
	}
	return &overCloud{Kubeconfig: oc.Kubeconfig, APIEndpoint: oc.APIEndpoint, PublicIP: oc.PublicIP, JoinCommand: oc.JoinCommand}, nil
}

// openstackArgs reads the OverCloud's config on OpenStack.
func openstackArgs(ctx *pulumi.Context) (*openstack.Args, error) {
	c := cloudConfig{cfg: config.New(ctx, ""), defaults: OpenStackDefaults}
	a := &openstack.Args{
		Owner: c.get("owner"), ExternalNetwork: c.get("externalNetwork"), SubnetCIDR: c.get("subnetCidr"),
		SSHPublicKey: c.get("sshPublicKey"), K3sVersion: c.get("k3sVersion"), RoleLabel: c.roleLabel(),
	}
	var err error
	if a.AllowOpenAdmin, err = c.boolean("allowOpenAdmin"); err != nil {
		return nil, err
	}
	if err := c.objects(map[string]any{"adminCidrs": &a.AdminCIDRs, "webCidrs": &a.WebCIDRs, "edgeCidrs": &a.EdgeCIDRs,
		"dnsNameservers": &a.DNSNameservers, "nodes": &a.Nodes}); err != nil {
		return nil, err
	}
	return a, nil
}

func declareOpenStack(ctx *pulumi.Context, ready overcloud.ReadyFunc) (*overCloud, error) {
	args, err := openstackArgs(ctx)
	if err != nil {
		return nil, err
	}
	args.Ready = ready
	oc, err := openstack.New(ctx, "overcloud", args)
	if err != nil {
		return nil, err
	}
	return &overCloud{Kubeconfig: oc.Kubeconfig, APIEndpoint: oc.APIEndpoint, PublicIP: oc.PublicIP, JoinCommand: oc.JoinCommand}, nil
}
