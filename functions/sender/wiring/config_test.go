package wiring

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// every SENDER_* setting; --help must show each.
var allEnv = []string{
	"SENDER_KAFKA_BROKERS", "SENDER_KAFKA_TOPIC", "SENDER_KAFKA_GROUP", "SENDER_DEAD_LETTER_TOPIC",
	"SENDER_INFLUX_URL", "SENDER_INFLUX_TOKEN", "SENDER_INFLUX_TOKEN_FILE", "SENDER_INFLUX_ORG", "SENDER_INFLUX_BUCKET",
	"SENDER_BATCH_SIZE", "SENDER_BATCH_WAIT", "SENDER_LOCATION", "SENDER_LATITUDE", "SENDER_LONGITUDE",
	"SENDER_WEATHER_PROVIDER", "SENDER_WEATHER_TTL", "SENDER_WEATHER_MAX_AGE", "SENDER_OWM_API_KEY", "SENDER_OWM_API_KEY_FILE",
	"SENDER_OWM_URL", "SENDER_OPENMETEO_URL", "SENDER_STATS_INTERVAL", "SENDER_ADMIN_LISTEN", "SENDER_PPROF", "SENDER_LOG_LEVEL",
}

func TestDefaultsAreValid(t *testing.T) {
	c := Defaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.KafkaGroup != "smartx-sender" || c.KafkaTopic != "readings" || c.DeadLetterTopic != "readings.dead" ||
		c.BatchSize != 5000 || c.BatchWait != 200*time.Millisecond || c.Location != "Gwangju" ||
		c.Latitude != 35.15972 || c.Longitude != 126.85306 || c.WeatherTTL != 5*time.Minute || c.StatsInterval != 15*time.Second || c.AdminListen != ":9103" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestHelpListsEverySettingAndNoSecret(t *testing.T) {
	t.Setenv("SENDER_OWM_API_KEY", "key-from-env-9d2")
	t.Setenv("SENDER_INFLUX_TOKEN", "user:token-from-env")
	var out strings.Builder
	if _, err := ParseFlags([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("ParseFlags(--help) = %v", err)
	}
	for _, env := range allEnv {
		if !strings.Contains(out.String(), "["+env+"]") {
			t.Errorf("--help lacks %s", env)
		}
	}
	for _, secret := range []string{"key-from-env-9d2", "token-from-env"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("--help shows a secret from the environment:\n%s", out.String())
		}
	}
}

func TestParseFlagsEnvAndSecrets(t *testing.T) {
	t.Setenv("SENDER_BATCH_SIZE", "100")
	t.Setenv("SENDER_LATITUDE", "37.5665")
	t.Setenv("SENDER_OWM_API_KEY", "from-env")
	t.Setenv("SENDER_STATS_INTERVAL", "0")
	c, err := ParseFlags([]string{"--longitude", "126.978", "--owm-api-key", "from-flag", "--batch-wait", "1s"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if c.BatchSize != 100 || c.Latitude != 37.5665 || c.Longitude != 126.978 || c.OWMAPIKey != "from-flag" || c.BatchWait != time.Second ||
		c.StatsInterval != 0 {
		t.Fatalf("parsed %+v", c)
	}
	if c.Provider() != ProviderOWM {
		t.Fatalf("Provider() = %s with a key, want owm", c.Provider())
	}
	c.OWMAPIKey = ""
	if c.Provider() != ProviderOpenMeteo {
		t.Fatalf("Provider() = %s without a key, want open-meteo", c.Provider())
	}
	t.Setenv("SENDER_LONGITUDE", "east")
	if _, err := ParseFlags(nil, os.Stderr); err == nil || !strings.Contains(err.Error(), "SENDER_LONGITUDE") {
		t.Fatalf("bad longitude: %v", err)
	}
}

func TestValidateNamesTheBadSetting(t *testing.T) {
	tests := []struct {
		key    string
		change func(*Config)
	}{
		{"SENDER_KAFKA_BROKERS", func(c *Config) { c.KafkaBrokers = " , " }},
		{"SENDER_KAFKA_BROKERS", func(c *Config) { c.KafkaBrokers = "kafka:9092,kafka2" }},
		{"SENDER_KAFKA_TOPIC", func(c *Config) { c.KafkaTopic = "read ings" }},
		{"SENDER_DEAD_LETTER_TOPIC", func(c *Config) { c.DeadLetterTopic = "readings" }},
		{"SENDER_KAFKA_GROUP", func(c *Config) { c.KafkaGroup = "" }},
		{"SENDER_INFLUX_URL", func(c *Config) { c.InfluxURL = "influxdb:8086" }},
		{"SENDER_INFLUX_BUCKET", func(c *Config) { c.InfluxBucket = "" }},
		{"SENDER_BATCH_SIZE", func(c *Config) { c.BatchSize = 0 }},
		{"SENDER_BATCH_WAIT", func(c *Config) { c.BatchWait = 0 }},
		{"SENDER_LOCATION", func(c *Config) { c.Location = "" }},
		{"SENDER_LATITUDE", func(c *Config) { c.Latitude = 91 }},
		{"SENDER_LONGITUDE", func(c *Config) { c.Longitude = -181 }},
		{"SENDER_WEATHER_PROVIDER", func(c *Config) { c.WeatherProvider = "yahoo" }},
		{"SENDER_OWM_API_KEY", func(c *Config) { c.WeatherProvider = ProviderOWM }},
		{"SENDER_WEATHER_TTL", func(c *Config) { c.WeatherTTL = 0 }},
		{"SENDER_WEATHER_MAX_AGE", func(c *Config) { c.WeatherMaxAge = time.Minute }},
		{"SENDER_OWM_URL", func(c *Config) { c.OWMURL = "api.openweathermap.org" }},
		{"SENDER_OPENMETEO_URL", func(c *Config) { c.OpenMeteoURL = "" }},
		{"SENDER_STATS_INTERVAL", func(c *Config) { c.StatsInterval = 500 * time.Millisecond }},
		{"SENDER_STATS_INTERVAL", func(c *Config) { c.StatsInterval = 2 * time.Hour }},
		{"SENDER_STATS_INTERVAL", func(c *Config) { c.StatsInterval = -time.Second }},
		{"SENDER_ADMIN_LISTEN", func(c *Config) { c.AdminListen = "9103" }},
		{"SENDER_LOG_LEVEL", func(c *Config) { c.LogLevel = "loud" }},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			c := Defaults()
			tt.change(&c)
			err := c.Validate()
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("Validate() = %v, want ErrConfig naming %s", err, tt.key)
			}
		})
	}
}

// New reads secret files and names the file setting when it cannot.
func TestNewSecretFiles(t *testing.T) {
	c := Defaults()
	c.WeatherProvider = ProviderNone
	c.InfluxTokenFile = filepath.Join(t.TempDir(), "missing")
	if _, err := New(c, discard(), nil); err == nil || !strings.Contains(err.Error(), "SENDER_INFLUX_TOKEN_FILE") {
		t.Fatalf("New with a missing token file = %v", err)
	}
	c = Defaults()
	c.WeatherProvider = ProviderOWM
	c.OWMAPIKeyFile = filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(c.OWMAPIKeyFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(c, discard(), nil); err == nil || !strings.Contains(err.Error(), "SENDER_OWM_API_KEY") {
		t.Fatalf("New with an empty key file = %v", err)
	}
}
