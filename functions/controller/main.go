// Command controller closes the loop on the server room's air conditioners: every
// interval it asks the model (a TF-Serving REST API) which set-point keeps each sector
// cool enough at the least cooling, applies it through EdgeX core-command within
// bounds and rate limits, and audits every change in MongoDB; operators override it
// through its HTTP API. Every setting is a flag and a CONTROLLER_* environment
// variable: run with --help to list them. See package wiring for the assembly, package
// policy for the rules, README.md for the API.
package main

import (
	"context"
	"io"
	"os"

	"github.com/smartx-team/overcloud/functions/controller/wiring"
	"github.com/smartx-team/overcloud/functions/internal/service"
)

func main() {
	ctx, stop := service.SignalContext()
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: it reads flags and environment, logs JSON to stderr (one
// line on start), serves the API and the admin endpoints and runs until ctx ends. It
// returns the exit code: 0 after a clean stop or --help, 2 for bad settings (with a
// message naming the setting on stderr), 1 when a part fails.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	return service.Program[wiring.Config]{
		Name:      "controller",
		Parse:     wiring.ParseFlags,
		LogLevel:  func(c wiring.Config) string { return c.LogLevel },
		Run:       wiring.Run,
		ErrConfig: wiring.ErrConfig,
	}.Main(ctx, args, stderr)
}
