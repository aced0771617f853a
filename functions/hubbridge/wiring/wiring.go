// Package wiring assembles the hub bridge from its parts (outbox, registry, intake,
// relay, and the EdgeX REST ingest or the EdgeX message-bus subscriber) and runs them
// together. The hubbridge binary is ParseFlags and Run under service.Program; tests
// start a hub in-process with New and Hub.Run.
//
// Data path: device -> edgexrest or edgexbus -> intake -> outbox (MongoDB) -> relay ->
// Kafka. A reading is answered 201 (or its MQTT message acknowledged) only once
// MongoDB has journaled it, and leaves the outbox only once Kafka acknowledged it.
package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/smartx-team/overcloud/functions/hubbridge/edgexbus"
	"github.com/smartx-team/overcloud/functions/hubbridge/edgexrest"
	"github.com/smartx-team/overcloud/functions/hubbridge/intake"
	"github.com/smartx-team/overcloud/functions/hubbridge/outbox"
	"github.com/smartx-team/overcloud/functions/hubbridge/registry"
	"github.com/smartx-team/overcloud/functions/hubbridge/relay"
	"github.com/smartx-team/overcloud/functions/internal/service"
)

// The outbox is the store of the intake and the source of the relay.
var (
	_ intake.Store = (*outbox.Outbox)(nil)
	_ relay.Source = (*outbox.Outbox)(nil)
)

// Hub is a hub bridge ready to run: its ports are bound and MongoDB is connected.
type Hub struct {
	cfg      Config
	log      *slog.Logger
	client   *mongo.Client
	outbox   *outbox.Outbox
	registry *registry.Registry
	intake   *intake.Intake
	relay    *relay.Relay
	tokens   *edgexrest.TokenFile
	sub      *edgexbus.Subscriber
	api      *edgexrest.Server // the REST ingest's handler, under ingest
	ingest   *ingestServer
	ln       net.Listener
	addr     string
	admin    *service.Admin
	started  bool

	// locateErrors counts EdgeX-mode location lookups the registry could not answer.
	locateErrors prometheus.Counter
}

// New connects to MongoDB, loads the outbox and the registry, reads the tokens file
// and binds the ingest and admin ports, so that a bad setting or a port clash fails
// here. Metrics go to reg. Run it, once; Run releases everything when it returns. If
// New fails, it releases what it took.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg *prometheus.Registry) (_ *Hub, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	h := &Hub{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			h.release()
		}
	}()
	// A bad tokens file fails before any connection is made.
	if err := h.loadTokens(); err != nil {
		return nil, err
	}
	if err := h.openStore(ctx, reg); err != nil {
		return nil, err
	}
	switch cfg.Mode {
	case ModeStandalone:
		err = h.newRESTIngest(reg)
	case ModeEdgeX:
		err = h.newBusSubscriber(reg)
	}
	if err != nil {
		return nil, err
	}
	if h.admin, err = service.NewAdmin(cfg.AdminListen, reg, h.ready); err != nil {
		return nil, fmt.Errorf("HUB_ADMIN_LISTEN: %w", err)
	}
	if cfg.Pprof {
		h.admin.EnablePprof()
	}
	return h, nil
}

// openStore connects to MongoDB and builds what both modes share: the outbox, the
// registry, the intake in front of the outbox, and the relay behind it.
func (h *Hub) openStore(ctx context.Context, reg *prometheus.Registry) (err error) {
	cfg, log := h.cfg, h.log
	h.client, err = mongo.Connect(options.Client().ApplyURI(cfg.MongoURI).
		SetAppName("smartx-hubbridge").SetServerSelectionTimeout(10 * time.Second))
	if err != nil {
		return fmt.Errorf("mongodb %s: %w", service.RedactURL(cfg.MongoURI), err)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := h.client.Ping(pctx, readpref.Primary()); err != nil {
		return fmt.Errorf("mongodb %s: %w", service.RedactURL(cfg.MongoURI), err)
	}
	replicaSet, err := h.replicaSet(pctx)
	if err != nil {
		return fmt.Errorf("mongodb %s: %w", service.RedactURL(cfg.MongoURI), err)
	}
	wc := outbox.Durable(replicaSet)
	log.Info("outbox write concern", "w", wc.W, "j", *wc.Journal, "replica_set", replicaSet)
	// Loading the outbox reads the headers of an earlier run's undelivered chunks: give
	// a large backlog time.
	octx, cancelOpen := context.WithTimeout(ctx, 5*time.Minute)
	defer cancelOpen()
	db := h.client.Database(cfg.MongoDatabase)
	retention := cfg.DeliveredRetention
	if retention == 0 {
		retention = -1 // outbox: drop at once
	}
	if h.outbox, err = outbox.Open(octx, outbox.Options{
		Database: db, MaxBatch: cfg.StoreBatch, Retention: retention, DedupMax: cfg.DedupMax,
		WriteConcern: wc, Registerer: reg, Logger: log.With("part", "outbox"),
	}); err != nil {
		return err
	}
	if h.registry, err = registry.Open(octx, db); err != nil {
		return err
	}
	if h.intake, err = intake.New(intake.Options{
		Store: h.outbox, Limits: cfg.Limits, Registerer: reg, Logger: log.With("part", "intake"),
	}); err != nil {
		return err
	}
	h.relay, err = relay.New(relay.Options{
		Source: h.outbox, Brokers: cfg.KafkaBrokers, Topic: cfg.KafkaTopic, Batch: cfg.RelayBatch, MaxChunk: cfg.StoreBatch,
		Registerer: reg, Logger: log.With("part", "relay"),
	})
	return err
}

// replicaSet asks the server whether it is a member of a replica set, which decides
// whether the outbox waits for a majority.
func (h *Hub) replicaSet(ctx context.Context) (bool, error) {
	var hello struct {
		SetName string `bson:"setName"`
	}
	if err := h.client.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return false, fmt.Errorf("hello: %w", err)
	}
	return hello.SetName != "", nil
}

// loadTokens reads the device tokens of standalone mode's REST ingest.
func (h *Hub) loadTokens() (err error) {
	if h.cfg.Mode != ModeStandalone {
		return nil
	}
	if h.cfg.DeviceTokensFile == "" {
		h.log.Warn("no device tokens file (HUB_DEVICE_TOKENS_FILE): device authentication is OFF, any client may post events")
		return nil
	}
	if h.tokens, err = edgexrest.LoadTokenFile(h.cfg.DeviceTokensFile, h.log.With("part", "tokens")); err != nil {
		return fmt.Errorf("HUB_DEVICE_TOKENS_FILE: %w", err)
	}
	return nil
}

// newRESTIngest is standalone mode's front door: the EdgeX v3 REST ingest, with the
// device tokens, on its bound port.
func (h *Hub) newRESTIngest(reg prometheus.Registerer) (err error) {
	cfg, log := h.cfg, h.log
	api, err := edgexrest.New(edgexrest.Options{
		Intake: h.intake, Registry: h.registry, Tokens: h.tokens, MaxBodyBytes: cfg.MaxBodyBytes,
		MaxInFlight: cfg.MaxInFlight, StoreTimeout: cfg.StoreTimeout,
		Registerer: reg, Logger: log.With("part", "ingest"),
	})
	if err != nil {
		return err
	}
	h.api = api
	if h.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fmt.Errorf("HUB_LISTEN: %w", err)
	}
	h.addr = h.ln.Addr().String()
	h.ingest = newIngestServer(h.ln, api.Handler(), ingestOptions{
		MaxBodyBytes: cfg.MaxBodyBytes, MaxHeaderBytes: 16 << 10, Handlers: cfg.MaxInFlight,
		Idle: 2 * time.Minute, Write: 30 * time.Second, Drain: 10 * time.Second,
	}, log.With("part", "ingest"))
	return nil
}

// newBusSubscriber is EdgeX mode's front door: the subscriber to EdgeX's message bus.
func (h *Hub) newBusSubscriber(reg prometheus.Registerer) (err error) {
	cfg, log := h.cfg, h.log
	// Its own metric, not a step of hub_accept_errors_total: such a reading is still
	// stored and acknowledged, only without its location.
	h.locateErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hub_locate_errors_total",
		Help: "EdgeX-mode readings stored without a location because the device registry (MongoDB) could not be read.",
	})
	if err := reg.Register(h.locateErrors); err != nil {
		return fmt.Errorf("hub: register metrics: %w", err)
	}
	h.sub, err = edgexbus.New(edgexbus.Options{
		URL: cfg.MQTTURL, Topic: cfg.MQTTTopic, ClientID: cfg.MQTTClientID,
		Username: cfg.MQTTUsername, Password: cfg.MQTTPassword, Intake: h.intake,
		Locate: h.locate,
		Logger: log.With("part", "edgexbus"),
	})
	return err
}

// locate is a registered device's location, "" when it is unknown or the registry
// cannot answer (which is logged and counted: the reading is still delivered, without
// location, so nothing else would show that locations are missing).
func (h *Hub) locate(ctx context.Context, device string) string {
	d, _, err := h.registry.Device(ctx, device)
	if err != nil {
		h.locateErrors.Inc()
		h.log.Warn("look up the device's location", "device", device, "err", err)
		return ""
	}
	return d.Location
}

// ready is the readiness check: MongoDB answers and, in edgex mode, the subscription
// to EdgeX's bus is made (from then on the broker keeps what is published for it,
// even while the bridge is away). Kafka is left out on purpose: while it is down
// devices must still be able to deliver into the outbox.
func (h *Hub) ready(ctx context.Context) error {
	if err := h.client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("mongodb: %w", err)
	}
	if h.sub != nil && !h.sub.Subscribed() {
		return errors.New("not yet subscribed to the EdgeX message bus")
	}
	return nil
}

// Addr is the address of the EdgeX REST ingest ("" in edgex mode).
func (h *Hub) Addr() string { return h.addr }

// AdminAddr is the address of /healthz, /readyz and /metrics.
func (h *Hub) AdminAddr() string { return h.admin.Addr() }

// Run serves until ctx ends, then shuts down in order: stop taking requests and let
// those in flight finish, finish the relay's batch in flight, commit what is queued
// for MongoDB, and close the clients. It returns the first part's failure, if any.
func (h *Hub) Run(ctx context.Context) error {
	h.started = true
	defer h.release()
	// The outbox writer outlives the other parts, so requests still in flight at
	// shutdown are stored and answered.
	writerCtx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	writerDone := make(chan error, 1)
	go func() { writerDone <- h.outbox.Run(writerCtx) }()

	parts := []func(context.Context) error{h.admin.Run, h.relay.Run}
	if h.ingest != nil {
		h.ln = nil // the ingest server owns it now
		parts = append(parts, h.ingest.Run)
	}
	if h.sub != nil {
		parts = append(parts, h.sub.Run)
	}
	if h.tokens != nil {
		parts = append(parts, func(ctx context.Context) error { return h.tokens.Run(ctx, h.cfg.TokensReload) })
	}
	h.log.Info("hub bridge started",
		"mode", h.cfg.Mode, "listen", h.addr, "admin", h.AdminAddr(),
		"mongodb", service.RedactURL(h.cfg.MongoURI), "database", h.cfg.MongoDatabase,
		"kafka", strings.Join(h.cfg.KafkaBrokers, ","), "topic", h.cfg.KafkaTopic,
		"auth", h.tokens != nil, "mqtt", h.mqttAddr(), "backlog", h.outbox.Backlog())
	err := service.Run(ctx, parts...)
	stopWriter()
	if werr := <-writerDone; werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		h.log.Error("hub bridge stopped", "err", err)
	} else {
		h.log.Info("hub bridge stopped", "backlog", h.outbox.Backlog())
	}
	return err
}

func (h *Hub) mqttAddr() string {
	if h.sub == nil {
		return ""
	}
	return service.RedactURL(h.cfg.MQTTURL)
}

// release closes what New opened; safe to call twice.
func (h *Hub) release() {
	if h.ln != nil {
		_ = h.ln.Close()
		h.ln = nil
	}
	if h.api != nil { // after the ingest server: no request is left to decode
		h.api.Close()
		h.api = nil
	}
	if h.admin != nil && !h.started {
		// Only Admin.Run closes its listener: run it with a context already done.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = h.admin.Run(ctx)
	}
	if h.client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.client.Disconnect(ctx); err != nil && !errors.Is(err, mongo.ErrClientDisconnected) {
			h.log.Warn("disconnect from mongodb", "err", err)
		}
		h.client = nil
	}
}
