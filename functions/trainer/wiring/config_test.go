package wiring

import (
	"errors"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// every TRAINER_* setting; --help must show each.
var allEnv = []string{
	"TRAINER_INFLUX_URL", "TRAINER_INFLUX_TOKEN", "TRAINER_INFLUX_TOKEN_FILE", "TRAINER_INFLUX_ORG", "TRAINER_INFLUX_BUCKET",
	"TRAINER_QUERY_TIMEOUT", "TRAINER_DEVICES", "TRAINER_SINCE", "TRAINER_UNTIL", "TRAINER_STEP", "TRAINER_WINDOW",
	"TRAINER_HORIZON", "TRAINER_FILL_FOR", "TRAINER_LAMBDA", "TRAINER_HOLD_OUT", "TRAINER_MIN_SAMPLES", "TRAINER_FORCE",
	"TRAINER_MODEL_BASE", "TRAINER_MODEL_NAME", "TRAINER_CSV", "TRAINER_LOG_LEVEL",
}

func TestDefaultsAreValid(t *testing.T) {
	c := Defaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Since != "168h" || c.Until != "now" || c.Step != time.Minute || c.Window != 6 || c.Horizon != 10 ||
		c.MinSamples != 200 || c.HoldOut != 0.2 || c.ModelName != "service" || c.ModelBase != "/models" || c.InfluxBucket != "Sensordata/autogen" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestHelpListsEverySettingAndNoSecret(t *testing.T) {
	t.Setenv("TRAINER_INFLUX_TOKEN", "user:token-from-env-5e1")
	var out strings.Builder
	if _, err := ParseFlags([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("ParseFlags(--help) = %v", err)
	}
	for _, env := range allEnv {
		if !strings.Contains(out.String(), "["+env+"]") {
			t.Errorf("--help lacks %s", env)
		}
	}
	if strings.Contains(out.String(), "token-from-env-5e1") {
		t.Errorf("--help shows the token from the environment:\n%s", out.String())
	}
}

func TestParseFlagsEnvAndFlags(t *testing.T) {
	t.Setenv("TRAINER_WINDOW", "12")
	t.Setenv("TRAINER_LAMBDA", "0.5")
	t.Setenv("TRAINER_DEVICES", "pi-1, pi-2,,pi-1")
	t.Setenv("TRAINER_FORCE", "true")
	c, err := ParseFlags([]string{"--horizon", "5", "--hold-out", "0.25", "--step", "30s", "--influx-token-file", "/run/secrets/t"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if c.Window != 12 || c.Lambda != 0.5 || c.Horizon != 5 || c.HoldOut != 0.25 || c.Step != 30*time.Second ||
		!slices.Equal(c.Devices, []string{"pi-1", "pi-2"}) || !c.Force || c.InfluxTokenFile != "/run/secrets/t" {
		t.Fatalf("parsed %+v", c)
	}
	for _, tt := range []struct{ env, value string }{
		{"TRAINER_LAMBDA", "small"},
		{"TRAINER_HOLD_OUT", "a fifth"},
		{"TRAINER_DEVICES", "pi-1,pi\x01"},
		{"TRAINER_WINDOW", "six"},
	} {
		t.Run(tt.env, func(t *testing.T) {
			t.Setenv(tt.env, tt.value)
			if _, err := ParseFlags(nil, os.Stderr); err == nil || !strings.Contains(err.Error(), tt.env) {
				t.Fatalf("ParseFlags with %s=%q: %v", tt.env, tt.value, err)
			}
		})
	}
}

func TestValidateNamesTheBadSetting(t *testing.T) {
	tests := []struct {
		key    string
		change func(*Config)
	}{
		{"TRAINER_INFLUX_URL", func(c *Config) { c.InfluxURL = "influxdb:8086" }},
		{"TRAINER_INFLUX_BUCKET", func(c *Config) { c.InfluxBucket = " " }},
		{"TRAINER_QUERY_TIMEOUT", func(c *Config) { c.QueryTimeout = 0 }},
		{"TRAINER_UNTIL", func(c *Config) { c.Until = "tomorrow" }},
		{"TRAINER_SINCE", func(c *Config) { c.Since = "-1h" }},
		{"TRAINER_SINCE", func(c *Config) { c.Since, c.Until = "2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z" }},
		{"TRAINER_STEP", func(c *Config) { c.Step = time.Millisecond }},
		{"TRAINER_WINDOW", func(c *Config) { c.Window = 0 }},
		{"TRAINER_HORIZON", func(c *Config) { c.Horizon = 0 }},
		{"TRAINER_FILL_FOR", func(c *Config) { c.FillFor = time.Second }},
		{"TRAINER_LAMBDA", func(c *Config) { c.Lambda = 0 }},
		{"TRAINER_HOLD_OUT", func(c *Config) { c.HoldOut = 1 }},
		{"TRAINER_MIN_SAMPLES", func(c *Config) { c.MinSamples = 0 }},
		{"TRAINER_MODEL_BASE", func(c *Config) { c.ModelBase = "" }},
		{"TRAINER_MODEL_NAME", func(c *Config) { c.ModelName = "a/b" }},
		{"TRAINER_LOG_LEVEL", func(c *Config) { c.LogLevel = "loud" }},
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

func TestRange(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 30, 0, 0, time.FixedZone("KST", 9*3600))
	for _, tt := range []struct {
		since, until string
		from, to     time.Time
	}{
		{"168h", "now", now.UTC().Add(-168 * time.Hour), now.UTC()},
		{"2h", "2026-03-01T10:00:00+09:00", time.Date(2026, 3, 1, -1, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC)},
		{"2026-03-01T00:00:00Z", "1h", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), now.UTC().Add(-time.Hour)},
	} {
		c := Defaults()
		c.Since, c.Until = tt.since, tt.until
		from, to, err := c.Range(now)
		if err != nil || !from.Equal(tt.from) || !to.Equal(tt.to) {
			t.Errorf("Range(%s, %s) = %s, %s, %v; want %s, %s", tt.since, tt.until, from, to, err, tt.from, tt.to)
		}
	}
}

func TestParseDevices(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{"", nil, true},
		{" pi-1 ,pi-2,, pi-1", []string{"pi-1", "pi-2"}, true},
		{`pi "3" ${x}`, []string{`pi "3" ${x}`}, true},
		{"pi\n1", nil, false},
		{strings.Repeat("x", 129), nil, false},
		{"\xff", nil, false},
	} {
		got, err := ParseDevices(tt.in)
		if (err == nil) != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("ParseDevices(%q) = %q, %v", tt.in, got, err)
		}
	}
}

// FuzzParseSettings: the parsers of the list and time settings never panic, a parsed
// list holds only names it would parse again to themselves, and a parsed time is
// not after the reference unless given as RFC 3339.
func FuzzParseSettings(f *testing.F) {
	for _, s := range []string{"pi-1,pi-2", " , ", "168h", "now", "2026-03-01T00:00:00Z", "-5m", "1e3h", "pi\x00"} {
		f.Add(s)
	}
	ref := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if devs, err := ParseDevices(s); err == nil {
			for _, d := range devs {
				again, err := ParseDevices(d)
				if err != nil || len(again) != 1 || again[0] != d {
					t.Fatalf("device %q parses again to %q, %v", d, again, err)
				}
			}
		}
		at, err := ParseTime(s, ref)
		if err == nil && at.After(ref) {
			if _, rfcErr := time.Parse(time.RFC3339Nano, strings.TrimSpace(s)); rfcErr != nil {
				t.Fatalf("ParseTime(%q) = %s, after the reference", s, at)
			}
		}
	})
}
