package wiring

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func valid() Config {
	c := Defaults()
	c.Devices = "pi-1,pi-2"
	return c
}

func TestDefaultsValidate(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := Defaults().Validate(); err == nil || !strings.Contains(err.Error(), "CONTROLLER_DEVICES") {
		t.Errorf("defaults without devices: %v, want CONTROLLER_DEVICES named", err)
	}
}

// Every bad setting is refused by Validate, naming its variable and never a secret.
func TestValidateNamesTheKey(t *testing.T) {
	for _, tt := range []struct {
		key    string
		mutate func(*Config)
	}{
		{"CONTROLLER_INFLUX_URL", func(c *Config) { c.InfluxURL = "influxdb:8086" }},
		{"CONTROLLER_INFERENCE_URL", func(c *Config) { c.InferenceURL = "" }},
		{"CONTROLLER_COMMAND_URL", func(c *Config) { c.CommandURL = "ftp://x" }},
		{"CONTROLLER_INFLUX_BUCKET", func(c *Config) { c.InfluxBucket = " " }},
		{"CONTROLLER_MODEL_NAME", func(c *Config) { c.ModelName = "a/b" }},
		{"CONTROLLER_DEVICES", func(c *Config) { c.Devices = "pi-1,pi 2" }},
		{"CONTROLLER_DEVICES", func(c *Config) { c.Devices = "pi-1,pi-1" }},
		{"CONTROLLER_INTERVAL", func(c *Config) { c.Interval = 0 }},
		{"CONTROLLER_MIN/CONTROLLER_MAX", func(c *Config) { c.Min, c.Max = 30, 16 }},
		{"CONTROLLER_MAX_STEP", func(c *Config) { c.MaxStep = 0.5 }},
		{"CONTROLLER_HYSTERESIS", func(c *Config) { c.Hysteresis = -1 }},
		{"CONTROLLER_LIMIT", func(c *Config) { c.Limit = 90 }},
		{"CONTROLLER_MARGIN", func(c *Config) { c.Margin = -1 }},
		{"CONTROLLER_MARGIN", func(c *Config) { c.Limit, c.Margin = 15, 8 }},
		{"CONTROLLER_MARGIN_QUANTILE", func(c *Config) { c.MarginQuantile = 1.5 }},
		{"CONTROLLER_MARGIN_FLOOR", func(c *Config) { c.MarginFloor = -0.2 }},
		{"CONTROLLER_MARGIN_SAMPLES", func(c *Config) { c.MarginSamples = 3 }},
		{"CONTROLLER_RH_MIN/CONTROLLER_RH_MAX", func(c *Config) { c.RHMin = 90 }},
		{"CONTROLLER_STALE", func(c *Config) { c.Stale = 0 }},
		{"CONTROLLER_MODEL_MAX_AGE", func(c *Config) { c.ModelMaxAge = -time.Hour }},
		{"CONTROLLER_OVERRIDE_MAX", func(c *Config) { c.OverrideMax = 0 }},
		{"CONTROLLER_OVERRIDE_DEFAULT", func(c *Config) { c.OverrideDefault = 48 * time.Hour }},
		{"CONTROLLER_MONGO_URI", func(c *Config) { c.MongoURI = "http://u:hunter2@h/" }},
		{"CONTROLLER_MONGO_DATABASE", func(c *Config) { c.MongoDatabase = "a.b" }},
		{"CONTROLLER_MONGO_AUDIT_COLLECTION", func(c *Config) { c.MongoAudit = "" }},
		{"CONTROLLER_MONGO_OVERRIDES_COLLECTION", func(c *Config) { c.MongoOverrides = c.MongoAudit }},
		{"CONTROLLER_LISTEN", func(c *Config) { c.Listen = "8080" }},
		{"CONTROLLER_ADMIN_LISTEN", func(c *Config) { c.AdminListen = ":x" }},
		{"CONTROLLER_REQUEST_TIMEOUT", func(c *Config) { c.RequestTimeout = 2 * time.Minute }},
		{"CONTROLLER_LOG_LEVEL", func(c *Config) { c.LogLevel = "loud" }},
	} {
		c := valid()
		tt.mutate(&c)
		err := c.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.key+"=") && !strings.Contains(err.Error(), tt.key+":") {
			t.Errorf("%s: Validate() = %v, want ErrConfig naming it", tt.key, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the message shows the password: %v", tt.key, err)
		}
	}
}

// Flags win over the environment, the environment over the defaults; numbers and
// durations are read, malformed ones named; --help lists every variable.
func TestParseFlags(t *testing.T) {
	t.Setenv("CONTROLLER_DEVICES", "pi-1, pi-2 ,pi-3")
	t.Setenv("CONTROLLER_LIMIT", "26.5")
	t.Setenv("CONTROLLER_INTERVAL", "30s")
	t.Setenv("CONTROLLER_DRY_RUN", "true")
	t.Setenv("CONTROLLER_INFLUX_TOKEN", "env-token")
	c, err := ParseFlags([]string{"--limit", "25", "--max-step", "2", "--api-token-file", "/run/secrets/api"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.DeviceList(); strings.Join(got, "|") != "pi-1|pi-2|pi-3" {
		t.Errorf("devices %q", got)
	}
	if c.Limit != 25 || c.MaxStep != 2 || c.Interval != 30*time.Second || !c.DryRun || c.InfluxToken != "env-token" ||
		c.APITokenFile != "/run/secrets/api" || c.Margin != 0.5 || c.Deadband != 0.3 || c.RaiseEvery != 30*time.Minute {
		t.Errorf("parsed %+v", c)
	}
	t.Setenv("CONTROLLER_MARGIN_SAMPLES", "100")
	c, err = ParseFlags([]string{"--margin-quantile", "0.95"}, io.Discard)
	if err != nil || c.MarginSamples != 100 || c.MarginQuantile != 0.95 || c.MarginFloor != 0.2 {
		t.Errorf("learned margin settings %v %v %v, %v", c.MarginQuantile, c.MarginFloor, c.MarginSamples, err)
	}
	if l := c.Limits(); l.MarginSamples != 100 || l.MarginQuantile != 0.95 || l.MarginFloor != 0.2 {
		t.Errorf("limits %+v", l)
	}
	t.Setenv("CONTROLLER_MARGIN_SAMPLES", "1e3")
	if _, err := ParseFlags(nil, io.Discard); err == nil || !strings.Contains(err.Error(), `CONTROLLER_MARGIN_SAMPLES="1e3"`) {
		t.Errorf("bad whole number: %v", err)
	}
	t.Setenv("CONTROLLER_MARGIN_SAMPLES", "288")
	t.Setenv("CONTROLLER_MARGIN", "one")
	if _, err := ParseFlags(nil, io.Discard); err == nil || !strings.Contains(err.Error(), `CONTROLLER_MARGIN="one"`) {
		t.Errorf("bad number: %v", err)
	}
	t.Setenv("CONTROLLER_MARGIN", "NaN")
	if _, err := ParseFlags(nil, io.Discard); err == nil || !strings.Contains(err.Error(), "CONTROLLER_MARGIN") {
		t.Errorf("NaN: %v", err)
	}
	var help strings.Builder
	if _, err := ParseFlags([]string{"--help"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, env := range []string{"CONTROLLER_INFLUX_URL", "CONTROLLER_INFLUX_TOKEN_FILE", "CONTROLLER_INFERENCE_URL", "CONTROLLER_MODEL_NAME",
		"CONTROLLER_COMMAND_URL", "CONTROLLER_DEVICES", "CONTROLLER_INTERVAL", "CONTROLLER_LIMIT", "CONTROLLER_MARGIN",
		"CONTROLLER_MARGIN_QUANTILE", "CONTROLLER_MARGIN_FLOOR", "CONTROLLER_MARGIN_SAMPLES",
		"CONTROLLER_RH_MIN", "CONTROLLER_RH_MAX", "CONTROLLER_MIN", "CONTROLLER_MAX", "CONTROLLER_MAX_STEP", "CONTROLLER_HYSTERESIS",
		"CONTROLLER_OVERRIDE_DEFAULT", "CONTROLLER_STALE", "CONTROLLER_MONGO_URI_FILE", "CONTROLLER_MONGO_DATABASE",
		"CONTROLLER_LISTEN", "CONTROLLER_ADMIN_LISTEN", "CONTROLLER_LOG_LEVEL", "CONTROLLER_DRY_RUN", "CONTROLLER_API_TOKEN_FILE"} {
		if !strings.Contains(help.String(), "["+env+"]") {
			t.Errorf("--help lacks %s", env)
		}
	}
	if strings.Contains(help.String(), "env-token") {
		t.Error("--help shows a secret from the environment")
	}
}

// Secret files are read in New; a missing one is a settings error naming it. The start
// line shows no secret.
func TestSecrets(t *testing.T) {
	c := valid()
	c.MongoURIFile = filepath.Join(t.TempDir(), "missing")
	if _, err := New(c, nil, nil); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "CONTROLLER_MONGO_URI_FILE") {
		t.Errorf("missing secret file: %v", err)
	}
	c = valid()
	c.InfluxToken, c.APIToken, c.CommandToken, c.MongoURI = "influx-s3cret", "api-s3cret", "cmd-s3cret", "mongodb://u:mongo-s3cret@h:27017/"
	var out strings.Builder
	slog.New(slog.NewJSONHandler(&out, nil)).Info("start", "config", c)
	for _, s := range []string{"influx-s3cret", "api-s3cret", "cmd-s3cret", "mongo-s3cret"} {
		if strings.Contains(out.String(), s) {
			t.Errorf("start line shows %s: %s", s, out.String())
		}
	}
	if !strings.Contains(out.String(), `"api_token_set":true`) || !strings.Contains(out.String(), `"devices":["pi-1","pi-2"]`) {
		t.Errorf("start line %s", out.String())
	}
	file := filepath.Join(t.TempDir(), "uri")
	if err := os.WriteFile(file, []byte("mongodb://127.0.0.1:1/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = valid()
	c.MongoURI, c.MongoURIFile = "not even a uri", file // the file wins; the inline value is not checked
	ctl, err := New(c, nil, nil)
	if err != nil {
		t.Fatalf("New with a URI file: %v", err)
	}
	if err := ctl.Close(); err != nil {
		t.Error(err)
	}
}
