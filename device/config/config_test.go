package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsValidate(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeTemp(t, "fw.conf", `# comment
interval = 30s
location = "sector 2"
hub-url = http://file:1
queue-max = 500
`)
	c, err := Load([]string{"--config", file, "--interval", "5s"},
		env(map[string]string{"SMARTX_HUB_URL": "http://env:2", "SMARTX_QUEUE_MAX": "700", "SMARTX_TOKEN": " tok "}),
		&bytes.Buffer{}, Version{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Interval != 5*time.Second {
		t.Errorf("interval = %v: the flag must win over the file", c.Interval)
	}
	if c.HubURL != "http://env:2" || c.QueueMax != 700 {
		t.Errorf("hub-url %q, queue-max %d: the environment must win over the file", c.HubURL, c.QueueMax)
	}
	if c.Location != "sector 2" {
		t.Errorf("location = %q, want the quoted file value", c.Location)
	}
	if c.Token != "tok" {
		t.Errorf("token = %q, want it from SMARTX_TOKEN, trimmed", c.Token)
	}
}

func TestConfigFromEnv(t *testing.T) {
	file := writeTemp(t, "fw.conf", "device = from-file\n")
	c, err := Load(nil, env(map[string]string{EnvConfig: file}), &bytes.Buffer{}, Version{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Device != "from-file" {
		t.Errorf("device = %q, want the file named by %s", c.Device, EnvConfig)
	}
}

func TestSimulateOverridesHardware(t *testing.T) {
	c, err := Load([]string{"--simulate", "--sensor", "iio"}, env(nil), &bytes.Buffer{}, Version{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Sensor != SensorSim || c.Actuator != ActuatorSim {
		t.Errorf("sensor %s, actuator %s, want sim and sim", c.Sensor, c.Actuator)
	}
}

func TestTokenFile(t *testing.T) {
	tok := writeTemp(t, "tok", "s3cret\n")
	c, err := Load([]string{"--token-file", tok}, env(map[string]string{"SMARTX_TOKEN": "other"}), &bytes.Buffer{}, Version{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Token != "s3cret" {
		t.Errorf("token = %q, want the file's (it wins over the variable)", c.Token)
	}
	empty := writeTemp(t, "empty", "\n")
	if _, err := Load([]string{"--token-file", empty}, env(nil), &bytes.Buffer{}, Version{}); err == nil || !strings.Contains(err.Error(), "token-file") {
		t.Errorf("empty token file: err %v, want one naming token-file", err)
	}
	bad := writeTemp(t, "bad", "a b")
	_, err = Load([]string{"--token-file", bad}, env(nil), &bytes.Buffer{}, Version{})
	if err == nil || strings.Contains(err.Error(), "a b") {
		t.Errorf("token with a space: err %v; must fail without printing the token", err)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		file string
		key  string
	}{
		{"bad interval", []string{"--interval", "1ms"}, nil, "", "interval"},
		{"bad sensor", []string{"--sensor", "bme280"}, nil, "", "sensor"},
		{"bad actuator", []string{"--actuator", "wifi"}, nil, "", "actuator"},
		{"bad hub url", []string{"--hub-url", "ftp://x"}, nil, "", "hub-url"},
		{"credentials in url", []string{"--hub-url", "http://u:p@x"}, nil, "", "hub-url"},
		{"bad device", []string{"--device", "a/b"}, nil, "", "device"},
		{"bounds", []string{"--setpoint-min", "30", "--setpoint-max", "20"}, nil, "", "setpoint-min"},
		{"initial outside", []string{"--setpoint-initial", "40"}, nil, "", "setpoint-initial"},
		{"pin", []string{"--dht-pin", "516"}, nil, "", "dht-pin"},
		{"queue", []string{"--queue-max", "1"}, nil, "", "queue-max"},
		{"retry", []string{"--retry-min", "2s", "--retry-max", "1s"}, nil, "", "retry-min"},
		{"lirc code", []string{"--lirc-code", "COOL"}, nil, "", "lirc-code"},
		{"log level", []string{"--log-level", "loud"}, nil, "", "log-level"},
		{"command listen", []string{"--command-listen", "nope"}, nil, "", "command-listen"},
		{"env not a number", nil, map[string]string{"SMARTX_QUEUE_MAX": "many"}, "", "SMARTX_QUEUE_MAX"},
		{"file unknown key", nil, nil, "colour = blue\n", "colour"},
		{"file bad value", nil, nil, "interval = soon\n", "interval"},
		{"file no equals", nil, nil, "interval 10s\n", "line 1"},
		{"file duplicate", nil, nil, "device = a\ndevice = b\n", "line 2"},
		{"file names config", nil, nil, "config = /etc/x\n", "config"},
		{"argument", []string{"extra"}, nil, "", "extra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeTemp(t, "c.conf", tc.file)}, args...)
			}
			_, err := Load(args, env(tc.env), &bytes.Buffer{}, Version{})
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("err = %v, want one naming %q", err, tc.key)
			}
		})
	}
}

func TestHelpDocumentsEverySetting(t *testing.T) {
	var out bytes.Buffer
	_, err := Load([]string{"--help"}, env(nil), &out, Version{})
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	c := Defaults()
	flags(&c, &bytes.Buffer{}).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "-"+f.Name) {
			t.Errorf("--help does not document %s", f.Name)
		}
	})
	for _, s := range []string{EnvToken, EnvCommandToken, EnvConfig, "SMARTX_HUB_URL"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("--help does not mention %s", s)
		}
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	_, err := Load([]string{"--version"}, env(nil), &out, Version{Version: "v1", Target: "linux-armv6"})
	if !errors.Is(err, ErrVersion) || out.String() != "smartx-firmware v1 linux-armv6\n" {
		t.Errorf("err %v, output %q", err, out.String())
	}
}

func TestSampleConfigLoads(t *testing.T) {
	c, err := Parse([]string{"--config", "../firmware.conf"}, env(nil), &bytes.Buffer{}, Version{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the sample config does not validate: %v", err)
	}
	if c.Location != "sector-1" {
		t.Errorf("location = %q", c.Location)
	}
}

func TestURLs(t *testing.T) {
	c := Defaults()
	c.HubURL = "http://hub:59880/"
	if c.EventURL() != "http://hub:59880" || c.RegistryURL() != "http://hub:59880" {
		t.Errorf("event %s registry %s", c.EventURL(), c.RegistryURL())
	}
	c.MetadataURL = "http://hub:59881"
	c.CommandURL = "http://pi:1/"
	if c.RegistryURL() != "http://hub:59881" || c.AdvertisedCommandURL() != "http://pi:1" {
		t.Errorf("registry %s command %s", c.RegistryURL(), c.AdvertisedCommandURL())
	}
	c.CommandURL = ""
	c.CommandListen = ":7000"
	if u := c.AdvertisedCommandURL(); !strings.HasPrefix(u, "http://") || !strings.HasSuffix(u, ":7000") {
		t.Errorf("advertised %s", u)
	}
}

// FuzzParseFile: any file content either parses into settings that apply cleanly or
// fails with an error; it never panics.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte("interval = 10s\n# c\nlocation = \"a b\"\r\n"))
	f.Add([]byte("device=\nx"))
	f.Add([]byte("queue-max = 9999999999999999999999"))
	f.Add([]byte(`lirc-code = "\x00{temp}"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, err := ParseFile(b)
		if err != nil {
			return
		}
		c := Defaults()
		fs := flags(&c, &bytes.Buffer{})
		if err := apply(fs, lines); err == nil {
			_ = c.Validate()
		}
	})
}
