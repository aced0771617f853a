// Command inference serves the room's models over TensorFlow Serving's REST API, so
// that a client of TF-Serving (the original sender: POST /v1/models/service:predict
// with {"inputs": [window]}) can call it, and a real TF-Serving can stand in for it.
// It serves every model under INFERENCE_MODEL_BASE in TF-Serving's layout
// <name>/<version>/ and picks up new versions by polling. Every setting is a flag and
// an INFERENCE_* environment variable: run with --help to list them. See package
// wiring for the assembly, serve for the API, registry for the model loading and wire
// for the JSON.
package main

import (
	"context"
	"io"
	"os"

	"github.com/smartx-team/overcloud/functions/inference/wiring"
	"github.com/smartx-team/overcloud/functions/internal/service"
)

func main() {
	ctx, stop := service.SignalContext()
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: it reads flags and environment, logs JSON to stderr,
// serves the API and the admin endpoints and runs until ctx ends. It returns the exit
// code: 0 after a clean stop or --help, 2 for bad settings (with a message naming the
// setting on stderr), 1 when a part fails.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	return service.Program[wiring.Config]{
		Name:      "inference",
		Parse:     wiring.ParseFlags,
		LogLevel:  func(c wiring.Config) string { return c.LogLevel },
		Run:       wiring.Run,
		ErrConfig: wiring.ErrConfig,
	}.Main(ctx, args, stderr)
}
