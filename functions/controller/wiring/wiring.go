// Package wiring builds the controller from its Config and runs it: the InfluxDB
// client (window reader, recommendation writer), the TF-Serving client, the
// core-command client, the MongoDB audit store, the loop, the HTTP API and the admin
// endpoints. The controller binary (functions/controller) is a thin main around it;
// tests run the same thing in process:
//
//	cfg := wiring.Defaults()
//	cfg.Devices, cfg.InfluxURL, ... = ...
//	err := wiring.Run(ctx, cfg, logger) // until ctx ends
package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/smartx-team/overcloud/functions/controller/api"
	"github.com/smartx-team/overcloud/functions/controller/audit"
	"github.com/smartx-team/overcloud/functions/controller/coreclient"
	"github.com/smartx-team/overcloud/functions/controller/influx"
	"github.com/smartx-team/overcloud/functions/controller/loop"
	"github.com/smartx-team/overcloud/functions/controller/tfserving"
	"github.com/smartx-team/overcloud/functions/internal/service"
)

// Controller is the running controller's parts. Run it once; Ready and Handler may be
// used concurrently.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	mongo  *mongo.Client
	influx *influx.Client
	store  *audit.Store
	loop   *loop.Controller
	api    *api.API

	closeOnce sync.Once
	closeErr  error
}

// New builds the controller from cfg (which it validates) and reads its secret files.
// It connects to nothing yet (the MongoDB driver connects lazily). Metrics go on reg
// (nil: a private registry); log may be nil (discard). If Run is never called, Close
// releases what New opened.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (_ *Controller, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	secret := func(key, value, file string) (string, error) {
		v, err := service.ReadSecret(value, file)
		if err != nil {
			return "", fmt.Errorf("%w: %s_FILE: %w", ErrConfig, key, err)
		}
		return v, nil
	}
	influxToken, err := secret("CONTROLLER_INFLUX_TOKEN", cfg.InfluxToken, cfg.InfluxTokenFile)
	if err != nil {
		return nil, err
	}
	commandToken, err := secret("CONTROLLER_COMMAND_TOKEN", cfg.CommandToken, cfg.CommandTokenFile)
	if err != nil {
		return nil, err
	}
	mongoURI, err := secret("CONTROLLER_MONGO_URI", cfg.MongoURI, cfg.MongoURIFile)
	if err != nil {
		return nil, err
	}
	apiToken, err := secret("CONTROLLER_API_TOKEN", cfg.APIToken, cfg.APITokenFile)
	if err != nil {
		return nil, err
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Controller{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()

	if c.influx, err = influx.New(influx.Options{
		URL: cfg.InfluxURL, Token: influxToken, Org: cfg.InfluxOrg, Bucket: cfg.InfluxBucket, Timeout: cfg.RequestTimeout,
	}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	tf, err := tfserving.New(tfserving.Options{URL: cfg.InferenceURL, Model: cfg.ModelName, Timeout: cfg.RequestTimeout})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	core, err := coreclient.New(coreclient.Options{URL: cfg.CommandURL, Token: commandToken, Timeout: cfg.RequestTimeout})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.mongo, err = mongo.Connect(options.Client().ApplyURI(mongoURI).
		SetServerSelectionTimeout(5 * time.Second).SetTimeout(cfg.RequestTimeout)); err != nil {
		return nil, fmt.Errorf("%w: CONTROLLER_MONGO_URI: %w", ErrConfig, err)
	}
	c.store = audit.New(c.mongo, audit.Options{Database: cfg.MongoDatabase, Audit: cfg.MongoAudit, Overrides: cfg.MongoOverrides})
	limits := cfg.Limits()
	if c.loop, err = loop.New(c.influx, tf, c.influx, core, c.store, loop.Options{
		Devices: cfg.DeviceList(), Limits: &limits, Interval: cfg.Interval,
		OverrideDefault: cfg.OverrideDefault, OverrideMax: cfg.OverrideMax, DryRun: cfg.DryRun,
		Logger: log.With("part", "loop"), Registerer: reg,
	}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.api, err = api.New(api.Options{Controller: c.loop, Audit: c.store, Token: apiToken, Logger: log.With("part", "api")}); err != nil {
		return nil, err
	}
	return c, nil
}

// Handler is the HTTP API's handler.
func (c *Controller) Handler() http.Handler { return c.api.Handler() }

// Loop is the loop, for tests and tools in process.
func (c *Controller) Loop() *loop.Controller { return c.loop }

// Ready reports nil once InfluxDB and MongoDB answer and the overrides are restored;
// it says which is missing otherwise. The model server and core-command are not asked:
// without them the controller falls back, which is what it is for.
func (c *Controller) Ready(ctx context.Context) error {
	if err := c.influx.Ping(ctx); err != nil {
		return err
	}
	if err := c.store.Ping(ctx); err != nil {
		return err
	}
	return c.loop.Ready()
}

// Run creates the audit trail's indexes (best effort: a MongoDB that is down is
// retried by the loop's restore) and runs the loop until ctx ends, then closes
// everything. It returns nil after a cancel.
func (c *Controller) Run(ctx context.Context) error {
	ictx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	if err := c.store.EnsureIndexes(ictx); err != nil {
		c.log.Warn("audit indexes not created; the audit works without them", "err", err)
	}
	cancel()
	err := c.loop.Run(ctx)
	return errors.Join(err, c.Close())
}

// Close disconnects MongoDB and closes the InfluxDB client. Run calls it; it is safe
// to call more than once.
func (c *Controller) Close() error {
	c.closeOnce.Do(func() {
		if c.influx != nil {
			c.influx.Close()
		}
		if c.mongo != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.closeErr = c.mongo.Disconnect(ctx)
		}
	})
	return c.closeErr
}

// Run builds the controller from cfg, serves its API on cfg.Listen and its admin
// endpoints (/healthz, /readyz, /metrics) on cfg.AdminListen, logs one start line with
// the settings (never the secrets) and runs until ctx ends. Errors that are the
// settings' fault wrap ErrConfig.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	reg := service.NewRegistry()
	c, err := New(cfg, log, reg)
	if err != nil {
		return err
	}
	admin, err := service.NewAdmin(cfg.AdminListen, reg, c.Ready)
	if err != nil {
		_ = c.Close()
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = c.Close()
		return fmt.Errorf("api listen %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler: c.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		// A manual set-point waits for the device's decision in progress (at most an
		// interval) and then for core-command.
		WriteTimeout: cfg.Interval + cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:  2 * time.Minute,
	}
	log.Info("controller starting", "config", cfg, "api", ln.Addr().String(), "admin", admin.Addr())
	return service.Run(ctx, admin.Run, func(ctx context.Context) error { return service.Serve(ctx, srv, ln) }, c.Run)
}
