// Command bench measures the data path on this machine and prints a table: readings/s
// sustained and latency from a reading's origin to its stored point, for fleets of
// simulated devices at 1 Hz, at full speed, and for each stage alone (hub ingest, relay,
// sender), each beside the peer a user would otherwise run (EdgeX core-data for the
// hub's ingest, Telegraf for the sender) under the same load; and whether the hub stays
// up under a site of plain EdgeX clients and under devices coming back at once with
// backlogs after a hub restart (with and without our seq tag). Everything runs as in
// the demo (see localrun), so the figures include every server sharing this machine's
// cores with the load generator; read them as ratios.
//
//	go run ./functions/devtools/bench [flags]    (or: make bench)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/smartx-team/overcloud/functions/internal/service"
	"github.com/smartx-team/overcloud/functions/testbed/fleet"
	"github.com/smartx-team/overcloud/functions/testbed/localrun"
	"github.com/smartx-team/overcloud/functions/testbed/promscrape"
)

func main() {
	ctx, stop := service.SignalContext()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop() // os.Exit skips deferred calls
	os.Exit(code)
}

type config struct {
	fleets   []int
	rack     []int
	duration time.Duration
	burst    int
	dir      string
	// overload is the devices of the overload runs (0: none); outage how long the
	// hub is down in the restart run.
	overload int
	outage   time.Duration
	// soak is how long the soak run goes (0: none), with soakDevices each sending
	// every soakInterval.
	soak         time.Duration
	soakDevices  int
	soakInterval time.Duration
	// profileDir, when set, receives a CPU profile of the hub from each hub-ingest row,
	// and of the hub and the load generator from each whole-path row.
	profileDir string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := service.NewFlags("bench", "Measures the local data path and prints a table of readings/s and latency.")
	fs.SetOutput(stderr)
	fleets := fs.String("fleets", "BENCH_FLEETS", "100,1000,10000", "fleet sizes to run at 1 Hz per device, comma separated")
	rack := fs.String("rack-fleets", "BENCH_RACK_FLEETS", "1000,10000", "fleet sizes to run again with the firmware's six readings per event (climate, set-point, cpu, mem, disk); empty: none")
	duration := fs.Duration("duration", "BENCH_DURATION", 30*time.Second, "how long each 1 Hz fleet runs")
	burst := fs.Int("burst", "BENCH_BURST", 200, "devices posting back to back for the full-speed and stage runs (and their peers); 0: none of these runs")
	dir := fs.String("dir", "BENCH_DIR", "", "folder for server data (default: a temporary folder)")
	overload := fs.Int("overload-devices", "BENCH_OVERLOAD_DEVICES", 2500, "devices at 0.3 Hz of the overload runs (a plain load, and a hub restart with backlogs), each with and without seq tags; 0: none")
	outage := fs.Duration("outage", "BENCH_OUTAGE", 30*time.Second, "how long the hub is down in the restart run")
	soakFor := fs.Duration("soak", "BENCH_SOAK", 10*time.Minute, "how long the soak run watches the hub's memory; 0: no soak run")
	soakDevices := fs.Int("soak-devices", "BENCH_SOAK_DEVICES", 10000, "devices of the soak run")
	soakInterval := fs.Duration("soak-interval", "BENCH_SOAK_INTERVAL", overloadInterval, "each soak device's interval between events (default 0.3 Hz, a rate the path carries at 10,000 devices on 2 cores)")
	profileDir := fs.String("profile", "BENCH_PROFILE", "", "folder to write CPU profiles into, for go tool pprof: the hub's from each hub-ingest row, the hub's and the load generator's from each whole-path row (costs them some CPU in those rows); empty: none")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	c := config{duration: *duration, burst: *burst, dir: *dir, overload: *overload, outage: *outage, soak: *soakFor, soakDevices: *soakDevices, soakInterval: *soakInterval, profileDir: *profileDir}
	if c.burst < 0 {
		fmt.Fprintln(stderr, "bench: -burst must be 0 or more")
		return 2
	}
	if c.overload < 0 || c.outage <= 0 {
		fmt.Fprintln(stderr, "bench: -overload-devices must be 0 or more and -outage positive")
		return 2
	}
	if c.soak < 0 || c.soakDevices <= 0 || c.soakInterval <= 0 {
		fmt.Fprintln(stderr, "bench: -soak must be 0 or more, -soak-devices and -soak-interval positive")
		return 2
	}
	if c.profileDir != "" {
		if err := os.MkdirAll(c.profileDir, 0o755); err != nil {
			fmt.Fprintln(stderr, "bench: -profile:", err)
			return 2
		}
	}
	var err error
	if c.fleets, err = sizes("fleets", *fleets); err == nil {
		c.rack, err = sizes("rack-fleets", *rack)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	if err := bench(ctx, c, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

// sizes parses a comma-separated list of fleet sizes ("" is none).
func sizes(name, list string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-%s: %q is not a positive number", name, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// row is one line of the table.
type row struct {
	name            string
	offered, stored float64 // readings/s; offered NaN where the load is closed-loop
	p50, p99        float64 // seconds; NaN where not measured
	// cpuPerReading is the CPU seconds the measured process spent per reading (0: not
	// measured), for the rows that compare with a peer.
	cpuPerReading float64
	note          string
}

func bench(ctx context.Context, c config, out, progress io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(progress, "bench: "+format+"\n", args...) }
	var rows []row
	for _, n := range c.fleets {
		say("whole path, %d devices at 1 Hz for %s ...", n, c.duration)
		r, err := wholePath(ctx, c, n, time.Second, false, say)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	for _, n := range c.rack {
		say("whole path, %d devices at 1 Hz with six readings per event for %s ...", n, c.duration)
		r, err := wholePath(ctx, c, n, time.Second, true, say)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	if c.burst > 0 {
		burstRows, err := burstAndStages(ctx, c, say)
		if err != nil {
			return err
		}
		rows = append(rows, burstRows...)
	}
	for _, noSeq := range []bool{true, false} {
		if c.overload == 0 {
			break
		}
		say("plain load, %d devices at 0.3 Hz, %s, for %s ...", c.overload, seqName(noSeq), c.duration)
		r, err := plainLoad(ctx, c, c.overload, noSeq, say)
		if err != nil {
			return err
		}
		rows = append(rows, r)
		say("restart with backlogs, %d devices at 0.3 Hz, %s, hub down %s ...", c.overload, seqName(noSeq), c.outage)
		if r, err = restartBurst(ctx, c, c.overload, noSeq, c.outage, say); err != nil {
			return err
		}
		rows = append(rows, r)
	}
	if c.soak > 0 {
		say("soak, %d devices at %s for %s, watching the hub's memory ...", c.soakDevices, hertz(c.soakInterval), c.soak)
		r, err := soak(ctx, c, c.soakDevices, c.soakInterval, c.soak, say)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	printTable(out, rows)
	return nil
}

// burstAndStages is the back-to-back run of the whole path, then each stage alone
// with its peer.
func burstAndStages(ctx context.Context, c config, say func(string, ...any)) ([]row, error) {
	say("whole path, %d devices back to back for %s ...", c.burst, c.duration)
	r, err := wholePath(ctx, c, c.burst, time.Millisecond, false, say)
	if err != nil {
		return nil, err
	}
	r.offered = math.NaN()
	rows := []row{r}
	say("each stage alone ...")
	stageRows, err := stages(ctx, c, say)
	if err != nil {
		return nil, err
	}
	rows = append(rows, stageRows...)
	say("hub ingest alone, no seq tags, %d devices back to back for %s ...", c.burst, c.duration)
	if r, err = hubIngestPlain(ctx, c, say); err != nil {
		return nil, err
	}
	rows = append(rows, r)
	say("EdgeX core-data alone, no seq tags, %d devices back to back for %s ...", c.burst, c.duration)
	if r, err = coreDataIngest(ctx, c, say); err != nil {
		return nil, err
	}
	rows = append(rows, r)
	compareIngest(rows)
	compareSender(rows)
	return rows, nil
}

// startPath starts a fresh data path and registers a fleet of n devices on it.
func startPath(ctx context.Context, c config, n int, interval time.Duration, rack bool) (*localrun.Path, *fleet.Fleet, func(), error) {
	return start(ctx, c, fleet.Options{Devices: n, Interval: interval, RackStats: rack})
}

// startFleet is startPath for devices of two readings that send no seq tag when
// noSeq, as plain EdgeX clients do.
func startFleet(ctx context.Context, c config, n int, interval time.Duration, noSeq bool) (*localrun.Path, *fleet.Fleet, func(), error) {
	return start(ctx, c, fleet.Options{Devices: n, Interval: interval, NoSeq: noSeq})
}

func start(ctx context.Context, c config, fo fleet.Options) (*localrun.Path, *fleet.Fleet, func(), error) {
	dir, removeDir, err := runDir(c)
	if err != nil {
		return nil, nil, nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	o := localrun.Options{Dir: dir}
	if c.profileDir != "" {
		o.HubEnv = []string{"HUB_PPROF=true"}
	}
	p, err := localrun.Start(startCtx, o)
	if err != nil {
		removeDir()
		return nil, nil, nil, err
	}
	stopPath := func() {
		_ = p.Close()
		removeDir()
	}
	// Each device holds its own connection, as a site of Pis does; the rows count
	// what was acknowledged, so the generator keeps no record of each reading.
	fo.HubURL, fo.Prefix, fo.ConnPerDevice, fo.ForgetAcked = p.HubURL, "bench-", true, true
	f, err := fleet.New(fo)
	if err != nil {
		stopPath()
		return nil, nil, nil, err
	}
	cleanup := func() {
		f.Close() // the next row's devices need the file descriptors
		stopPath()
	}
	if err := f.Register(startCtx); err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	return p, f, cleanup, nil
}

// startIngestOnly starts a path whose hub can only store: c.burst devices posting
// back to back (without seq tags when noSeq), with the sender and Kafka stopped.
func startIngestOnly(ctx context.Context, c config, noSeq bool) (*localrun.Path, *fleet.Fleet, func(), error) {
	p, f, cleanup, err := startFleet(ctx, c, c.burst, time.Millisecond, noSeq)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := p.Sender.Stop(); err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	if err := p.Kafka.Stop(); err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	return p, f, cleanup, nil
}

// runDir makes the folder of one run's servers: a temporary one, removed by remove,
// or a new one in -dir, which is kept.
func runDir(c config) (dir string, remove func(), err error) {
	if c.dir != "" {
		dir = fmt.Sprintf("%s/run-%d", c.dir, time.Now().UnixNano())
		return dir, func() {}, os.MkdirAll(dir, 0o755)
	}
	if dir, err = os.MkdirTemp("", "smartx-bench-"); err != nil {
		return "", nil, err
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

// wholePath runs n devices for the configured duration and measures what the sender
// stored meanwhile and the origin-to-stored latency of those readings. rack sends the
// firmware's six readings per event instead of two.
func wholePath(ctx context.Context, c config, n int, interval time.Duration, rack bool, say func(string, ...any)) (row, error) {
	r, mem, err := measureWhole(ctx, c, n, interval, rack, c.duration, say)
	if err == nil {
		r.note += fmt.Sprintf("; hub RSS max %s, live heap max %s", megabytes(maxOf(mem.rss)), megabytes(maxOf(mem.live)))
	}
	return r, err
}

// measureWhole is wholePath over a window of its own, returning the hub's memory
// sampled over the window as well.
func measureWhole(ctx context.Context, c config, n int, interval time.Duration, rack bool, window time.Duration, say func(string, ...any)) (row, memorySamples, error) {
	p, f, cleanup, err := startPath(ctx, c, n, interval, rack)
	if err != nil {
		return row{}, memorySamples{}, err
	}
	defer cleanup()
	// Warm up for a few seconds so connection set-up and first compactions are not
	// counted, then until the path has settled, then measure over the window.
	stop := runFleet(ctx, f, 5*time.Second)
	defer stop()
	perEvent := 2
	if rack {
		perEvent = 6
	}
	perInterval := perEvent * n
	// Devices back to back are a closed loop, never behind their offer: nothing to
	// settle.
	backToBack := interval < time.Second
	settled := math.Inf(1)
	if !backToBack {
		settled = settle(ctx, p, f, int64(perInterval), settleLimit)
	}

	before, err := scrape(ctx, p.SenderAdmin)
	if err != nil {
		return row{}, memorySamples{}, err
	}
	ackedBefore := f.Stats().AckedReadings
	mode := fmt.Sprintf("%d devices x %s", n, hertz(interval))
	if backToBack {
		mode = fmt.Sprintf("%d devices back to back", n)
	}
	if rack {
		mode += ", 6 readings/event"
	}
	name := "whole path, " + mode
	start := time.Now()
	cores := startCoreUse(pathProcesses(p))
	profiled := profileWindow(ctx, c, p.HubAdmin, name, window, say)
	mem := sampleMemory(ctx, p.Hub.PID(), p.HubAdmin, window)
	busy, shares := cores.stop()
	profiled()
	after, err := scrape(ctx, p.SenderAdmin)
	elapsed := time.Since(start).Seconds()
	acked := float64(f.Stats().AckedReadings - ackedBefore)
	stop()
	if ctx.Err() != nil {
		return row{}, memorySamples{}, ctx.Err()
	}
	if err != nil {
		return row{}, memorySamples{}, err
	}
	hb, err := histogramOf(before, "sender_origin_to_stored_seconds")
	if err != nil {
		return row{}, memorySamples{}, err
	}
	ha, _ := histogramOf(after, "sender_origin_to_stored_seconds")
	lat := ha.minus(hb)
	written := value(after, "sender_written_total") - value(before, "sender_written_total")
	note := fmt.Sprintf("hub acked %.0f/s; %s%s; %s", acked/elapsed, settledNote(settled), coresNote(busy, machineCores(), shares), senderNote(before, after))
	say("  hub acknowledged %.0f readings/s, sender stored %.0f/s", acked/elapsed, written/elapsed)
	return row{
		name: name, offered: float64(perInterval) * float64(time.Second) / float64(interval),
		stored: written / elapsed, p50: lat.quantile(0.5), p99: lat.quantile(0.99),
		note: note,
	}, mem, nil
}

// settleLimit is the longest a whole-path row waits for the path to settle before
// its window.
const settleLimit = time.Minute

// settle waits until the path has caught up with its devices: they hold at most
// perInterval readings unacknowledged (one event each), the outbox holds at most as
// many not yet relayed and the sender's consumer lags at most as many, three checks
// in a row, half a second apart. It returns how long that took, or NaN when the path
// had not settled within limit. Ten thousand devices starting at once can put the
// hub behind, and with little headroom the backlog drains slowly: the window is to
// measure the path as it runs, not how it started.
func settle(ctx context.Context, p *localrun.Path, f *fleet.Fleet, perInterval int64, limit time.Duration) float64 {
	start := time.Now()
	for good := 0; time.Since(start) < limit && ctx.Err() == nil; {
		hub, err1 := scrape(ctx, p.HubAdmin)
		sender, err2 := scrape(ctx, p.SenderAdmin)
		if err1 == nil && err2 == nil && backlog(f) <= perInterval &&
			value(hub, "hub_backlog") <= float64(perInterval) && value(sender, "sender_consumer_lag_sum") <= float64(perInterval) {
			if good++; good == 3 {
				return time.Since(start).Seconds()
			}
		} else {
			good = 0
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return math.NaN()
}

// settledNote says how long the path took to settle before the window, with the
// separator after it; nothing for a closed loop (secs +Inf).
func settledNote(secs float64) string {
	switch {
	case math.IsInf(secs, 1):
		return ""
	case math.IsNaN(secs):
		return fmt.Sprintf("not settled within %s, measured anyway; ", settleLimit)
	}
	return fmt.Sprintf("settled %.0f s after the warm-up; ", secs)
}

// senderNote says how the sender's batches went between two scrapes of its metrics:
// their mean size and InfluxDB's mean time per write, its pace (a batch is written
// while the next is fetched; writes are one at a time).
func senderNote(before, after promscrape.Families) string {
	size, err1 := histogramOf(before, "sender_batch_size")
	sizeAfter, err2 := histogramOf(after, "sender_batch_size")
	write, err3 := histogramOf(before, "sender_write_seconds")
	writeAfter, err4 := histogramOf(after, "sender_write_seconds")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return "sender batches unknown"
	}
	b, w := sizeAfter.minus(size), writeAfter.minus(write)
	if b.total == 0 {
		return "sender wrote no batch"
	}
	return fmt.Sprintf("sender batches of %.0f messages, %.0f ms per InfluxDB write", b.mean(), 1000*w.mean())
}

// stages measures each stage alone on one path: the hub ingesting into MongoDB with
// Kafka down, the relay draining that backlog into Kafka, and the sender draining the
// topic into InfluxDB after it was held back.
func stages(ctx context.Context, c config, say func(string, ...any)) ([]row, error) {
	p, f, cleanup, err := startIngestOnly(ctx, c, false)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	// Hub ingest: devices post back to back; the hub can only store.
	ingest := backToBack(ctx, c, f, p.Hub.PID(), process{"FerretDB", p.Mongo.PID()}, p.HubAdmin, hubIngestRow, say)
	say("  hub ingest: %s", ingest.note)
	if err := f.Drain(ctx, 100*time.Millisecond); err != nil {
		return nil, err
	}
	backlog := float64(f.Stats().AckedReadings)

	// Relay: Kafka comes back; time until the outbox backlog is empty.
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := p.Kafka.Start(startCtx); err != nil {
		return nil, err
	}
	relayStart := time.Now()
	relayBefore, err := scrape(ctx, p.HubAdmin)
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, p.HubAdmin, "hub_relayed_total", value(relayBefore, "hub_relayed_total")+backlog); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	relaySecs := time.Since(relayStart).Seconds()
	relayAfter, _ := scrape(ctx, p.HubAdmin)
	hb, _ := histogramOf(relayBefore, "hub_relay_latency_seconds")
	ha, _ := histogramOf(relayAfter, "hub_relay_latency_seconds")
	say("  relay: %.0f readings in %.1fs", backlog, relaySecs)

	// Sender: started with the whole backlog waiting in Kafka.
	if err := p.Sender.Start(startCtx); err != nil {
		return nil, err
	}
	senderStart := time.Now()
	cpuBefore, influxBefore := cpuSeconds(p.Sender.PID()), cpuSeconds(p.Influx.PID())
	if err := waitFor(ctx, p.SenderAdmin, "sender_written_total", backlog); err != nil {
		return nil, fmt.Errorf("sender: %w", err)
	}
	senderSecs := time.Since(senderStart).Seconds()
	senderCPU := (cpuSeconds(p.Sender.PID()) - cpuBefore) / backlog
	senderInflux := cpuSeconds(p.Influx.PID()) - influxBefore
	say("  sender: %.0f readings in %.1fs", backlog, senderSecs)

	// Telegraf: the same backlog, from the same topic, into the same InfluxDB.
	peer, err := telegrafAlone(ctx, c, p, backlog, say)
	if err != nil {
		return nil, err
	}

	nan := math.NaN()
	return []row{
		ingest,
		{name: "relay alone (MongoDB -> Kafka)", offered: nan, stored: backlog / relaySecs, p50: nan, p99: nan, note: fmt.Sprintf("backlog of %.0f; batch latency p99 %s", backlog, secs(ha.minus(hb).quantile(0.99)))},
		{name: senderRow, offered: nan, stored: backlog / senderSecs, p50: nan, p99: nan, cpuPerReading: senderCPU,
			note: fmt.Sprintf("backlog of %.0f; %s, InfluxDB %s", backlog, cpuPer(senderCPU*backlog, backlog), cpuPer(senderInflux, backlog))},
		peer,
	}, nil
}

// waitFor polls a counter on an admin endpoint until it reaches want (3 min at most).
func waitFor(ctx context.Context, admin, metric string, want float64) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		fams, err := scrape(ctx, admin)
		if err == nil && value(fams, metric) >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			got := math.NaN()
			if fams != nil {
				got = value(fams, metric)
			}
			return fmt.Errorf("%s reached %.0f of %.0f: %w", metric, got, want, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func secs(s float64) string {
	switch {
	case math.IsNaN(s):
		return "-"
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1000)
	default:
		return fmt.Sprintf("%.2f s", s)
	}
}

func rate(r float64) string {
	if math.IsNaN(r) {
		return "max"
	}
	return fmt.Sprintf("%.0f", r)
}

func printTable(out io.Writer, rows []row) {
	host, _ := os.Hostname()
	fmt.Fprintf(out, "\nmachine: %s, %d cores (%s/%s), %s; every server, the functions and the load generator share these cores\n\n",
		host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, time.Now().Format("2006-01-02"))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "| run\t| offered readings/s\t| stored readings/s\t| p50 origin->stored\t| p99 origin->stored\t| note\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|---\t|---\t|")
	for _, r := range rows {
		fmt.Fprintf(tw, "| %s\t| %s\t| %.0f\t| %s\t| %s\t| %s\t|\n", r.name, rate(r.offered), r.stored, secs(r.p50), secs(r.p99), r.note)
	}
	_ = tw.Flush()
}
