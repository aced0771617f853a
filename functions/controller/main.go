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
	"errors"
	"flag"
	"fmt"
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
	cfg, err := wiring.ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintln(stderr, "controller:", err)
		return 2
	}
	log, err := service.NewLogger(stderr, "controller", cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(stderr, "controller:", err)
		return 2
	}
	if err := wiring.Run(ctx, cfg, log); err != nil {
		if errors.Is(err, wiring.ErrConfig) {
			fmt.Fprintln(stderr, "controller:", err)
			return 2
		}
		log.Error("controller stopped", "err", err)
		return 1
	}
	return 0
}
