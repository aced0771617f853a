// Package localrun runs the whole data path on this machine the way it is deployed:
// real servers (Kafka protocol, MongoDB protocol, InfluxDB) and the hub and the sender
// as their own processes built from this repository, all on 127.0.0.1 with free ports.
// The demo, the end-to-end tests and the benchmark share it, so all three exercise the
// same wiring (the same env settings a Kubernetes Deployment gives the functions).
package localrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
)

// Kafka topics of the data path.
const (
	Topic     = reading.Topic
	DeadTopic = reading.DeadLetterTopic
)

// Packages of the functions this runs.
const (
	HubPackage    = "github.com/smartx-team/overcloud/functions/hubbridge"
	SenderPackage = "github.com/smartx-team/overcloud/functions/sender"
)

// Options say what to start; Dir is required, the rest is optional.
type Options struct {
	// Dir holds every server's data and the logs (<name>.log).
	Dir string
	// Tokens maps device names to tokens the hub requires; nil turns auth off.
	Tokens map[string]string
	// WeatherURL and WeatherKey point the sender at an OpenWeatherMap-compatible
	// service; empty WeatherURL means no weather enrichment.
	WeatherURL, WeatherKey string
	// Partitions of the readings topic (default 6).
	Partitions int
	// HubEnv and SenderEnv are extra KEY=value settings, appended last so they win.
	HubEnv, SenderEnv []string
}

// Path is a running data path. Close stops it; the fields are read-only.
type Path struct {
	Kafka  *servers.Kafka
	Mongo  *servers.Mongo
	Influx *servers.Influx
	Hub    *servers.Proc
	Sender *servers.Proc

	// HubURL is the hub's EdgeX ingest; HubAdmin and SenderAdmin the admin bases
	// (/healthz, /readyz, /metrics).
	HubURL, HubAdmin, SenderAdmin string

	dir     string
	closers []func() error
	logs    map[string]*os.File
}

// Start starts everything and waits until each part is ready. On error it stops what
// it started.
func Start(ctx context.Context, o Options) (_ *Path, err error) {
	if o.Dir == "" {
		return nil, errors.New("localrun: Dir is required")
	}
	if o.Partitions <= 0 {
		o.Partitions = 6
	}
	p := &Path{dir: o.Dir, logs: map[string]*os.File{}}
	defer func() {
		if err != nil {
			_ = p.Close()
		}
	}()
	if err := os.MkdirAll(filepath.Join(o.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	for _, name := range []string{"kafka", "mongo", "influx", "hub", "sender"} {
		if p.logs[name], err = os.Create(p.LogPath(name)); err != nil {
			return nil, err
		}
	}

	if p.Kafka, err = servers.NewKafka(p.sub("kafka"), servers.KafkaOptions{
		Topics: []string{Topic, DeadTopic}, Partitions: o.Partitions, Log: p.log("kafka"),
	}); err != nil {
		return nil, err
	}
	if err := p.start(ctx, "kafka", p.Kafka.Proc); err != nil {
		return nil, err
	}
	if p.Mongo, err = servers.NewMongo(p.sub("mongo"), p.log("mongo")); err != nil {
		return nil, err
	}
	if err := p.start(ctx, "mongo", p.Mongo.Proc); err != nil {
		return nil, err
	}
	if p.Influx, err = servers.NewInflux(p.sub("influx"), p.log("influx")); err != nil {
		return nil, err
	}
	if err := p.start(ctx, "influx", p.Influx.Proc); err != nil {
		return nil, err
	}

	hubEnv := []string{
		"HUB_MONGO_URI=" + p.Mongo.URI,
		"HUB_KAFKA_BROKERS=" + p.Kafka.Addr,
		"HUB_KAFKA_TOPIC=" + Topic,
	}
	if o.Tokens != nil {
		file := filepath.Join(o.Dir, "device-tokens.json")
		if err := writeSecretJSON(file, o.Tokens); err != nil {
			return nil, err
		}
		hubEnv = append(hubEnv, "HUB_DEVICE_TOKENS_FILE="+file)
	}
	var hubPort int
	if hubPort, p.HubAdmin, err = p.function(ctx, "hub", HubPackage, "HUB", true, append(hubEnv, o.HubEnv...), &p.Hub); err != nil {
		return nil, err
	}
	p.HubURL = fmt.Sprintf("http://127.0.0.1:%d", hubPort)

	senderEnv := []string{
		"SENDER_KAFKA_BROKERS=" + p.Kafka.Addr,
		"SENDER_KAFKA_TOPIC=" + Topic,
		"SENDER_DEAD_LETTER_TOPIC=" + DeadTopic,
		"SENDER_INFLUX_URL=" + p.Influx.URL,
		"SENDER_INFLUX_TOKEN=" + p.Influx.Token,
		"SENDER_INFLUX_ORG=" + p.Influx.Org,
		"SENDER_INFLUX_BUCKET=" + p.Influx.Bucket,
		"SENDER_WEATHER_PROVIDER=none",
	}
	if o.WeatherURL != "" {
		keyFile := filepath.Join(o.Dir, "owm-api-key")
		if err := os.WriteFile(keyFile, []byte(o.WeatherKey), 0o600); err != nil {
			return nil, err
		}
		senderEnv = append(senderEnv, "SENDER_WEATHER_PROVIDER=owm", "SENDER_OWM_URL="+o.WeatherURL, "SENDER_OWM_API_KEY_FILE="+keyFile)
	}
	if _, p.SenderAdmin, err = p.function(ctx, "sender", SenderPackage, "SENDER", false, append(senderEnv, o.SenderEnv...), &p.Sender); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Path) sub(name string) string { return filepath.Join(p.dir, name) }

func (p *Path) log(name string) io.Writer { return p.logs[name] }

// LogPath is where the named part (kafka, mongo, influx, hub, sender) logs.
func (p *Path) LogPath(name string) string { return filepath.Join(p.dir, "logs", name+".log") }

func (p *Path) start(ctx context.Context, name string, proc *servers.Proc) error {
	if err := proc.Start(ctx); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	p.closers = append(p.closers, proc.Stop)
	return nil
}

// function builds and starts one of our functions with an admin port
// (<PREFIX>_ADMIN_LISTEN) and, if it serves data, a data port (<PREFIX>_LISTEN), and
// waits for its /readyz.
func (p *Path) function(ctx context.Context, name, pkg, prefix string, serves bool, env []string, out **servers.Proc) (int, string, error) {
	return p.functionOn(ctx, name, pkg, prefix, serves, 0, env, out)
}

// functionOn is function with the serving port given (0: a free one).
func (p *Path) functionOn(ctx context.Context, name, pkg, prefix string, serves bool, port int, env []string, out **servers.Proc) (int, string, error) {
	bin, err := servers.BuildGo(ctx, pkg)
	if err != nil {
		return 0, "", err
	}
	if port == 0 {
		if port, err = servers.FreePort(); err != nil {
			return 0, "", err
		}
	}
	adminPort, err := servers.FreePort()
	if err != nil {
		return 0, "", err
	}
	admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	env = append([]string{fmt.Sprintf("%s_ADMIN_LISTEN=127.0.0.1:%d", prefix, adminPort)}, env...)
	if serves {
		env = append(env, fmt.Sprintf("%s_LISTEN=127.0.0.1:%d", prefix, port))
	}
	proc := servers.NewProc(name, []string{bin}, append(os.Environ(), env...), func(ctx context.Context) error {
		return httpOK(ctx, admin+"/readyz")
	}, p.log(name))
	*out = proc
	return port, admin, p.start(ctx, name, proc)
}

// Close stops everything by PID, newest first, and closes the logs.
func (p *Path) Close() error {
	var errs []error
	for i := len(p.closers) - 1; i >= 0; i-- {
		errs = append(errs, p.closers[i]())
	}
	p.closers = nil
	for _, f := range p.logs {
		errs = append(errs, f.Close())
	}
	p.logs = nil
	return errors.Join(errs...)
}

func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return nil
}

func writeSecretJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// FirmwarePackage is the Raspberry Pi firmware, which StartPi runs in --simulate mode.
const FirmwarePackage = "github.com/smartx-team/overcloud/device/cmd/firmware"

// Pi is one simulated Raspberry Pi for StartPi and NewPi.
type Pi struct {
	// Device is the EdgeX device name (required); Token its hub token (required
	// when the hub was started with Tokens).
	Device, Token string
	// Location is the sector the device measures (default "sector-1").
	Location string
	// Interval between two events (default 1s).
	Interval time.Duration
	// HubURL is where events go and MetadataURL where the Pi registers (NewPi only;
	// StartPi uses the path's hub). MetadataURL defaults to HubURL.
	HubURL, MetadataURL string
	// Args are more firmware flags.
	Args []string
}

// StartPi builds the firmware and runs it as a simulated Pi (simulated DHT22 and air
// conditioner, the thermal model of a room sector) that registers with the hub and
// posts to it, with its durable queue in Dir and its log in logs/<device>.log. It
// returns the process, stopped by Close with the rest, and the base URL of its EdgeX
// command endpoint (PUT {url}/api/v3/device/name/{device}/setpoint).
func (p *Path) StartPi(ctx context.Context, pi Pi) (*servers.Proc, string, error) {
	if pi.Device == "" {
		return nil, "", errors.New("localrun: Pi.Device is required")
	}
	pi.HubURL, pi.MetadataURL = p.HubURL, ""
	log, err := os.Create(p.LogPath(pi.Device))
	if err != nil {
		return nil, "", err
	}
	p.logs[pi.Device] = log
	proc, commandURL, err := NewPi(ctx, p.sub(pi.Device), pi, log)
	if err != nil {
		return nil, "", err
	}
	return proc, commandURL, p.start(ctx, pi.Device, proc)
}

// NewPi builds the firmware and returns, stopped, a simulated Pi that registers at
// pi.MetadataURL and posts to pi.HubURL (real EdgeX or our hub), with its durable queue
// in dir (see PiQueue) and its log to log, and the base URL of its EdgeX command
// endpoint. Its readiness is the command endpoint's ping.
func NewPi(ctx context.Context, dir string, pi Pi, log io.Writer) (*servers.Proc, string, error) {
	if pi.Device == "" || pi.HubURL == "" {
		return nil, "", errors.New("localrun: Pi.Device and Pi.HubURL are required")
	}
	if pi.Location == "" {
		pi.Location = "sector-1"
	}
	if pi.Interval <= 0 {
		pi.Interval = time.Second
	}
	bin, err := servers.BuildGo(ctx, FirmwarePackage)
	if err != nil {
		return nil, "", err
	}
	port, err := servers.FreePort()
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(pi.Token), 0o600); err != nil {
		return nil, "", err
	}
	commandURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	argv := []string{bin, "--simulate", "--device", pi.Device, "--location", pi.Location,
		"--hub-url", pi.HubURL, "--queue-path", PiQueue(dir),
		"--interval", pi.Interval.String(), "--retry-min", "200ms", "--retry-max", "5s",
		"--command-listen", fmt.Sprintf("127.0.0.1:%d", port), "--command-url", commandURL,
		"--disk-path", dir}
	if pi.MetadataURL != "" {
		argv = append(argv, "--metadata-url", pi.MetadataURL)
	}
	if pi.Token != "" {
		argv = append(argv, "--token-file", tokenFile)
	}
	argv = append(argv, pi.Args...)
	proc := servers.NewProc(pi.Device, argv, nil, func(ctx context.Context) error {
		return httpOK(ctx, commandURL+"/api/v3/ping")
	}, log)
	return proc, commandURL, nil
}

// PiQueue is the file of the durable queue of a Pi NewPi made in dir.
func PiQueue(dir string) string { return filepath.Join(dir, "queue.db") }

// PiQueuePath is the file of the durable queue of the Pi StartPi started as device.
func (p *Path) PiQueuePath(device string) string { return PiQueue(p.sub(device)) }

// CountValues counts the values stored in InfluxDB, since any time, whose rows match
// the Flux predicate where (for example `r._field == "temperature"`), with a Flux
// query as a dashboard would read them.
func (p *Path) CountValues(ctx context.Context, where string) (int64, error) {
	return p.CountValuesIn(ctx, p.Influx.Bucket, where)
}

// CountValuesIn is CountValues in another bucket of the path's InfluxDB.
func (p *Path) CountValuesIn(ctx context.Context, bucket, where string) (int64, error) {
	c := influxdb2.NewClient(p.Influx.URL, p.Influx.Token)
	defer c.Close()
	q := fmt.Sprintf(`from(bucket: %q) |> range(start: 2000-01-01T00:00:00Z)
  |> filter(fn: (r) => %s)
  |> group() |> count()`, bucket, where)
	res, err := c.QueryAPI(p.Influx.Org).Query(ctx, q)
	if err != nil {
		return 0, err
	}
	defer res.Close()
	var n int64
	for res.Next() {
		if v, ok := res.Record().Value().(int64); ok {
			n += v
		}
	}
	return n, res.Err()
}

// QueryFloat runs a Flux query and returns the value of its first record as a float
// (0 when there is none), for a check such as a maximum.
func (p *Path) QueryFloat(ctx context.Context, flux string) (float64, error) {
	c := influxdb2.NewClient(p.Influx.URL, p.Influx.Token)
	defer c.Close()
	res, err := c.QueryAPI(p.Influx.Org).Query(ctx, flux)
	if err != nil {
		return 0, err
	}
	defer res.Close()
	for res.Next() {
		switch v := res.Record().Value().(type) {
		case float64:
			return v, nil
		case int64:
			return float64(v), nil
		}
	}
	return 0, res.Err()
}
