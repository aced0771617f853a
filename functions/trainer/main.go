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
	"errors"
	"flag"
	"fmt"
	"io"
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
// setting), 1 when the run fails or the checks refuse the model.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := wiring.ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintln(stderr, "trainer:", err)
		return 2
	}
	log, err := service.NewLogger(stderr, "trainer", cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(stderr, "trainer:", err)
		return 2
	}
	log.Info("trainer starting", "config", cfg)
	if _, err := wiring.Run(ctx, cfg, log, stdout); err != nil {
		if errors.Is(err, wiring.ErrConfig) {
			fmt.Fprintln(stderr, "trainer:", err)
			return 2
		}
		log.Error("trainer failed", "err", err)
		return 1
	}
	return 0
}
