package wiring

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// every INFERENCE_* setting; --help must show each.
var allEnv = []string{
	"INFERENCE_LISTEN", "INFERENCE_ADMIN_LISTEN", "INFERENCE_MODEL_BASE", "INFERENCE_POLL",
	"INFERENCE_MAX_BODY_BYTES", "INFERENCE_LOG_LEVEL",
}

func TestDefaults(t *testing.T) {
	c := Defaults()
	if c.Listen != ":8501" || c.AdminListen != ":9105" || c.Poll != 10*time.Second || c.MaxBodyBytes != 1<<20 || c.LogLevel != "info" || c.ModelBase != "" {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "INFERENCE_MODEL_BASE") {
		t.Fatalf("defaults without a model base: %v, want INFERENCE_MODEL_BASE required", err)
	}
	c.ModelBase = "/models"
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults with a model base: %v", err)
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var out strings.Builder
	if _, err := ParseFlags([]string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("ParseFlags(--help) = %v", err)
	}
	for _, env := range allEnv {
		if !strings.Contains(out.String(), "["+env+"]") {
			t.Errorf("--help lacks %s", env)
		}
	}
	for _, f := range []string{"-listen", "-admin-listen", "-model-base", "-poll", "-max-body-bytes", "-log-level", `default ":8501"`, "default 10s"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("--help lacks %q:\n%s", f, out.String())
		}
	}
}

func TestParseFlagsEnv(t *testing.T) {
	t.Setenv("INFERENCE_MODEL_BASE", "/from/env")
	t.Setenv("INFERENCE_POLL", "3s")
	t.Setenv("INFERENCE_MAX_BODY_BYTES", "2048")
	c, err := ParseFlags([]string{"--poll", "1m", "--listen", "127.0.0.1:8600"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ModelBase != "/from/env" || c.Poll != time.Minute || c.MaxBodyBytes != 2048 || c.Listen != "127.0.0.1:8600" || c.AdminListen != ":9105" {
		t.Fatalf("parsed %+v", c)
	}
	for env, v := range map[string]string{"INFERENCE_POLL": "often", "INFERENCE_MAX_BODY_BYTES": "1MiB"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, v)
			if _, err := ParseFlags(nil, io.Discard); err == nil || !strings.Contains(err.Error(), env) {
				t.Fatalf("%s=%s: %v, want an error naming it", env, v, err)
			}
		})
	}
	if _, err := ParseFlags([]string{"extra"}, io.Discard); err == nil || !strings.Contains(err.Error(), "unexpected argument") {
		t.Fatalf("stray argument: %v", err)
	}
}

func TestValidateNamesTheBadSetting(t *testing.T) {
	tests := []struct {
		key    string
		change func(*Config)
	}{
		{"INFERENCE_LISTEN", func(c *Config) { c.Listen = "8501" }},
		{"INFERENCE_LISTEN", func(c *Config) { c.Listen = ":99999" }},
		{"INFERENCE_ADMIN_LISTEN", func(c *Config) { c.AdminListen = "admin" }},
		{"INFERENCE_ADMIN_LISTEN", func(c *Config) { c.AdminListen = c.Listen }},
		{"INFERENCE_MODEL_BASE", func(c *Config) { c.ModelBase = "" }},
		{"INFERENCE_POLL", func(c *Config) { c.Poll = 0 }},
		{"INFERENCE_POLL", func(c *Config) { c.Poll = 2 * time.Hour }},
		{"INFERENCE_MAX_BODY_BYTES", func(c *Config) { c.MaxBodyBytes = 100 }},
		{"INFERENCE_MAX_BODY_BYTES", func(c *Config) { c.MaxBodyBytes = 1 << 30 }},
		{"INFERENCE_LOG_LEVEL", func(c *Config) { c.LogLevel = "loud" }},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			c := Defaults()
			c.ModelBase = "/models"
			tt.change(&c)
			err := c.Validate()
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("Validate() = %v, want ErrConfig naming %s", err, tt.key)
			}
		})
	}
}
