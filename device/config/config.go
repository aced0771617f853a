// Package config holds every setting of the Pi firmware: one struct, its defaults,
// where each value comes from and how it is checked.
//
// A setting is read, lowest precedence first, from its default, from the config file
// (--config or SMARTX_CONFIG), from its environment variable (SMARTX_ and the flag
// name in upper case with _ for -), and from its command-line flag. The file holds
// one "name = value" per line with the flag's name, so what --help documents is also
// what the file accepts. Secrets (the hub token, the command token) are never flags:
// they come from an environment variable or a file, so they stay out of `ps` and logs.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

// Sensor kinds.
const (
	SensorDHT22 = "dht22" // DHT22 bit-banged through go-dht (cgo builds for linux/arm only)
	SensorIIO   = "iio"   // the kernel's dht11 IIO driver (dtoverlay=dht11), no cgo
	SensorSim   = "sim"   // the thermal model of package sim
)

// Actuator kinds.
const (
	ActuatorLIRC = "lirc" // infra-red through lircd's socket
	ActuatorSim  = "sim"  // the simulated air conditioner that drives the thermal model
	ActuatorNone = "none" // no air-conditioner control; set-point commands are refused
)

// Environment variables that only the environment sets (secrets).
const (
	EnvToken        = "SMARTX_TOKEN"         // bearer token the hub expects from this device
	EnvCommandToken = "SMARTX_COMMAND_TOKEN" // bearer token callers of the command endpoint must send
	EnvConfig       = "SMARTX_CONFIG"
)

// Config is every setting of the firmware. Field comments give the flag / file key.
type Config struct {
	ConfigFile string // config: path of the config file ("" = none)

	Device   string // device: EdgeX device name (default: the host name)
	Location string // location: sector of the room, sent with every reading

	HubURL      string // hub-url: base URL events are posted to (core-data or the hub)
	MetadataURL string // metadata-url: base URL of core-metadata ("" = hub-url)
	TokenFile   string // token-file: file holding the hub token (else SMARTX_TOKEN)
	Token       string `json:"-"` // from TokenFile or SMARTX_TOKEN; never printed

	ServiceName string // service-name: EdgeX device service name
	ProfileName string // profile-name: EdgeX device profile name

	CommandListen    string // command-listen: address of the EdgeX command endpoint ("" = off)
	CommandURL       string // command-url: base address core-command reaches the endpoint at
	CommandTokenFile string // command-token-file: file with the command token (else SMARTX_COMMAND_TOKEN)
	CommandToken     string `json:"-"` // never printed

	Interval time.Duration // interval: time between two events

	Sensor       string  // sensor: dht22, iio or sim
	DHTPin       int     // dht-pin: sysfs GPIO number of the DHT22 data line
	IIODevice    string  // iio-device: IIO device directory ("" = find the first with both inputs)
	ReadAttempts int     // read-attempts: sensor reads per interval before giving up
	JumpTemp     float64 // jump-temp: largest believable temperature change between reads (C)
	JumpHumidity float64 // jump-humidity: largest believable humidity change between reads (%)
	StuckReads   int     // stuck-reads: identical reads in a row taken as a frozen sensor

	Actuator        string  // actuator: lirc, sim or none
	LIRCSocket      string  // lirc-socket: lircd's socket
	LIRCRemote      string  // lirc-remote: remote name in lircd.conf
	LIRCCode        string  // lirc-code: code name, {temp} replaced by the set-point in whole degrees
	SetpointMin     float64 // setpoint-min: lowest accepted set-point (C)
	SetpointMax     float64 // setpoint-max: highest accepted set-point (C)
	SetpointInitial float64 // setpoint-initial: set-point assumed before any command

	QueuePath string // queue-path: the durable queue's file
	QueueMax  int    // queue-max: readings kept at most; the oldest are dropped (and counted) beyond

	RetryMin    time.Duration // retry-min: first wait after a failed delivery
	RetryMax    time.Duration // retry-max: longest wait between delivery attempts
	HTTPTimeout time.Duration // http-timeout: limit of one request to the hub

	DiskPath string  // disk-path: file system whose use is reported as disk %
	Simulate bool    // simulate: use the simulated sensor and air conditioner
	SimSpeed float64 // sim-speed: how much faster than real time the thermal model runs
	LogLevel string  // log-level: debug, info, warn or error
}

// Defaults returns the configuration before any file, variable or flag is applied.
func Defaults() Config {
	host, err := os.Hostname()
	if err != nil || !nameRE.MatchString(host) {
		host = "pi"
	}
	return Config{
		Device:          host,
		HubURL:          "http://127.0.0.1:59880",
		ServiceName:     "", // derived from the device: see ServiceNameFor
		ProfileName:     "smartx-pi-sensor",
		CommandListen:   ":59990",
		Interval:        10 * time.Second,
		Sensor:          SensorDHT22,
		DHTPin:          4,
		ReadAttempts:    3,
		JumpTemp:        5,
		JumpHumidity:    20,
		StuckReads:      30,
		Actuator:        ActuatorLIRC,
		LIRCSocket:      "/var/run/lirc/lircd",
		LIRCRemote:      "aircon",
		LIRCCode:        "COOL_{temp}",
		SetpointMin:     16,
		SetpointMax:     30,
		SetpointInitial: 24,
		QueuePath:       "/var/lib/smartx-firmware/queue.db",
		QueueMax:        200000,
		RetryMin:        time.Second,
		RetryMax:        time.Minute,
		HTTPTimeout:     10 * time.Second,
		DiskPath:        "/",
		SimSpeed:        1,
		LogLevel:        "info",
	}
}

// Service is the device service name in effect: ServiceName, or ServiceNameFor(Device)
// when it is empty (the default).
func (c Config) Service() string {
	if c.ServiceName != "" {
		return c.ServiceName
	}
	return ServiceNameFor(c.Device)
}

// ServiceNameFor is the default device-service name of a device: its own, so that
// each Pi owns its EdgeX device service and core-command reaches each Pi at its own
// address (a service shared by every Pi would send all commands to the first one).
func ServiceNameFor(device string) string { return device + "-service" }

// nameRE is what EdgeX accepts in a name that also appears in a URL path (RFC 3986
// unreserved characters), limited in length like the reading contract's names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._~-]{0,99}$`)

// Validate reports the first bad setting, naming its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	for _, n := range []struct{ key, v string }{
		{"device", c.Device}, {"service-name", c.Service()}, {"profile-name", c.ProfileName},
	} {
		if !nameRE.MatchString(n.v) {
			bad(n.key, "%q is not a name (letters, digits, . _ ~ -; up to 100)", n.v)
		}
	}
	if len(c.Location) > 100 || strings.ContainsFunc(c.Location, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		bad("location", "at most 100 printable characters")
	}
	if err := checkURL(c.HubURL); err != nil {
		bad("hub-url", "%v", err)
	}
	if c.MetadataURL != "" {
		if err := checkURL(c.MetadataURL); err != nil {
			bad("metadata-url", "%v", err)
		}
	}
	if c.CommandListen != "" {
		if _, port, err := net.SplitHostPort(c.CommandListen); err != nil || port == "" {
			bad("command-listen", "%q is not host:port", c.CommandListen)
		}
		if c.CommandURL != "" {
			if err := checkURL(c.CommandURL); err != nil {
				bad("command-url", "%v", err)
			}
		}
	}
	if c.Interval < 100*time.Millisecond || c.Interval > time.Hour {
		bad("interval", "%v is outside 100ms..1h", c.Interval)
	}
	switch c.Sensor {
	case SensorDHT22, SensorIIO, SensorSim:
	default:
		bad("sensor", "%q is not dht22, iio or sim", c.Sensor)
	}
	// go-dht writes the pin number into a 3-byte buffer: 100 and above break it.
	if c.DHTPin < 0 || c.DHTPin > 99 {
		bad("dht-pin", "%d is outside 0..99 (for higher sysfs numbers use sensor = iio)", c.DHTPin)
	}
	if c.ReadAttempts < 1 || c.ReadAttempts > 10 {
		bad("read-attempts", "%d is outside 1..10", c.ReadAttempts)
	}
	if !(c.JumpTemp > 0) || !(c.JumpHumidity > 0) {
		bad("jump-temp/jump-humidity", "must be above 0")
	}
	if c.StuckReads < 2 {
		bad("stuck-reads", "%d is below 2", c.StuckReads)
	}
	switch c.Actuator {
	case ActuatorLIRC, ActuatorSim, ActuatorNone:
	default:
		bad("actuator", "%q is not lirc, sim or none", c.Actuator)
	}
	if c.Actuator == ActuatorLIRC && !c.Simulate {
		if c.LIRCSocket == "" {
			bad("lirc-socket", "empty")
		}
		if c.LIRCRemote == "" || strings.ContainsAny(c.LIRCRemote, " \t\r\n") {
			bad("lirc-remote", "%q must be one word", c.LIRCRemote)
		}
		if !strings.Contains(c.LIRCCode, "{temp}") || strings.ContainsAny(c.LIRCCode, " \t\r\n") {
			bad("lirc-code", "%q must be one word containing {temp}", c.LIRCCode)
		}
	}
	if !(c.SetpointMin >= 5) || !(c.SetpointMax <= 40) || !(c.SetpointMin < c.SetpointMax) {
		bad("setpoint-min/setpoint-max", "want 5 <= min < max <= 40, have %v..%v", c.SetpointMin, c.SetpointMax)
	} else if !(c.SetpointInitial >= c.SetpointMin && c.SetpointInitial <= c.SetpointMax) {
		bad("setpoint-initial", "%v is outside %v..%v", c.SetpointInitial, c.SetpointMin, c.SetpointMax)
	}
	if c.QueuePath == "" {
		bad("queue-path", "empty")
	}
	if c.QueueMax < 10 {
		bad("queue-max", "%d is below 10", c.QueueMax)
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		bad("retry-min/retry-max", "want 0 < min <= max, have %v..%v", c.RetryMin, c.RetryMax)
	}
	if c.HTTPTimeout <= 0 {
		bad("http-timeout", "must be above 0")
	}
	if c.DiskPath == "" {
		bad("disk-path", "empty")
	}
	if !(c.SimSpeed > 0 && c.SimSpeed <= 10000) {
		bad("sim-speed", "%v is outside (0, 10000]", c.SimSpeed)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	return errors.Join(errs...)
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q: want http(s)://host[:port]", s)
	}
	if u.User != nil {
		return errors.New("credentials do not belong in the URL: use token-file")
	}
	return nil
}

// EventURL is where events go; RegistryURL where registrations go.
func (c Config) EventURL() string { return strings.TrimRight(c.HubURL, "/") }

// RegistryURL is core-metadata's base URL: metadata-url, or hub-url when empty (the
// hub's standalone ingest serves both).
func (c Config) RegistryURL() string {
	if c.MetadataURL != "" {
		return strings.TrimRight(c.MetadataURL, "/")
	}
	return c.EventURL()
}

// AdvertisedCommandURL is the device service's base address registered with EdgeX:
// command-url, or http://<host name>:<command port>.
func (c Config) AdvertisedCommandURL() string {
	if c.CommandURL != "" {
		return strings.TrimRight(c.CommandURL, "/")
	}
	_, port, err := net.SplitHostPort(c.CommandListen)
	if err != nil || port == "" {
		port = "59990"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
