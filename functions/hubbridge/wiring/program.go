package wiring

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/smartx-team/overcloud/functions/hubbridge/intake"
	"github.com/smartx-team/overcloud/functions/internal/service"
)

const usage = `hubbridge stores EdgeX events from devices in MongoDB and relays them to Kafka.

In standalone mode it serves the subset of the EdgeX v3 REST API the firmware uses
(ping, device profile/service/device registration, events); in edgex mode it
subscribes to a real EdgeX deployment's MQTT message bus instead. Either way a reading
is acknowledged only once it is in MongoDB, and marked delivered only once Kafka
acknowledged it. Admin endpoints: /healthz, /readyz (MongoDB reachable), /metrics.`

// Run is what the hubbridge binary runs once its settings are checked: New, with the
// metrics registry of the admin endpoint, then Hub.Run until ctx ends. A failure of New
// says so, since Hub.Run's start and stop lines are then never logged.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	h, err := New(ctx, cfg, log, service.NewRegistry())
	if err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	return h.Run(ctx)
}

// ParseFlags reads the hub's settings from args and the HUB_* environment over the
// defaults. It returns flag.ErrHelp after writing the usage to out for -h/--help, and
// an error wrapping ErrConfig that names the setting for a malformed value. It does
// not Validate.
func ParseFlags(args []string, out io.Writer) (Config, error) {
	cfg, err := parseFlags(args, out)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return cfg, err
}

// parseFlags is ParseFlags before its errors are marked as the settings' fault.
func parseFlags(args []string, out io.Writer) (Config, error) {
	def := DefaultConfig()
	fs := service.NewFlags("hubbridge", usage)
	fs.SetOutput(out)
	mode := fs.String("mode", "HUB_MODE", def.Mode, "standalone (own EdgeX REST ingest) or edgex (subscribe to EdgeX's message bus)")
	listen := fs.String("listen", "HUB_LISTEN", def.Listen, "EdgeX REST ingest address (standalone mode)")
	admin := fs.String("admin-listen", "HUB_ADMIN_LISTEN", def.AdminListen, "admin address: /healthz, /readyz, /metrics")
	mongoURI := fs.Secret("mongo-uri", "HUB_MONGO_URI", def.MongoURI, "MongoDB connection string; may hold a password, which is never logged (prefer the _FILE variant)")
	mongoDB := fs.String("mongo-database", "HUB_MONGO_DATABASE", def.MongoDatabase, "MongoDB database of the outbox and the device registry")
	brokers := fs.String("kafka-brokers", "HUB_KAFKA_BROKERS", strings.Join(def.KafkaBrokers, ","), "Kafka bootstrap brokers, comma separated host:port")
	topic := fs.String("kafka-topic", "HUB_KAFKA_TOPIC", def.KafkaTopic, "Kafka topic of the readings (key = device)")
	tokens := fs.String("device-tokens-file", "HUB_DEVICE_TOKENS_FILE", "", `JSON object {"device": "token", ...} (a mounted Secret); empty turns device auth off`)
	reload := fs.Duration("tokens-reload", "HUB_TOKENS_RELOAD", def.TokensReload, "how often the tokens file is re-read for changes")
	maxBody := fs.Int("max-body-bytes", "HUB_MAX_BODY_BYTES", int(def.MaxBodyBytes), "largest event request body; larger is answered 413")
	maxInFlight := fs.Int("max-in-flight", "HUB_MAX_IN_FLIGHT", def.MaxInFlight, "most events handled at once; more are answered 503 with Retry-After, so an overload sheds load instead of timing out")
	storeTimeout := fs.Duration("store-timeout", "HUB_STORE_TIMEOUT", def.StoreTimeout, "longest wait to store one event before answering 503 with Retry-After")
	limits := fs.String("limits", "HUB_LIMITS", intake.DefaultLimits, "accepted value range per resource, resource=min:max,... (an end may be empty); others unchecked")
	mqttURL := fs.String("mqtt-url", "HUB_MQTT_URL", def.MQTTURL, "EdgeX message bus (MQTT) broker (edgex mode)")
	mqttTopic := fs.String("mqtt-topic", "HUB_MQTT_TOPIC", def.MQTTTopic, `topic filter of EdgeX events (edgex mode); "edgex/events/#" also takes device services' events`)
	mqttClient := fs.String("mqtt-client-id", "HUB_MQTT_CLIENT_ID", def.MQTTClientID, "MQTT client id; stable, so the broker keeps undelivered messages while the hub restarts")
	mqttUser := fs.String("mqtt-username", "HUB_MQTT_USERNAME", "", "MQTT username, if the broker wants one")
	mqttPass := fs.Secret("mqtt-password", "HUB_MQTT_PASSWORD", "", "MQTT password (prefer the _FILE variant)")
	relayBatch := fs.Int("relay-batch", "HUB_RELAY_BATCH", def.RelayBatch, "most readings per Kafka write")
	storeBatch := fs.Int("store-batch", "HUB_STORE_BATCH", def.StoreBatch, "most readings per MongoDB write (concurrent requests are grouped)")
	retention := fs.Duration("delivered-retention", "HUB_DELIVERED_RETENTION", def.DeliveredRetention, "keep delivered readings in MongoDB (and their ids for deduplication) this long; 0 drops them at once")
	dedupMax := fs.Int("dedup-max", "HUB_DEDUP_MAX", def.DedupMax, "most reading ids remembered to answer device retries as duplicates")
	pprof := fs.Bool("pprof", "HUB_PPROF", false, "serve Go's CPU, heap and goroutine profiles under /debug/pprof/ on the admin address (costs CPU while a profile runs)")
	logLevel := fs.String("log-level", "HUB_LOG_LEVEL", def.LogLevel, "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}

	uri, err := mongoURI.Value()
	if err != nil {
		return Config{}, err
	}
	pass, err := mqttPass.Value()
	if err != nil {
		return Config{}, err
	}
	lim, err := intake.ParseLimits(*limits)
	if err != nil {
		return Config{}, fmt.Errorf("HUB_LIMITS: %w", err)
	}
	return Config{
		Mode: *mode, Listen: *listen, AdminListen: *admin,
		MongoURI: uri, MongoDatabase: *mongoDB,
		KafkaBrokers: service.SplitList(*brokers), KafkaTopic: *topic,
		DeviceTokensFile: *tokens, TokensReload: *reload,
		MaxBodyBytes: int64(*maxBody), MaxInFlight: *maxInFlight, StoreTimeout: *storeTimeout, Limits: lim,
		MQTTURL: *mqttURL, MQTTTopic: *mqttTopic, MQTTClientID: *mqttClient,
		MQTTUsername: *mqttUser, MQTTPassword: pass,
		RelayBatch: *relayBatch, StoreBatch: *storeBatch,
		DeliveredRetention: *retention, DedupMax: *dedupMax,
		Pprof: *pprof, LogLevel: *logLevel,
	}, nil
}
