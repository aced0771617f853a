// Command stacks is the Pulumi program of this repository (Pulumi.yaml: main: stacks/).
// smartx:cloud chooses the cluster: "none" (default) deploys the Smart Energy service
// to the existing cluster the stack's config names (`pulumi up --stack local`);
// "aws" first makes the OverCloud on AWS (infra/) and deploys the service on it
// (`pulumi up --stack aws-dev`). See README.md and infra/README.md.
package main

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/smartx-team/overcloud/infra"
	"github.com/smartx-team/overcloud/stacks/program"
)

// Clouds smartx:cloud accepts.
const (
	CloudNone = "none"
	CloudAWS  = "aws"
)

func main() { pulumi.Run(func(ctx *pulumi.Context) error { return run(ctx, nil) }) }

// run is the program. ready replaces the OverCloud's wait for the cluster (nil: the
// real wait; tests pass a no-op).
func run(ctx *pulumi.Context, ready infra.ReadyFunc) error {
	cloud := CloudNone
	if v, err := config.New(ctx, "").Try("cloud"); err == nil {
		cloud = v
	}
	switch cloud {
	case CloudNone:
		_, err := program.Declare(ctx)
		return err
	case CloudAWS:
		args, err := awsArgs(ctx)
		if err != nil {
			return err
		}
		args.Ready = ready
		oc, err := infra.New(ctx, "overcloud", args)
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
	return fmt.Errorf("config smartx:cloud %q: want %s or %s", cloud, CloudNone, CloudAWS)
}
