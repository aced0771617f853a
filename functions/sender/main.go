// Command sender is the real-time data sender: it consumes readings from Kafka, adds
// the outside weather (OpenWeatherMap, or keyless Open-Meteo) and writes them to
// InfluxDB, committing offsets only after the write. Every setting is a flag and a
// SENDER_* environment variable: run with --help to list them. See package wiring for
// the wiring and package consume for the delivery guarantees.
package main

import (
	"os"

	"github.com/smartx-team/overcloud/functions/internal/service"
	"github.com/smartx-team/overcloud/functions/sender/wiring"
)

func main() {
	ctx, stop := service.SignalContext()
	code := wiring.Main(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}
