package wiring

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/smartx-team/overcloud/functions/hubbridge/edgexbus"
	"github.com/smartx-team/overcloud/functions/hubbridge/edgexrest"
	"github.com/smartx-team/overcloud/functions/hubbridge/intake"
	"github.com/smartx-team/overcloud/functions/internal/service"
	"github.com/smartx-team/overcloud/functions/reading"
)

// Modes of the hub.
const (
	// ModeStandalone serves the hub's own EdgeX v3 REST ingest.
	ModeStandalone = "standalone"
	// ModeEdgeX subscribes to a real EdgeX deployment's MQTT message bus.
	ModeEdgeX = "edgex"
)

// Config is every setting of the hub; DefaultConfig fills the defaults. The env names
// (HUB_...) are those of the hubbridge binary.
type Config struct {
	// Mode is ModeStandalone or ModeEdgeX (HUB_MODE).
	Mode string
	// Listen is the EdgeX REST ingest address, standalone mode only (HUB_LISTEN, :59880).
	Listen string
	// AdminListen serves /healthz, /readyz, /metrics (HUB_ADMIN_LISTEN, :9102).
	AdminListen string
	// MongoURI may hold a password; it is only ever logged redacted (HUB_MONGO_URI).
	MongoURI string
	// MongoDatabase holds the outbox and the registry (HUB_MONGO_DATABASE, smartx_hub).
	MongoDatabase string
	// KafkaBrokers are host:port addresses (HUB_KAFKA_BROKERS, comma separated).
	KafkaBrokers []string
	// KafkaTopic receives the readings (HUB_KAFKA_TOPIC, readings).
	KafkaTopic string
	// DeviceTokensFile is a JSON object device -> token; empty turns auth off
	// (HUB_DEVICE_TOKENS_FILE).
	DeviceTokensFile string
	// TokensReload is how often the tokens file is re-read (HUB_TOKENS_RELOAD, 30 s).
	TokensReload time.Duration
	// MaxBodyBytes bounds an event request body (HUB_MAX_BODY_BYTES, 64 KiB).
	MaxBodyBytes int64
	// MaxInFlight bounds the events handled at once; more are answered 503 with
	// Retry-After (HUB_MAX_IN_FLIGHT, 16384).
	MaxInFlight int
	// StoreTimeout bounds storing one event before it is answered 503 with
	// Retry-After (HUB_STORE_TIMEOUT, 5 s).
	StoreTimeout time.Duration
	// Limits are the accepted value ranges per resource (HUB_LIMITS).
	Limits intake.Limits
	// MQTTURL is EdgeX's message bus, edgex mode only (HUB_MQTT_URL).
	MQTTURL string
	// MQTTTopic is the topic filter of EdgeX events (HUB_MQTT_TOPIC).
	MQTTTopic string
	// MQTTClientID keeps the broker session across restarts (HUB_MQTT_CLIENT_ID).
	MQTTClientID string
	// MQTTUsername and MQTTPassword authenticate to the broker, if it wants
	// (HUB_MQTT_USERNAME, HUB_MQTT_PASSWORD or HUB_MQTT_PASSWORD_FILE).
	MQTTUsername, MQTTPassword string
	// RelayBatch is the most readings per Kafka write (HUB_RELAY_BATCH, 1000).
	RelayBatch int
	// StoreBatch is the most readings per MongoDB write (HUB_STORE_BATCH, 2000).
	StoreBatch int
	// DeliveredRetention keeps delivered readings in MongoDB, and their ids for
	// deduplication, this long; 0 drops them at once (HUB_DELIVERED_RETENTION, 1 h).
	DeliveredRetention time.Duration
	// DedupMax bounds the reading ids remembered (HUB_DEDUP_MAX, 100000).
	DedupMax int
	// Pprof serves Go's profiles under /debug/pprof/ on the admin port (HUB_PPROF,
	// default false).
	Pprof bool
	// LogLevel is debug, info, warn or error (HUB_LOG_LEVEL).
	LogLevel string
}

// DefaultConfig returns the defaults: standalone on :59880, admin on :9102, MongoDB and
// Kafka on localhost.
func DefaultConfig() Config {
	limits, err := intake.ParseLimits(intake.DefaultLimits)
	if err != nil {
		panic(err) // a constant of ours
	}
	return Config{
		Mode:               ModeStandalone,
		Listen:             ":59880",
		AdminListen:        ":9102",
		MongoURI:           service.DefaultMongoURI,
		MongoDatabase:      "smartx_hub",
		KafkaBrokers:       service.SplitList(service.DefaultKafkaBrokers),
		KafkaTopic:         reading.Topic,
		TokensReload:       30 * time.Second,
		MaxBodyBytes:       edgexrest.DefaultMaxBodyBytes,
		MaxInFlight:        edgexrest.DefaultMaxInFlight,
		StoreTimeout:       edgexrest.DefaultStoreTimeout,
		Limits:             limits,
		MQTTURL:            "mqtt://127.0.0.1:1883",
		MQTTTopic:          edgexbus.DefaultTopic,
		MQTTClientID:       "smartx-hubbridge",
		RelayBatch:         1000,
		StoreBatch:         2000,
		DeliveredRetention: time.Hour,
		DedupMax:           100_000,
		LogLevel:           "info",
	}
}

// ErrConfig is wrapped by every error that is the settings' fault; its text is the
// prefix the hubbridge binary has always printed before such an error.
var ErrConfig = errors.New("bad configuration")

// Validate reports the first bad setting, naming its environment variable; the error
// wraps ErrConfig.
func (c Config) Validate() error {
	if err := c.check(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

func (c Config) check() error {
	switch c.Mode {
	case ModeStandalone, ModeEdgeX:
	default:
		return fmt.Errorf("HUB_MODE=%q: want %s or %s", c.Mode, ModeStandalone, ModeEdgeX)
	}
	if c.Mode == ModeStandalone {
		if err := checkAddr("HUB_LISTEN", c.Listen); err != nil {
			return err
		}
	}
	if err := checkAddr("HUB_ADMIN_LISTEN", c.AdminListen); err != nil {
		return err
	}
	if u, err := url.Parse(c.MongoURI); err != nil || (u.Scheme != "mongodb" && u.Scheme != "mongodb+srv") || u.Host == "" {
		return errors.New("HUB_MONGO_URI: want mongodb://host:port/... (not shown: it may hold a password)")
	}
	if c.MongoDatabase == "" || strings.ContainsAny(c.MongoDatabase, `/\. "$`) {
		return fmt.Errorf("HUB_MONGO_DATABASE=%q: want a MongoDB database name", c.MongoDatabase)
	}
	if err := service.CheckBrokers(c.KafkaBrokers); err != nil {
		return fmt.Errorf("HUB_KAFKA_BROKERS: %w", err)
	}
	if err := service.CheckTopic(c.KafkaTopic); err != nil {
		return fmt.Errorf("HUB_KAFKA_TOPIC=%q: %w", c.KafkaTopic, err)
	}
	if c.DeviceTokensFile != "" && c.TokensReload <= 0 {
		return fmt.Errorf("HUB_TOKENS_RELOAD=%s: want a positive duration", c.TokensReload)
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 16<<20 {
		return fmt.Errorf("HUB_MAX_BODY_BYTES=%d: want 1024 to 16777216", c.MaxBodyBytes)
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 100_000 {
		return fmt.Errorf("HUB_MAX_IN_FLIGHT=%d: want 1 to 100000", c.MaxInFlight)
	}
	if c.StoreTimeout < 100*time.Millisecond || c.StoreTimeout > 5*time.Minute {
		return fmt.Errorf("HUB_STORE_TIMEOUT=%s: want 100ms to 5m", c.StoreTimeout)
	}
	if c.Mode == ModeEdgeX {
		if u, err := url.Parse(c.MQTTURL); err != nil || u.Host == "" {
			return errors.New("HUB_MQTT_URL: want mqtt://host:port")
		}
		if c.MQTTTopic == "" {
			return errors.New("HUB_MQTT_TOPIC: empty")
		}
		if c.MQTTClientID == "" {
			return errors.New("HUB_MQTT_CLIENT_ID: empty (the broker keeps the session by it)")
		}
	}
	if c.RelayBatch < 1 || c.RelayBatch > 100_000 {
		return fmt.Errorf("HUB_RELAY_BATCH=%d: want 1 to 100000", c.RelayBatch)
	}
	if c.StoreBatch < 1 || c.StoreBatch > 100_000 {
		return fmt.Errorf("HUB_STORE_BATCH=%d: want 1 to 100000", c.StoreBatch)
	}
	if c.DeliveredRetention < 0 {
		return fmt.Errorf("HUB_DELIVERED_RETENTION=%s: want 0 or more", c.DeliveredRetention)
	}
	if c.DedupMax < 1 {
		return fmt.Errorf("HUB_DEDUP_MAX=%d: want 1 or more", c.DedupMax)
	}
	if _, err := service.ParseLogLevel(c.LogLevel); err != nil {
		return fmt.Errorf("HUB_LOG_LEVEL: %w", err)
	}
	return nil
}

func checkAddr(name, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s=%q: want host:port or :port", name, addr)
	}
	return nil
}
