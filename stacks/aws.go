package main

import (
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/smartx-team/overcloud/infra"
	"github.com/smartx-team/overcloud/stacks/program"
)

// AWSDefaults are the defaults of the plain config keys of the OverCloud (with
// smartx:cloud); Pulumi.yaml declares the same (a test checks).
var AWSDefaults = map[string]string{
	"cloud":          CloudNone,
	"owner":          "",
	"allowOpenAdmin": "false",
	"vpcCidr":        infra.DefaultVPC,
	"azCount":        strconv.Itoa(infra.DefaultAZs),
	"natGateway":     "true",
	"nodeOs":         infra.DefaultOS,
	"ami":            "",
	"k3sVersion":     infra.DefaultK3sVersion,
	"sshKeyName":     "",
	"ssm":            "false",
}

// AWSObjectKeys are the OverCloud's JSON config keys (lists and the node groups).
var AWSObjectKeys = []string{"adminCidrs", "webCidrs", "edgeCidrs", "nodes"}

// awsArgs reads the OverCloud's config.
func awsArgs(ctx *pulumi.Context) (*infra.Args, error) {
	cfg := config.New(ctx, "")
	get := func(k string) string {
		if v, err := cfg.Try(k); err == nil {
			return v
		}
		return AWSDefaults[k]
	}
	boolean := func(k string) (bool, error) {
		v, err := strconv.ParseBool(get(k))
		if err != nil {
			return false, fmt.Errorf("config smartx:%s %q: want true or false", k, get(k))
		}
		return v, nil
	}
	a := &infra.Args{
		Owner: get("owner"), VPCCIDR: get("vpcCidr"), OS: get("nodeOs"), AMI: get("ami"),
		K3sVersion: get("k3sVersion"), SSHKeyName: get("sshKeyName"), RoleLabel: program.Defaults["roleLabel"],
	}
	if v, err := cfg.Try("roleLabel"); err == nil {
		a.RoleLabel = v
	}
	var err error
	if a.AllowOpenAdmin, err = boolean("allowOpenAdmin"); err != nil {
		return nil, err
	}
	if a.NAT, err = boolean("natGateway"); err != nil {
		return nil, err
	}
	if a.SSM, err = boolean("ssm"); err != nil {
		return nil, err
	}
	if a.AZs, err = strconv.Atoi(get("azCount")); err != nil {
		return nil, fmt.Errorf("config smartx:azCount %q: want a number", get("azCount"))
	}
	for k, out := range map[string]any{"adminCidrs": &a.AdminCIDRs, "webCidrs": &a.WebCIDRs, "edgeCidrs": &a.EdgeCIDRs, "nodes": &a.Nodes} {
		if _, err := cfg.Try(k); err != nil {
			continue // not set
		}
		if err := cfg.TryObject(k, out); err != nil {
			return nil, fmt.Errorf("config smartx:%s: %w", k, err)
		}
	}
	return a, nil
}
