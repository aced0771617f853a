// Command demo runs the Smart Energy service on this machine with no cloud and no
// cluster: real servers on 127.0.0.1 (Kafka protocol, MongoDB protocol, InfluxDB), the
// hub and the sender as their own processes, a local weather station, firmware Pis and
// a fleet of simulated devices; then, with -loop (the default), the closed loop: a
// commissioning step test of the Pis' set-points, the trainer, inference and the
// controller, whose decisions it prints. It prints where to look, reports progress,
// and on Ctrl-C stops everything by PID.
//
//	go run ./functions/devtools/demo [flags]    (or: make demo)
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smartx-team/overcloud/functions/internal/service"
	"github.com/smartx-team/overcloud/functions/testbed/fleet"
	"github.com/smartx-team/overcloud/functions/testbed/localrun"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
)

func main() {
	ctx, stop := service.SignalContext()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop() // os.Exit skips deferred calls
	os.Exit(code)
}

type config struct {
	pis      int
	devices  int
	interval time.Duration
	dir      string
	keep     bool
	duration time.Duration
	loop     bool
	simSpeed float64
	hold     time.Duration
	// dashboard starts the operators' dashboard; controllerPort is where the loop's
	// controller will listen, known before it starts so the dashboard can call it.
	dashboard      bool
	controllerPort int
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := service.NewFlags("demo", "Runs the whole service locally: servers, hub, sender, firmware Pis and simulated devices.")
	fs.SetOutput(stderr)
	pis := fs.Int("pis", "DEMO_PIS", 4, "number of Raspberry Pis running the real firmware in --simulate mode, one per sector")
	devices := fs.Int("devices", "DEMO_DEVICES", 20, "number of lightweight simulated devices (the load generator of the tests)")
	interval := fs.Duration("interval", "DEMO_INTERVAL", time.Second, "time between two events of one device (the original used 10s)")
	dir := fs.String("dir", "DEMO_DIR", ".demo", "folder for the servers' data and the logs")
	keep := fs.Bool("keep", "DEMO_KEEP", false, "keep the data of an earlier run in -dir instead of starting afresh")
	duration := fs.Duration("duration", "DEMO_DURATION", 0, "stop by itself after this long (0: run until Ctrl-C)")
	loop := fs.Bool("loop", "DEMO_LOOP", true, "run the closed loop on the Pis: step test, trainer, inference, controller")
	simSpeed := fs.String("sim-speed", "DEMO_SIM_SPEED", "60", "how much faster than real time the Pis' rooms run (60: a second is a minute)")
	hold := fs.Duration("commission-hold", "DEMO_COMMISSION_HOLD", 12*time.Second, "how long each set-point of the step test is held")
	dashboard := fs.Bool("dashboard", "DEMO_DASHBOARD", true, "start the operators' dashboard and print its address and a login")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "demo:", err)
		return 2
	}
	speed, err := strconv.ParseFloat(*simSpeed, 64)
	if err != nil || !(speed > 0 && speed <= 10000) {
		fmt.Fprintf(stderr, "demo: -sim-speed %q: want a number in (0, 10000]\n", *simSpeed)
		return 2
	}
	c := config{pis: *pis, devices: *devices, interval: *interval, dir: *dir, keep: *keep, duration: *duration,
		loop: *loop, simSpeed: speed, hold: *hold, dashboard: *dashboard}
	if c.pis < 0 || c.devices <= 0 || c.interval <= 0 {
		fmt.Fprintln(stderr, "demo: -devices and -interval must be positive, -pis not negative")
		return 2
	}
	if c.loop && (c.pis == 0 || c.hold < time.Second) {
		fmt.Fprintln(stderr, "demo: -loop needs at least one Pi (-pis) and a -commission-hold of 1s or more")
		return 2
	}
	if err := demo(ctx, c, stdout); err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	return 0
}

func demo(ctx context.Context, c config, out io.Writer) error {
	dir, err := filepath.Abs(c.dir)
	if err != nil {
		return err
	}
	if err := prepareDir(dir, c.keep); err != nil {
		return err
	}
	var sayMu sync.Mutex // the report and the loop print from their own goroutines
	say := func(format string, args ...any) {
		sayMu.Lock()
		defer sayMu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}

	key := randomHex(16) // the weather key and device tokens are secrets even here
	weather, err := localrun.StartWeatherStation(key, 8.5, 64)
	if err != nil {
		return err
	}
	defer weather.Close()

	tokens := map[string]string{}
	for i := range c.devices {
		tokens[fmt.Sprintf("sim-%d", i)] = randomHex(16)
	}
	for i := range c.pis {
		tokens[piName(i)] = randomHex(16)
	}
	say("starting Kafka (kfake), MongoDB (FerretDB), InfluxDB 1.8, the hub and the sender in %s ...", dir)
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	path, err := localrun.Start(startCtx, localrun.Options{Dir: dir, Tokens: tokens, WeatherURL: weather.URL, WeatherKey: key})
	if err != nil {
		return err
	}
	defer func() {
		say("stopping everything ...")
		if err := path.Close(); err != nil {
			say("stop: %v", err)
		}
		say("stopped; data and logs are in %s", dir)
	}()
	say("ready in %.1fs", time.Since(start).Seconds())

	pis, err := startPis(startCtx, path, c, tokens, say)
	if err != nil {
		return err
	}
	f, err := fleet.New(fleet.Options{
		HubURL: path.HubURL, Devices: c.devices, Interval: c.interval, Tokens: tokens,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	if err := f.Register(ctx); err != nil {
		return err
	}
	sayWhereToLook(say, path, dir, pis, c)
	if c.dashboard {
		if c.controllerPort, err = startDashboard(startCtx, path, c, say); err != nil {
			return err
		}
	}

	runCtx := ctx
	if c.duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	fleetDone := make(chan error, 1)
	go func() { fleetDone <- f.Run(runCtx) }()
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		if c.loop {
			if err := closeTheLoop(runCtx, path, c, say); err != nil && runCtx.Err() == nil {
				say("loop: %v", err)
			}
		}
	}()
	report(runCtx, f, path, weather, say)
	<-fleetDone
	<-loopDone
	st := f.Stats()
	say("simulated devices posted %d events (%d refused or unanswered), %d readings acknowledged; %s temperature and humidity values in InfluxDB from them and the Pis",
		st.Posted, st.Failed, st.AckedReadings, countOrUnknown(path.CountValues(context.Background(), storedClimate)))
	return nil
}

// sayWhereToLook prints the addresses of everything the demo started.
func sayWhereToLook(say func(string, ...any), path *localrun.Path, dir, pis string, c config) {
	say(`
Where to look:
  hub (EdgeX v3 ingest)  %s/api/v3/ping
  hub metrics            %s/metrics
  sender metrics         %s/metrics
  InfluxDB               %s   bucket %q
  last readings:         curl -s %s/api/v2/query -H 'Content-Type: application/vnd.flux' \
                           -d 'from(bucket:"%s") |> range(start:-1m) |> filter(fn: (r) => r._field == "temperature") |> last()'
  logs                   %s/logs/
%s%d Pis (firmware) and %d simulated devices post every %s. Ctrl-C stops.
`, path.HubURL, path.HubAdmin, path.SenderAdmin, path.Influx.URL, path.Influx.Bucket,
		path.Influx.URL, path.Influx.Bucket, dir, pis, c.pis, c.devices, c.interval)
}

// startDashboard starts the operators' dashboard and prints where it is and how to
// log in; it returns the port the loop's controller is to listen on (0 without the
// loop: the panel then says the controller does not answer).
func startDashboard(ctx context.Context, path *localrun.Path, c config, say func(string, ...any)) (int, error) {
	port := 0
	if c.loop {
		var err error
		if port, err = servers.FreePort(); err != nil {
			return 0, err
		}
	}
	d, err := path.StartDashboard(ctx, fmt.Sprintf("http://127.0.0.1:%d", max(port, 1)), "operator")
	if err != nil {
		return 0, err
	}
	say(`dashboard              %s
  log in as %q with password %s (made for this run, printed once; only its bcrypt hash is kept)
`, d.URL, d.User, d.Password)
	return port, nil
}

// startPis starts c.pis firmware Pis and returns the lines that say where to command
// them.
func startPis(ctx context.Context, path *localrun.Path, c config, tokens map[string]string, say func(string, ...any)) (string, error) {
	var pis strings.Builder
	for i := range c.pis {
		name := piName(i)
		say("starting %s (firmware --simulate) ...", name)
		pi := localrun.Pi{Device: name, Token: tokens[name], Location: fmt.Sprintf("sector-%d", i%4+1), Interval: c.interval}
		if c.loop {
			pi.Args = []string{"--sim-speed", strconv.FormatFloat(c.simSpeed, 'f', -1, 64), "--setpoint-initial", "18"}
		}
		_, url, err := path.StartPi(ctx, pi)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&pis, "  %-22s %s/api/v3/device/name/%s/setpoint   (log: %s)\n", name+" command", url, name, path.LogPath(name))
		if i == 0 {
			fmt.Fprintf(&pis, "  set its air conditioner: curl -X PUT %s/api/v3/device/name/%s/setpoint -d '{\"setpoint\": \"22\"}'\n", url, name)
		}
	}
	return pis.String(), nil
}

// report says every 5 s what the hub acknowledged and InfluxDB holds, until ctx ends.
func report(ctx context.Context, f *fleet.Fleet, path *localrun.Path, weather *localrun.WeatherStation, say func(string, ...any)) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			st := f.Stats()
			n, err := path.CountValues(ctx, storedClimate)
			if err != nil && ctx.Err() == nil {
				say("InfluxDB query: %v", err)
			}
			say("%s  simulated devices' readings acknowledged by the hub: %d   temperature and humidity values in InfluxDB (Pis too): %s   weather requests: %d",
				time.Now().Format("15:04:05"), st.AckedReadings, countOrUnknown(n, err), weather.Calls())
		}
	}
}

// countOrUnknown shows a count that could not be read as unknown, never as zero.
func countOrUnknown(n int64, err error) string {
	if err != nil {
		return "unknown"
	}
	return strconv.FormatInt(n, 10)
}

// dirMarker marks a folder the demo made, so that it only ever empties its own.
const dirMarker = ".smartx-demo"

// prepareDir makes dir the demo's: it creates it, or empties it (unless keep) if the
// demo made it. A folder that is not empty and was not made by the demo (no marker
// file) is refused and left as it is: -dir ~ must not wipe a home folder.
func prepareDir(dir string, keep bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("-dir %s: %w", dir, err)
	}
	if len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(dir, dirMarker)); err != nil {
			return fmt.Errorf("-dir %s is not empty and was not made by the demo (it has no %s file): "+
				"give an empty or new folder, the demo deletes what is in it", dir, dirMarker)
		}
		if !keep {
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, dirMarker), []byte("made by the Smart Energy demo; it empties this folder on its next run\n"), 0o644)
}

// storedClimate is the predicate of the values the demo counts.
const storedClimate = `r._field == "temperature" or r._field == "humidity"`

// piName names the i-th simulated Pi.
func piName(i int) string { return fmt.Sprintf("pi-%d", i+1) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
