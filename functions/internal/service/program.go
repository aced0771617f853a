package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// Settings are a function's checked configuration.
type Settings interface {
	// Validate names the first bad setting.
	Validate() error
}

// Program is what the mains of our functions share: settings from flags and the
// environment, checked before anything starts, a JSON logger on stderr, then Run
// until ctx ends.
type Program[C Settings] struct {
	// Name prefixes messages on stderr and is the logger's component.
	Name string
	// Parse reads the settings; flag.ErrHelp after --help.
	Parse func(args []string, stderr io.Writer) (C, error)
	// LogLevel is the settings' log level.
	LogLevel func(C) string
	// Run runs the function. An error wrapping ErrConfig is a bad setting found only
	// then (a secret file that cannot be read, ...).
	Run       func(ctx context.Context, cfg C, log *slog.Logger) error
	ErrConfig error
	// ErrRefused, if set, marks a run that worked but whose checks refused to act (a
	// trainer whose model is worse than its baseline): an error wrapping it exits 3,
	// so a caller can tell "not yet" from "broken".
	ErrRefused error
	// Failed is logged when Run fails (default "<Name> stopped").
	Failed string
}

// Main runs the program and returns its exit code: 0 after a clean stop or --help, 2
// for bad settings (with a message naming the setting on stderr), 1 when Run fails, 3
// when it fails with ErrRefused.
func (p Program[C]) Main(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := p.Parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
		return 2
	}
	log, err := NewLogger(stderr, p.Name, p.LogLevel(cfg))
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
		return 2
	}
	if err := p.Run(ctx, cfg, log); err != nil {
		if p.ErrConfig != nil && errors.Is(err, p.ErrConfig) {
			fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
			return 2
		}
		failed := p.Failed
		if failed == "" {
			failed = p.Name + " stopped"
		}
		log.Error(failed, "err", err)
		if p.ErrRefused != nil && errors.Is(err, p.ErrRefused) {
			return 3
		}
		return 1
	}
	return 0
}
