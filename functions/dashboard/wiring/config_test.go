package wiring

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsAndEnvironment(t *testing.T) {
	t.Setenv("DASHBOARD_CONTROLLER_URL", "http://controller:8080")
	t.Setenv("DASHBOARD_STALE", "2m")
	c, err := ParseFlags([]string{"--users-file", "/run/users", "--refresh", "3s", "--influx-token-file", "/run/token"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.UsersFile != "/run/users" || c.ControllerURL != "http://controller:8080" || c.Stale != 2*time.Minute ||
		c.Refresh != 3*time.Second || c.InfluxTokenFile != "/run/token" || c.Listen != ":8090" {
		t.Errorf("config %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	var help bytes.Buffer
	if _, err := ParseFlags([]string{"--help"}, &help); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
	for _, want := range []string{"DASHBOARD_USERS_FILE", "DASHBOARD_CONTROLLER_TOKEN_FILE", "DASHBOARD_COOKIE_SECURE", "air-conditioner panel"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("--help lacks %s", want)
		}
	}
}

// Each bad setting is refused with a message naming its variable.
func TestValidateNamesTheBadSetting(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*Config)
		key    string
	}{
		{"no users file", func(c *Config) { c.UsersFile = "" }, "DASHBOARD_USERS_FILE"},
		{"bad listen", func(c *Config) { c.Listen = "8090" }, "DASHBOARD_LISTEN"},
		{"bad influx", func(c *Config) { c.InfluxURL = "influxdb:8086" }, "DASHBOARD_INFLUX_URL"},
		{"bad controller", func(c *Config) { c.ControllerURL = "ftp://x" }, "DASHBOARD_CONTROLLER_URL"},
		{"bad sender metrics", func(c *Config) { c.SenderMetricsURL = "" }, "DASHBOARD_SENDER_METRICS_URL"},
		{"no bucket", func(c *Config) { c.InfluxBucket = " " }, "DASHBOARD_INFLUX_BUCKET"},
		{"refresh too fast", func(c *Config) { c.Refresh = time.Millisecond }, "DASHBOARD_REFRESH"},
		{"short session", func(c *Config) { c.SessionTTL = time.Second }, "DASHBOARD_SESSION_TTL"},
		{"cookie", func(c *Config) { c.CookieSecure = "sometimes" }, "DASHBOARD_COOKIE_SECURE"},
		{"zone", func(c *Config) { c.TimeZone = "Mars/Olympus" }, "DASHBOARD_TIME_ZONE"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, "DASHBOARD_LOG_LEVEL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			c.UsersFile = "/run/users"
			tt.mutate(&c)
			err := c.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.key+"=") {
				t.Fatalf("Validate = %v, want a bad setting naming %s", err, tt.key)
			}
		})
	}
}

// The start line shows whether secrets are set, never their values.
func TestLogValueHidesSecrets(t *testing.T) {
	c := Defaults()
	c.InfluxToken, c.ControllerToken = "influx-secret-1", "controller-secret-2"
	s := c.LogValue().String()
	if strings.Contains(s, "influx-secret-1") || strings.Contains(s, "controller-secret-2") || !strings.Contains(s, "influx_token_set=true") {
		t.Errorf("log value %s", s)
	}
}
