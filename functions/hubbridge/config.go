package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/smartx-team/overcloud/functions/hubbridge/intake"
	"github.com/smartx-team/overcloud/functions/hubbridge/wiring"
	"github.com/smartx-team/overcloud/functions/internal/service"
)

const usage = `hubbridge stores EdgeX events from devices in MongoDB and relays them to Kafka.

In standalone mode it serves the subset of the EdgeX v3 REST API the firmware uses
(ping, device profile/service/device registration, events); in edgex mode it
subscribes to a real EdgeX deployment's MQTT message bus instead. Either way a reading
is acknowledged only once it is in MongoDB, and marked delivered only once Kafka
acknowledged it. Admin endpoints: /healthz, /readyz (MongoDB reachable), /metrics.`

// parseConfig builds the hub's configuration from args and the environment (HUB_*).
// It returns flag.ErrHelp after printing the usage for -h/--help.
func parseConfig(args []string, out io.Writer) (wiring.Config, error) {
	def := wiring.DefaultConfig()
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
	logLevel := fs.String("log-level", "HUB_LOG_LEVEL", def.LogLevel, "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return wiring.Config{}, err
	}

	uri, err := mongoURI.Value()
	if err != nil {
		return wiring.Config{}, err
	}
	pass, err := mqttPass.Value()
	if err != nil {
		return wiring.Config{}, err
	}
	lim, err := intake.ParseLimits(*limits)
	if err != nil {
		return wiring.Config{}, fmt.Errorf("HUB_LIMITS: %w", err)
	}
	cfg := wiring.Config{
		Mode: *mode, Listen: *listen, AdminListen: *admin,
		MongoURI: uri, MongoDatabase: *mongoDB,
		KafkaBrokers: service.SplitList(*brokers), KafkaTopic: *topic,
		DeviceTokensFile: *tokens, TokensReload: *reload,
		MaxBodyBytes: int64(*maxBody), Limits: lim,
		MQTTURL: *mqttURL, MQTTTopic: *mqttTopic, MQTTClientID: *mqttClient,
		MQTTUsername: *mqttUser, MQTTPassword: pass,
		RelayBatch: *relayBatch, StoreBatch: *storeBatch,
		DeliveredRetention: *retention, DedupMax: *dedupMax,
		LogLevel: *logLevel,
	}
	return cfg, cfg.Validate()
}
