// Command hubbridge is the IoT-Cloud hub's bridge: it takes EdgeX events from devices
// (its own EdgeX v3 REST ingest, or a real EdgeX deployment's MQTT message bus), stores
// every reading in MongoDB first, relays them to Kafka and marks them delivered only
// after Kafka acknowledged them. See package wiring for the parts and `hubbridge --help`
// for every setting; each flag can also be set by its HUB_* environment variable.
//
// Running it by hand (or as a test or benchmark does):
//
//	HUB_LISTEN=127.0.0.1:59880 HUB_ADMIN_LISTEN=127.0.0.1:9102 \
//	HUB_MONGO_URI=mongodb://127.0.0.1:27017/ HUB_KAFKA_BROKERS=127.0.0.1:9092 \
//	HUB_DEVICE_TOKENS_FILE=/run/secrets/device-tokens.json hubbridge
//
// It logs JSON lines to stderr, one with its addresses when it starts, is ready (GET /readyz) once
// MongoDB answers, and stops gracefully on SIGTERM. A bad setting exits with status 2
// and a message naming it; a failure at start or while running exits with status 1.
package main

import (
	"context"
	"io"
	"os"

	"github.com/smartx-team/overcloud/functions/hubbridge/wiring"
	"github.com/smartx-team/overcloud/functions/internal/service"
)

func main() {
	ctx, stop := service.SignalContext()
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: it returns the exit code (0 ok or --help, 1 failure, 2
// bad configuration). Logs (JSON) and configuration errors go to stderr.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	return service.Program[wiring.Config]{
		Name:      "hubbridge",
		Parse:     wiring.ParseFlags,
		LogLevel:  func(c wiring.Config) string { return c.LogLevel },
		Run:       wiring.Run,
		ErrConfig: wiring.ErrConfig,
		Failed:    "hub bridge failed",
	}.Main(ctx, args, stderr)
}
