package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
)

// MaxFileSize bounds the config file; a config is a few hundred bytes.
const MaxFileSize = 64 << 10

// Version is printed by --version; main sets it.
type Version struct{ Version, Target string }

// ErrVersion is returned by Load for --version, after printing it.
var ErrVersion = errors.New("version requested")

// flags binds every setting of c to a flag; usage strings are what --help prints.
func flags(c *Config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("smartx-firmware", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.ConfigFile, "config", c.ConfigFile, "config file of name = value lines (flag names; # comments)")
	fs.StringVar(&c.Device, "device", c.Device, "EdgeX device name (default: the host name)")
	fs.StringVar(&c.Location, "location", c.Location, "sector of the room this device measures, sent with every reading")
	fs.StringVar(&c.HubURL, "hub-url", c.HubURL, "base URL events are posted to: EdgeX core-data or the hub's ingest")
	fs.StringVar(&c.MetadataURL, "metadata-url", c.MetadataURL, "base URL of EdgeX core-metadata for registration (empty: hub-url)")
	fs.StringVar(&c.TokenFile, "token-file", c.TokenFile, "file holding the bearer token the hub expects from this device (else "+EnvToken+")")
	fs.StringVar(&c.ServiceName, "service-name", c.ServiceName, "EdgeX device service name (default: <device>-service, one per Pi)")
	fs.StringVar(&c.ProfileName, "profile-name", c.ProfileName, "EdgeX device profile name")
	fs.StringVar(&c.CommandListen, "command-listen", c.CommandListen, "listen address of the EdgeX device-service command endpoint (empty: off)")
	fs.StringVar(&c.CommandURL, "command-url", c.CommandURL, "base address core-command reaches the command endpoint at (default: http://<host name>:<port>)")
	fs.StringVar(&c.CommandTokenFile, "command-token-file", c.CommandTokenFile, "file holding the bearer token command callers must send (else "+EnvCommandToken+"; none: no check)")
	fs.DurationVar(&c.Interval, "interval", c.Interval, "time between two events")
	fs.StringVar(&c.Sensor, "sensor", c.Sensor, "sensor: dht22 (go-dht, cgo arm builds), iio (kernel dht11 driver) or sim")
	fs.IntVar(&c.DHTPin, "dht-pin", c.DHTPin, "sysfs GPIO number of the DHT22 data line (0..99)")
	fs.StringVar(&c.IIODevice, "iio-device", c.IIODevice, "IIO device directory (empty: the first under /sys/bus/iio/devices with temperature and humidity)")
	fs.IntVar(&c.ReadAttempts, "read-attempts", c.ReadAttempts, "sensor reads per interval before the interval goes without climate readings")
	fs.Float64Var(&c.JumpTemp, "jump-temp", c.JumpTemp, "largest believable temperature change between two reads, C")
	fs.Float64Var(&c.JumpHumidity, "jump-humidity", c.JumpHumidity, "largest believable humidity change between two reads, %")
	fs.IntVar(&c.StuckReads, "stuck-reads", c.StuckReads, "identical reads in a row that mean a frozen sensor")
	fs.StringVar(&c.Actuator, "actuator", c.Actuator, "air conditioner: lirc (infra-red through lircd), sim or none")
	fs.StringVar(&c.LIRCSocket, "lirc-socket", c.LIRCSocket, "lircd's socket")
	fs.StringVar(&c.LIRCRemote, "lirc-remote", c.LIRCRemote, "remote name in lircd.conf")
	fs.StringVar(&c.LIRCCode, "lirc-code", c.LIRCCode, "code name sent for a set-point; {temp} becomes the whole degrees")
	fs.Float64Var(&c.SetpointMin, "setpoint-min", c.SetpointMin, "lowest set-point accepted, C")
	fs.Float64Var(&c.SetpointMax, "setpoint-max", c.SetpointMax, "highest set-point accepted, C")
	fs.Float64Var(&c.SetpointInitial, "setpoint-initial", c.SetpointInitial, "set-point assumed until the first command (the last one applied is remembered)")
	fs.StringVar(&c.QueuePath, "queue-path", c.QueuePath, "file of the durable reading queue")
	fs.IntVar(&c.QueueMax, "queue-max", c.QueueMax, "readings the queue keeps at most; beyond, the oldest are dropped and counted")
	fs.DurationVar(&c.RetryMin, "retry-min", c.RetryMin, "first wait after a failed delivery (doubles up to retry-max)")
	fs.DurationVar(&c.RetryMax, "retry-max", c.RetryMax, "longest wait between delivery attempts")
	fs.DurationVar(&c.HTTPTimeout, "http-timeout", c.HTTPTimeout, "limit of one request to the hub")
	fs.StringVar(&c.DiskPath, "disk-path", c.DiskPath, "file system whose use is reported as disk %")
	fs.BoolVar(&c.Simulate, "simulate", c.Simulate, "run with the simulated sensor and air conditioner (sensor = sim, actuator = sim)")
	fs.Float64Var(&c.SimSpeed, "sim-speed", c.SimSpeed, "how many times faster than real time the simulated room evolves")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	return fs
}

// EnvName is the environment variable of a flag: SMARTX_ + upper case, - as _.
func EnvName(flagName string) string {
	return "SMARTX_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load builds the configuration from args (without the program name), the
// environment (getenv; nil = os.LookupEnv) and the config file they name, then
// validates it and reads the secrets. It returns flag.ErrHelp after printing the
// usage for -h/--help and ErrVersion after printing v for --version.
func Load(args []string, getenv func(string) (string, bool), out io.Writer, v Version) (Config, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	c, err := Parse(args, getenv, out, v)
	if err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	if err := c.readSecrets(getenv); err != nil {
		return c, err
	}
	return c, nil
}

// Parse is Load without validation and secrets: it only applies the sources in order.
func Parse(args []string, getenv func(string) (string, bool), out io.Writer, v Version) (Config, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	c := Defaults()
	fs := flags(&c, out)
	showVersion := fs.Bool("version", false, "print the version and target, then exit")
	fs.Usage = func() { usage(fs, out) }

	// First pass: the flags, to learn --config; the file and the environment are then
	// applied, and a second pass over the flags makes them win again.
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if *showVersion {
		fmt.Fprintf(out, "smartx-firmware %s %s\n", v.Version, v.Target)
		return c, ErrVersion
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.ConfigFile == "" {
		if p, ok := getenv(EnvConfig); ok {
			c.ConfigFile = p
		}
	}
	if c.ConfigFile != "" {
		b, err := readFile(c.ConfigFile)
		if err != nil {
			return c, err
		}
		kv, err := ParseFile(b)
		if err != nil {
			return c, fmt.Errorf("config file %s: %w", c.ConfigFile, err)
		}
		if err := apply(fs, kv); err != nil {
			return c, fmt.Errorf("config file %s: %w", c.ConfigFile, err)
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" || f.Name == "version" || envErr != nil {
			return
		}
		if val, ok := getenv(EnvName(f.Name)); ok {
			if err := fs.Set(f.Name, strings.TrimSpace(val)); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", EnvName(f.Name), val, unwrapFlagErr(err))
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.Simulate {
		c.Sensor, c.Actuator = SensorSim, ActuatorSim
	}
	return c, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("config file %s: larger than %d bytes", path, MaxFileSize)
	}
	return b, nil
}

// Line is one setting of a config file.
type Line struct {
	N          int // line number, from 1
	Key, Value string
}

// ParseFile parses a config file: one "key = value" per line, blank lines and lines
// starting with # ignored, the value optionally in double quotes (Go syntax) to keep
// surrounding spaces or a leading #. A key may appear once.
func ParseFile(b []byte) ([]Line, error) {
	var lines []Line
	seen := map[string]int{}
	for i, raw := range bytes.Split(b, []byte("\n")) {
		n := i + 1
		s := strings.TrimSpace(string(bytes.TrimSuffix(raw, []byte("\r"))))
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		key, val, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want name = value", n)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if key == "" || strings.IndexFunc(key, func(r rune) bool { return !(r == '-' || unicode.IsLower(r) || unicode.IsDigit(r)) }) >= 0 {
			return nil, fmt.Errorf("line %d: %q is not a setting name", n, key)
		}
		if strings.HasPrefix(val, `"`) {
			u, err := strconv.Unquote(val)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s: bad quoted value", n, key)
			}
			val = u
		}
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("line %d: %s already set on line %d", n, key, prev)
		}
		seen[key] = n
		lines = append(lines, Line{N: n, Key: key, Value: val})
	}
	return lines, nil
}

func apply(fs *flag.FlagSet, lines []Line) error {
	for _, l := range lines {
		if l.Key == "config" || l.Key == "version" || fs.Lookup(l.Key) == nil {
			return fmt.Errorf("line %d: unknown setting %q", l.N, l.Key)
		}
		if err := fs.Set(l.Key, l.Value); err != nil {
			return fmt.Errorf("line %d: %s: %w", l.N, l.Key, unwrapFlagErr(err))
		}
	}
	return nil
}

// unwrapFlagErr turns strconv's "strconv.ParseInt: parsing "x": invalid syntax" into
// "invalid syntax" plus the value, which is what a user needs.
func unwrapFlagErr(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return fmt.Errorf("%q: %w", ne.Num, ne.Err)
	}
	return err
}

func (c *Config) readSecrets(getenv func(string) (string, bool)) error {
	var err error
	if c.Token, err = secret(c.TokenFile, EnvToken, getenv); err != nil {
		return fmt.Errorf("token-file: %w", err)
	}
	if c.CommandToken, err = secret(c.CommandTokenFile, EnvCommandToken, getenv); err != nil {
		return fmt.Errorf("command-token-file: %w", err)
	}
	return nil
}

// secret reads a token from file (if named) or the environment variable; the file
// wins. Surrounding white space is trimmed; the token itself never appears in errors.
func secret(file, env string, getenv func(string) (string, bool)) (string, error) {
	if file == "" {
		v, _ := getenv(env)
		return strings.TrimSpace(v), nil
	}
	b, err := readFile(file)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	if strings.ContainsFunc(tok, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return "", fmt.Errorf("%s: token has white space or control characters", file)
	}
	return tok, nil
}

func usage(fs *flag.FlagSet, out io.Writer) {
	fmt.Fprintf(out, `smartx-firmware: the Raspberry Pi sensor firmware of the Smart Energy service.
Samples temperature and humidity (and the Pi's CPU, memory and disk use), keeps every
reading in a durable queue until the EdgeX hub acknowledged it, and applies air-
conditioner set-point commands received on the EdgeX device-service command endpoint.

Usage: smartx-firmware [flags]

Each setting comes from, lowest first: its default, the config file (name = value,
the flag names below), its environment variable (SMARTX_ + NAME, e.g. SMARTX_HUB_URL),
its flag. Secrets are never flags:
  %-22s bearer token the hub expects from this device (or token-file)
  %-22s bearer token command callers must send (or command-token-file)
  %-22s config file, when --config is not given

Flags:
`, EnvToken, EnvCommandToken, EnvConfig)
	fs.PrintDefaults()
}
