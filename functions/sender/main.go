// Command sender is the real-time data sender: it consumes readings from Kafka, adds
// the outside weather (OpenWeatherMap, or keyless Open-Meteo) and writes them to
// InfluxDB, committing offsets only after the write. Every setting is a flag and a
// SENDER_* environment variable: run with --help to list them. See package wiring for
// the assembly and package consume for the delivery guarantees.
//
// `sender replay` is the operator's command that puts dead letters back on the readings
// topic once what made them fail is fixed (package replay; `sender replay --help`).
package main

import (
	"context"
	"io"
	"os"

	"github.com/smartx-team/overcloud/functions/internal/service"
	"github.com/smartx-team/overcloud/functions/sender/replay"
	"github.com/smartx-team/overcloud/functions/sender/wiring"
)

func main() {
	ctx, stop := service.SignalContext()
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: it reads flags and environment, logs JSON to stderr (one
// line on start), serves the admin endpoints and runs until ctx ends. It returns the
// exit code: 0 after a clean stop or --help, 2 for bad settings (with a message naming
// the setting on stderr), 1 when a part fails.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "replay" {
		return replay.Command(ctx, args[1:], os.Stdout, stderr)
	}
	return service.Program[wiring.Config]{
		Name:      "sender",
		Parse:     wiring.ParseFlags,
		LogLevel:  func(c wiring.Config) string { return c.LogLevel },
		Run:       wiring.Run,
		ErrConfig: wiring.ErrConfig,
	}.Main(ctx, args, stderr)
}
