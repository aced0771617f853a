package wiring

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smartx-team/overcloud/functions/internal/service"
	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/sender/stats"
	"github.com/smartx-team/overcloud/functions/sender/store"
	"github.com/smartx-team/overcloud/functions/sender/weather"
)

// Weather provider names for Config.WeatherProvider.
const (
	ProviderAuto      = "auto" // owm if an API key is set, else open-meteo
	ProviderOWM       = "owm"
	ProviderOpenMeteo = "open-meteo"
	ProviderNone      = "none"
)

// Config is every setting of the sender. Each has an environment variable (in
// brackets) and a flag; Defaults gives the defaults, ParseFlags reads flags and
// environment, Validate checks and names the bad setting.
type Config struct {
	KafkaBrokers    string        // [SENDER_KAFKA_BROKERS] comma-separated host:port list
	KafkaTopic      string        // [SENDER_KAFKA_TOPIC] readings topic (default "readings")
	KafkaGroup      string        // [SENDER_KAFKA_GROUP] consumer group (default "smartx-sender")
	DeadLetterTopic string        // [SENDER_DEAD_LETTER_TOPIC] (default "readings.dead")
	InfluxURL       string        // [SENDER_INFLUX_URL] (default "http://localhost:8086")
	InfluxToken     string        // [SENDER_INFLUX_TOKEN] secret
	InfluxTokenFile string        // [SENDER_INFLUX_TOKEN_FILE] secret file; wins over InfluxToken
	InfluxOrg       string        // [SENDER_INFLUX_ORG] (default "smartx"; InfluxDB 1.8 ignores it)
	InfluxBucket    string        // [SENDER_INFLUX_BUCKET] (default "Sensordata/autogen")
	BatchSize       int           // [SENDER_BATCH_SIZE] (default 5000)
	BatchWait       time.Duration // [SENDER_BATCH_WAIT] (default 200ms)
	Location        string        // [SENDER_LOCATION] location tag of readings without one (default "Gwangju")
	Latitude        float64       // [SENDER_LATITUDE] where the weather is taken (default Gwangju's)
	Longitude       float64       // [SENDER_LONGITUDE]
	WeatherProvider string        // [SENDER_WEATHER_PROVIDER] auto, owm, open-meteo or none (default auto)
	WeatherTTL      time.Duration // [SENDER_WEATHER_TTL] (default 5m)
	WeatherMaxAge   time.Duration // [SENDER_WEATHER_MAX_AGE] last good report used while the provider fails (default 1h)
	OWMAPIKey       string        // [SENDER_OWM_API_KEY] secret
	OWMAPIKeyFile   string        // [SENDER_OWM_API_KEY_FILE] secret file; wins over OWMAPIKey
	OWMURL          string        // [SENDER_OWM_URL] (default weather.OWMDefaultURL)
	OpenMeteoURL    string        // [SENDER_OPENMETEO_URL] (default weather.OpenMeteoDefaultURL)
	StatsInterval   time.Duration // [SENDER_STATS_INTERVAL] how often the smartx_pipeline stats point is written to InfluxDB; 0 turns it off (default 15s)
	AdminListen     string        // [SENDER_ADMIN_LISTEN] /healthz, /readyz, /metrics (default ":9103")
	Pprof           bool          // [SENDER_PPROF] Go's profiles under /debug/pprof/ on the admin address (default false)
	LogLevel        string        // [SENDER_LOG_LEVEL] debug, info, warn or error (default "info")
}

// Defaults returns the default settings.
func Defaults() Config {
	return Config{
		KafkaBrokers:    service.DefaultKafkaBrokers,
		KafkaTopic:      reading.Topic,
		KafkaGroup:      "smartx-sender",
		DeadLetterTopic: reading.DeadLetterTopic,
		InfluxURL:       "http://localhost:8086",
		InfluxOrg:       "smartx",
		InfluxBucket:    "Sensordata/autogen",
		BatchSize:       5000,
		BatchWait:       200 * time.Millisecond,
		Location:        store.DefaultLocation,
		Latitude:        weather.Gwangju.Lat,
		Longitude:       weather.Gwangju.Lon,
		WeatherProvider: ProviderAuto,
		WeatherTTL:      5 * time.Minute,
		WeatherMaxAge:   time.Hour,
		OWMURL:          weather.OWMDefaultURL,
		OpenMeteoURL:    weather.OpenMeteoDefaultURL,
		StatsInterval:   15 * time.Second,
		AdminListen:     ":9103",
		LogLevel:        "info",
	}
}

// ParseFlags reads the settings from args and the SENDER_* environment over the
// defaults. It returns flag.ErrHelp after writing the usage to out for -h/--help, and
// an error naming the setting for a malformed value. It does not Validate.
func ParseFlags(args []string, out io.Writer) (Config, error) {
	c := Defaults()
	fs := service.NewFlags("sender", "Consumes readings from Kafka, adds the outside weather and writes them to InfluxDB.\n\n"+
		"`sender replay` puts dead letters back on the readings topic: see `sender replay --help`.")
	fs.SetOutput(out)
	var after []func() // copy parsed values into c
	str := func(p *string, name, env, usage string) {
		v := fs.String(name, env, *p, usage)
		after = append(after, func() { *p = *v })
	}
	str(&c.KafkaBrokers, "kafka-brokers", "SENDER_KAFKA_BROKERS", "Kafka bootstrap brokers, comma-separated host:port")
	str(&c.KafkaTopic, "kafka-topic", "SENDER_KAFKA_TOPIC", "topic of the readings")
	str(&c.KafkaGroup, "kafka-group", "SENDER_KAFKA_GROUP", "consumer group")
	str(&c.DeadLetterTopic, "dead-letter-topic", "SENDER_DEAD_LETTER_TOPIC", "topic for messages that cannot be stored")
	str(&c.InfluxURL, "influx-url", "SENDER_INFLUX_URL", "InfluxDB base URL")
	influxToken := fs.Secret("influx-token", "SENDER_INFLUX_TOKEN", "", "InfluxDB token (user:password on InfluxDB 1.8); prefer the _FILE variant")
	str(&c.InfluxOrg, "influx-org", "SENDER_INFLUX_ORG", "InfluxDB organization (ignored by InfluxDB 1.8)")
	str(&c.InfluxBucket, "influx-bucket", "SENDER_INFLUX_BUCKET", "InfluxDB bucket (database/retention-policy on InfluxDB 1.8)")
	batchSize := fs.Int("batch-size", "SENDER_BATCH_SIZE", c.BatchSize, "most messages written to InfluxDB in one request")
	batchWait := fs.Duration("batch-wait", "SENDER_BATCH_WAIT", c.BatchWait, "longest a batch waits for more messages after its first")
	str(&c.Location, "location", "SENDER_LOCATION", "location tag of readings that carry none")
	lat := fs.String("latitude", "SENDER_LATITUDE", fmtFloat(c.Latitude), "latitude of the weather location, decimal degrees")
	lon := fs.String("longitude", "SENDER_LONGITUDE", fmtFloat(c.Longitude), "longitude of the weather location, decimal degrees")
	str(&c.WeatherProvider, "weather-provider", "SENDER_WEATHER_PROVIDER", "owm, open-meteo, none, or auto (owm if an API key is set, else open-meteo)")
	ttl := fs.Duration("weather-ttl", "SENDER_WEATHER_TTL", c.WeatherTTL, "how long a weather report is used before asking again")
	maxAge := fs.Duration("weather-max-age", "SENDER_WEATHER_MAX_AGE", c.WeatherMaxAge, "how long the last good report stands in while the provider fails")
	owmKey := fs.Secret("owm-api-key", "SENDER_OWM_API_KEY", "", "OpenWeatherMap API key; prefer the _FILE variant")
	str(&c.OWMURL, "owm-url", "SENDER_OWM_URL", "OpenWeatherMap API base URL")
	str(&c.OpenMeteoURL, "openmeteo-url", "SENDER_OPENMETEO_URL", "Open-Meteo API base URL")
	statsInterval := fs.Duration("stats-interval", "SENDER_STATS_INTERVAL", c.StatsInterval,
		"how often the sender writes its own stats (measurement "+stats.Measurement+") to InfluxDB, for Grafana; 0 turns it off")
	str(&c.AdminListen, "admin-listen", "SENDER_ADMIN_LISTEN", "address of /healthz, /readyz and /metrics")
	pprof := fs.Bool("pprof", "SENDER_PPROF", c.Pprof, "serve Go's CPU, heap and goroutine profiles under /debug/pprof/ on the admin address (costs CPU while a profile runs)")
	str(&c.LogLevel, "log-level", "SENDER_LOG_LEVEL", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	for _, f := range after {
		f()
	}
	// The files are read in New, so that Validate can say which is missing first.
	c.InfluxToken, c.InfluxTokenFile = influxToken.Inline(), influxToken.File()
	c.OWMAPIKey, c.OWMAPIKeyFile = owmKey.Inline(), owmKey.File()
	c.BatchSize, c.BatchWait, c.WeatherTTL, c.WeatherMaxAge = *batchSize, *batchWait, *ttl, *maxAge
	c.StatsInterval, c.Pprof = *statsInterval, *pprof
	var err error
	if c.Latitude, err = parseFloat("SENDER_LATITUDE", *lat); err != nil {
		return Config{}, err
	}
	if c.Longitude, err = parseFloat("SENDER_LONGITUDE", *lon); err != nil {
		return Config{}, err
	}
	return c, nil
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func parseFloat(key, v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: not a number", key, v)
	}
	return f, nil
}

// ErrConfig is wrapped by every Validate error.
var ErrConfig = errors.New("bad setting")

// Validate checks every setting and returns the first bad one, named by its
// environment variable. Secret values are never part of the message.
func (c Config) Validate() error {
	bad := func(key string, v any, why string) error {
		return fmt.Errorf("%w: %s=%q: %s", ErrConfig, key, fmt.Sprint(v), why)
	}
	if err := service.CheckBrokers(c.brokers()); err != nil {
		return bad("SENDER_KAFKA_BROKERS", c.KafkaBrokers, err.Error())
	}
	if err := service.CheckTopic(c.KafkaTopic); err != nil {
		return bad("SENDER_KAFKA_TOPIC", c.KafkaTopic, err.Error())
	}
	if err := service.CheckTopic(c.DeadLetterTopic); err != nil {
		return bad("SENDER_DEAD_LETTER_TOPIC", c.DeadLetterTopic, err.Error())
	}
	if c.DeadLetterTopic == c.KafkaTopic {
		return bad("SENDER_DEAD_LETTER_TOPIC", c.DeadLetterTopic, "must differ from SENDER_KAFKA_TOPIC")
	}
	if strings.TrimSpace(c.KafkaGroup) == "" {
		return bad("SENDER_KAFKA_GROUP", c.KafkaGroup, "must not be empty")
	}
	if err := checkURL(c.InfluxURL); err != nil {
		return bad("SENDER_INFLUX_URL", service.RedactURL(c.InfluxURL), err.Error())
	}
	if c.InfluxBucket == "" {
		return bad("SENDER_INFLUX_BUCKET", c.InfluxBucket, "must not be empty")
	}
	if c.BatchSize < 1 || c.BatchSize > 100_000 {
		return bad("SENDER_BATCH_SIZE", c.BatchSize, "want 1 to 100000")
	}
	if c.BatchWait < time.Millisecond || c.BatchWait > time.Minute {
		return bad("SENDER_BATCH_WAIT", c.BatchWait, "want 1ms to 1m")
	}
	if err := checkTag(c.Location); err != nil {
		return bad("SENDER_LOCATION", c.Location, err.Error())
	}
	if c.Latitude < -90 || c.Latitude > 90 || c.Latitude != c.Latitude {
		return bad("SENDER_LATITUDE", c.Latitude, "want -90 to 90")
	}
	if c.Longitude < -180 || c.Longitude > 180 || c.Longitude != c.Longitude {
		return bad("SENDER_LONGITUDE", c.Longitude, "want -180 to 180")
	}
	switch c.WeatherProvider {
	case ProviderAuto, "", ProviderOpenMeteo, ProviderNone:
	case ProviderOWM:
		if c.OWMAPIKey == "" && c.OWMAPIKeyFile == "" {
			return fmt.Errorf("%w: SENDER_WEATHER_PROVIDER=owm needs SENDER_OWM_API_KEY or SENDER_OWM_API_KEY_FILE", ErrConfig)
		}
	default:
		return bad("SENDER_WEATHER_PROVIDER", c.WeatherProvider, "want auto, owm, open-meteo or none")
	}
	if c.WeatherTTL < time.Second || c.WeatherTTL > 24*time.Hour {
		return bad("SENDER_WEATHER_TTL", c.WeatherTTL, "want 1s to 24h")
	}
	if c.WeatherMaxAge < c.WeatherTTL {
		return bad("SENDER_WEATHER_MAX_AGE", c.WeatherMaxAge, "must not be shorter than SENDER_WEATHER_TTL")
	}
	if err := checkURL(c.OWMURL); err != nil {
		return bad("SENDER_OWM_URL", service.RedactURL(c.OWMURL), err.Error())
	}
	if err := checkURL(c.OpenMeteoURL); err != nil {
		return bad("SENDER_OPENMETEO_URL", service.RedactURL(c.OpenMeteoURL), err.Error())
	}
	// Under a second the points would outnumber the readings of a small room; over an
	// hour a dashboard would show nothing for most of its default range.
	if c.StatsInterval != 0 && (c.StatsInterval < time.Second || c.StatsInterval > time.Hour) {
		return bad("SENDER_STATS_INTERVAL", c.StatsInterval, "want 0 (off) or 1s to 1h")
	}
	if err := service.CheckHostPort(c.AdminListen, false); err != nil {
		return bad("SENDER_ADMIN_LISTEN", c.AdminListen, err.Error())
	}
	if _, err := service.ParseLogLevel(c.LogLevel); err != nil {
		return bad("SENDER_LOG_LEVEL", c.LogLevel, "want debug, info, warn or error")
	}
	return nil
}

// Provider is the weather provider in effect: auto resolves to owm when an API key
// is configured, else open-meteo.
func (c Config) Provider() string {
	if c.WeatherProvider == ProviderAuto || c.WeatherProvider == "" {
		if c.OWMAPIKey != "" || c.OWMAPIKeyFile != "" {
			return ProviderOWM
		}
		return ProviderOpenMeteo
	}
	return c.WeatherProvider
}

func (c Config) brokers() []string { return service.SplitList(c.KafkaBrokers) }

// LogValue is what the start line shows: every setting but the secrets, and
// passwords in URLs hidden.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("kafka_brokers", c.brokers()),
		slog.String("kafka_topic", c.KafkaTopic),
		slog.String("kafka_group", c.KafkaGroup),
		slog.String("dead_letter_topic", c.DeadLetterTopic),
		slog.String("influx_url", service.RedactURL(c.InfluxURL)),
		slog.Bool("influx_token_set", c.InfluxToken != "" || c.InfluxTokenFile != ""),
		slog.String("influx_bucket", c.InfluxBucket),
		slog.Int("batch_size", c.BatchSize),
		slog.String("batch_wait", c.BatchWait.String()),
		slog.String("location", c.Location),
		slog.Float64("latitude", c.Latitude),
		slog.Float64("longitude", c.Longitude),
		slog.String("weather_provider", c.Provider()),
		slog.String("weather_ttl", c.WeatherTTL.String()),
		slog.String("stats_interval", c.StatsInterval.String()),
		slog.String("admin_listen", c.AdminListen),
	)
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http(s)://host[:port] URL")
	}
	return nil
}

func checkTag(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > 128 || !utf8.ValidString(s):
		return errors.New("want UTF-8, at most 128 bytes")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return errors.New("has a control character")
		}
	}
	return nil
}
