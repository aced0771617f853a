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
	"errors"
	"flag"
	"fmt"
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
	cfg, err := wiring.ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintln(stderr, "sender:", err)
		return 2
	}
	log, err := service.NewLogger(stderr, "sender", cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(stderr, "sender:", err)
		return 2
	}
	if err := wiring.Run(ctx, cfg, log); err != nil {
		if errors.Is(err, wiring.ErrConfig) { // a secret file that cannot be read, ...
			fmt.Fprintln(stderr, "sender:", err)
			return 2
		}
		log.Error("sender stopped", "err", err)
		return 1
	}
	return 0
}
