package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartx-team/overcloud/functions/dashboard/auth"
	"github.com/smartx-team/overcloud/functions/dashboard/control"
	"github.com/smartx-team/overcloud/functions/dashboard/pipeline"
	"github.com/smartx-team/overcloud/functions/dashboard/room"
	"github.com/smartx-team/overcloud/functions/dashboard/web"
	"github.com/smartx-team/overcloud/functions/internal/service"
)

// Dashboard is the running dashboard's parts.
type Dashboard struct {
	room    *room.Reader
	watcher *pipeline.Watcher
	web     *web.Server
}

// New builds the dashboard from cfg (which it validates): it reads the users file and
// the secret files, and connects to nothing yet. Metrics go on reg (nil: a private
// registry).
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Dashboard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	f, err := os.Open(cfg.UsersFile)
	if err != nil {
		return nil, fmt.Errorf("%w: DASHBOARD_USERS_FILE: %w", ErrConfig, err)
	}
	users, err := auth.ParseUsers(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: DASHBOARD_USERS_FILE %s: %w", ErrConfig, cfg.UsersFile, err)
	}
	influxToken, err := service.ReadSecret(cfg.InfluxToken, cfg.InfluxTokenFile)
	if err != nil {
		return nil, fmt.Errorf("%w: DASHBOARD_INFLUX_TOKEN_FILE: %w", ErrConfig, err)
	}
	controllerToken, err := service.ReadSecret(cfg.ControllerToken, cfg.ControllerTokenFile)
	if err != nil {
		return nil, fmt.Errorf("%w: DASHBOARD_CONTROLLER_TOKEN_FILE: %w", ErrConfig, err)
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("%w: DASHBOARD_TIME_ZONE: %w", ErrConfig, err)
	}
	rd, err := room.New(room.Options{URL: cfg.InfluxURL, Token: influxToken, Org: cfg.InfluxOrg, Bucket: cfg.InfluxBucket, Timeout: cfg.RequestTimeout})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	// A manual set-point waits for the controller's decision in progress and then for
	// the device: give it more than one request's time.
	ctl, err := control.New(control.Options{URL: cfg.ControllerURL, Token: controllerToken, Timeout: 3 * cfg.RequestTimeout})
	if err != nil {
		rd.Close()
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	watcher := pipeline.New([]pipeline.Target{{Name: "hub", URL: cfg.HubMetricsURL}, {Name: "sender", URL: cfg.SenderMetricsURL}},
		cfg.MetricsEvery, log.With("part", "pipeline"))
	srv, err := web.New(web.Options{
		Users: users, Room: rd, Controller: ctl, Pipeline: watcher,
		Stale: cfg.Stale, Refresh: cfg.Refresh, SessionTTL: cfg.SessionTTL, SessionIdle: cfg.SessionIdle,
		CookieSecure: cfg.CookieSecure, Location: loc, Timeout: cfg.RequestTimeout,
		Logger: log.With("part", "web"), Registerer: reg,
	})
	if err != nil {
		rd.Close()
		return nil, err
	}
	log.Info("users loaded", "count", len(users.Names()))
	return &Dashboard{room: rd, watcher: watcher, web: srv}, nil
}

// Handler is the web UI.
func (d *Dashboard) Handler() http.Handler { return d.web.Handler() }

// Ready reports nil once InfluxDB answers; the controller and the metrics targets may
// be down, and the page says so.
func (d *Dashboard) Ready(ctx context.Context) error { return d.room.Ping(ctx) }

// Close releases the InfluxDB client.
func (d *Dashboard) Close() { d.room.Close() }

// Run builds the dashboard, serves the UI on cfg.Listen and the admin endpoints on
// cfg.AdminListen, watches the metrics, and runs until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	reg := service.NewRegistry()
	d, err := New(cfg, log, reg)
	if err != nil {
		return err
	}
	defer d.Close()
	admin, err := service.NewAdmin(cfg.AdminListen, reg, d.Ready)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return errors.Join(fmt.Errorf("web listen %s: %w", cfg.Listen, err), admin.Run(canceled()))
	}
	srv := &http.Server{
		Handler: d.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 4 * cfg.RequestTimeout, IdleTimeout: 2 * time.Minute,
	}
	log.Info("dashboard starting", "config", cfg, "web", ln.Addr().String(), "admin", admin.Addr())
	return service.Run(ctx, admin.Run, d.watcher.Run, func(ctx context.Context) error { return service.Serve(ctx, srv, ln) })
}

// canceled is a context that has ended, to close a listener through its Run.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
