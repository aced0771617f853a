// Command trainer learns the room: it reads the sensors' history from InfluxDB, fits
// a model of where each sector's temperature and humidity go under a set-point, and
// writes it as the next version of a TF-Serving style model directory, with its
// held-out errors against the original's feature set and the naive last-value
// baseline. It runs once and exits (a Kubernetes CronJob). Every setting is a flag and
// a TRAINER_* environment variable: run with --help to list them. See package wiring
// for the run and package learn for the samples and the learner.
package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/smartx-team/overcloud/functions/internal/service"
	"github.com/smartx-team/overcloud/functions/trainer/wiring"
)

func main() {
	ctx, stop := service.SignalContext()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program: it reads flags and environment, logs JSON progress lines
// to stderr, prints the table of errors to stdout, and returns the exit code: 0 when
// the model is written or after --help, 2 for bad settings (with a message naming the
// setting), 1 when the run fails, 3 when the checks refuse the model.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return service.Program[wiring.Config]{
		Name:     "trainer",
		Parse:    wiring.ParseFlags,
		LogLevel: func(c wiring.Config) string { return c.LogLevel },
		Run: func(ctx context.Context, cfg wiring.Config, log *slog.Logger) error {
			log.Info("trainer starting", "config", cfg)
			_, err := wiring.Run(ctx, cfg, log, stdout)
			return err
		},
		ErrConfig:  wiring.ErrConfig,
		ErrRefused: wiring.ErrRefused,
		Failed:     "trainer failed",
	}.Main(ctx, args, stderr)
}
