// Command stacks is the Pulumi program of this repository (Pulumi.yaml: main: stacks/).
// smartx:cloud chooses the cluster: "none" (default) deploys the Smart Energy service
// to the existing cluster the stack's config names (`pulumi up --stack local`);
// "aws" and "openstack" first make the OverCloud on that cloud (infra/aws,
// infra/openstack) and deploy the service on its kubeconfig in the same run
// (`pulumi up --stack aws-dev`, `--stack openstack-dev`). See README.md and
// infra/README.md.
package main

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/smartx-team/overcloud/infra/overcloud"
	"github.com/smartx-team/overcloud/stacks/program"
)

func main() { pulumi.Run(func(ctx *pulumi.Context) error { return run(ctx, nil) }) }

// run is the program. ready replaces the OverCloud's wait for the cluster (nil: the
// real wait; tests pass a no-op).
func run(ctx *pulumi.Context, ready overcloud.ReadyFunc) error {
	cloud := CloudNone
	if v, err := config.New(ctx, "").Try("cloud"); err == nil {
		cloud = v
	}
	declare := map[string]func(*pulumi.Context, overcloud.ReadyFunc) (*overCloud, error){
		CloudAWS: declareAWS, CloudOpenStack: declareOpenStack,
	}[cloud]
	switch {
	case cloud == CloudNone:
		_, err := program.Declare(ctx)
		return err
	case declare == nil:
		return fmt.Errorf("config smartx:cloud %q: want %s, %s or %s", cloud, CloudNone, CloudAWS, CloudOpenStack)
	}
	oc, err := declare(ctx, ready)
	if err != nil {
		return err
	}
	ctx.Export("kubeconfig", oc.Kubeconfig)
	ctx.Export("apiEndpoint", oc.APIEndpoint)
	ctx.Export("publicIp", oc.PublicIP)
	ctx.Export("joinCommand", oc.JoinCommand)
	_, err = program.DeclareOn(ctx, program.Target{Kubeconfig: oc.Kubeconfig, PublicHost: oc.PublicIP})
	return err
}
