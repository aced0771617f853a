// Command firmware is the Raspberry Pi firmware of the Smart Energy service (installed
// as smartx-firmware): it samples the room, queues every reading durably, delivers
// them to the EdgeX hub and applies air-conditioner set-points. See package firmware
// for how, and --help for every setting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/smartx-team/overcloud/device/config"
	"github.com/smartx-team/overcloud/device/firmware"
)

// version is set by make firmware (-X main.version=...).
var version = "dev"

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

// run returns the exit code: 0 done, 1 failed while running, 2 bad configuration.
func run(args []string, stderr io.Writer) int {
	cfg, err := config.Load(args, nil, stderr, config.Version{Version: version, Target: Target()})
	switch {
	case errors.Is(err, flag.ErrHelp), errors.Is(err, config.ErrVersion):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "smartx-firmware: configuration: %v\n", err)
		return 2
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated already
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})).
		With("component", "firmware", "device", cfg.Device, "version", version)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fw, err := firmware.New(cfg, log)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	if err := fw.Run(ctx); err != nil {
		log.Error("stopped on error", "err", err)
		return 1
	}
	return 0
}

// Target names what the binary was built for, as make firmware names it: linux/arm
// with GOARM 6 is "linux-armv6".
func Target() string {
	t := runtime.GOOS + "-" + runtime.GOARCH
	if bi, ok := debug.ReadBuildInfo(); ok && runtime.GOARCH == "arm" {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" {
				t = runtime.GOOS + "-armv" + s.Value
			}
		}
	}
	return t
}
