// Command dashboard serves the Smart Energy operators' web page: the server room, the
// air-conditioner panel (through the controller's manual set-point API), the rack Pis
// and the data path's health, with login. Every setting is a flag and a DASHBOARD_*
// environment variable: run with --help to list them. See package wiring for the
// assembly and README.md for what each view shows.
package main

import (
	"context"
	"io"
	"os"
	_ "time/tzdata" // the image has no zoneinfo; DASHBOARD_TIME_ZONE needs one

	"github.com/smartx-team/overcloud/functions/dashboard/wiring"
	"github.com/smartx-team/overcloud/functions/internal/service"
)

func main() {
	ctx, stop := service.SignalContext()
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code: 0 after a clean stop or --help,
// 2 for a bad setting (the message names it), 1 when a part fails.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	return service.Program[wiring.Config]{
		Name:      "dashboard",
		Parse:     wiring.ParseFlags,
		LogLevel:  func(c wiring.Config) string { return c.LogLevel },
		Run:       wiring.Run,
		ErrConfig: wiring.ErrConfig,
	}.Main(ctx, args, stderr)
}
