// Package wiring builds inference from its Config and runs it: the model registry
// (package registry), polling the model base, and the REST API (package serve) on its
// listener. The inference binary (functions/inference) is a thin main around it; tests
// and benchmarks run the same thing in-process:
//
//	cfg := wiring.Defaults()
//	cfg.ModelBase, cfg.Listen = dir, "127.0.0.1:0"
//	inf, err := wiring.New(cfg, logger, registry)
//	...
//	err = service.Run(ctx, inf.Run) // or with its admin server: wiring.Run
package wiring

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartx-team/overcloud/functions/inference/registry"
	"github.com/smartx-team/overcloud/functions/inference/serve"
	"github.com/smartx-team/overcloud/functions/internal/service"
)

// Inference is the running server's parts. Run it once; Ready and Addr may be called
// concurrently.
type Inference struct {
	cfg      Config
	log      *slog.Logger
	registry *registry.Registry
	api      *serve.Handler
	ln       net.Listener
}

// New builds inference from cfg (which it validates): it loads the models under the
// model base at once and listens on cfg.Listen, so that a missing base or a port
// clash fails at start. Metrics go on reg (nil: a private registry); log may be nil
// (discard). If Run is never called, Close releases the listener.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Inference, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	models, err := registry.New(registry.Options{Base: cfg.ModelBase, Poll: cfg.Poll, Logger: log, Registerer: reg})
	if err != nil {
		return nil, fmt.Errorf("%w: INFERENCE_MODEL_BASE=%q: %w", ErrConfig, cfg.ModelBase, err)
	}
	api, err := serve.New(models, serve.Options{MaxBodyBytes: int64(cfg.MaxBodyBytes), Logger: log, Registerer: reg})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	return &Inference{cfg: cfg, log: log, registry: models, api: api, ln: ln}, nil
}

// Addr is the address the REST API listens on.
func (i *Inference) Addr() string { return i.ln.Addr().String() }

// Ready reports nil once at least one model version is loaded.
func (i *Inference) Ready(ctx context.Context) error { return i.registry.Ready(ctx) }

// Run serves the API and polls the model base until ctx ends, then lets requests in
// flight finish (up to 10 s) and returns nil; else the error that stopped it.
func (i *Inference) Run(ctx context.Context) error {
	return service.Run(ctx,
		i.registry.Run,
		func(ctx context.Context) error { return service.Serve(ctx, serve.NewServer(i.api), i.ln) },
	)
}

// Close releases the listener of an Inference that never ran.
func (i *Inference) Close() error { return i.ln.Close() }

// Run logs a start line with the settings, builds inference from cfg, serves its
// admin endpoints (/healthz, /readyz, /metrics) on cfg.AdminListen, logs the
// addresses and the models loaded, and runs until ctx ends. Errors that are the settings' fault wrap ErrConfig.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	log.Info("inference starting", "config", cfg)
	reg := service.NewRegistry()
	inf, err := New(cfg, log, reg)
	if err != nil {
		return err
	}
	admin, err := service.NewAdmin(cfg.AdminListen, reg, inf.Ready)
	if err != nil {
		_ = inf.Close()
		return err
	}
	log.Info("inference serving", "addr", inf.Addr(), "admin", admin.Addr(), "models", inf.registry.Names())
	return service.Run(ctx, admin.Run, inf.Run)
}
