package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/procfs"

	"github.com/smartx-team/overcloud/functions/sender/wiring"
	"github.com/smartx-team/overcloud/functions/testbed/fleet"
	"github.com/smartx-team/overcloud/functions/testbed/localrun"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
)

// Peers: what a user would otherwise run for a stage, measured in the same run under
// the same load, so each comparison is a ratio of two figures from one machine.
const (
	hubIngestRow      = "hub ingest alone (into MongoDB)"
	hubIngestPlainRow = "hub ingest alone, no seq tags (into MongoDB)"
	coreDataRow       = "EdgeX 4.0.2 core-data alone, no seq tags (into PostgreSQL)"
	senderRow         = "sender alone (Kafka -> InfluxDB)"
	telegrafRow       = "Telegraf 1.34 alone (Kafka -> InfluxDB)"
	// senderAim is how many times Telegraf's readings/s the sender aims at, with no
	// more CPU per reading.
	senderAim = 1.5
	// telegrafDatabase is Telegraf's own database on the path's InfluxDB.
	telegrafDatabase = "telegraf"
	// stageReadingsPerEvent is the readings of each event the stage runs post (the
	// climate's temperature and humidity).
	stageReadingsPerEvent = 2
	// hubIngestAim is how many times core-data's events/s the hub's ingest aims at.
	hubIngestAim = 5.0
)

// senderDefaults are the sender's settings as the path runs it (it sets none of these).
var senderDefaults = wiring.Defaults()

// process names a process whose CPU a row reports beside the one measured.
type process struct {
	name string
	pid  int
}

// backToBack runs f's devices posting back to back for the configured duration and
// returns the row of the process that answered them (pid), with the CPU per reading
// of its database (db, with its child processes) and of this process, the load
// generator, so that the row shows where the machine's time went. With -profile, it
// also records a CPU profile from the hub's admin address (empty: not a hub).
func backToBack(ctx context.Context, c config, f *fleet.Fleet, pid int, db process, admin, name string, say func(string, ...any)) row {
	cpuBefore := cpuSeconds(pid)
	dbBefore, genBefore := treeCPUSeconds(db.pid), cpuSeconds(os.Getpid())
	runCtx, stop := context.WithTimeout(ctx, c.duration)
	start := time.Now()
	profiled := make(chan error, 1)
	profiling := c.profileDir != "" && admin != ""
	file := filepath.Join(c.profileDir, profileName(name))
	if profiling {
		go func() { profiled <- profileCPU(runCtx, admin, c.duration, file) }()
	}
	_ = f.Run(runCtx)
	stop()
	if profiling {
		if err := <-profiled; err != nil {
			say("  no CPU profile of %s: %v", name, err)
		} else {
			say("  CPU profile of %s: go tool pprof %s", name, file)
		}
	}
	secs := time.Since(start).Seconds()
	cpu := cpuSeconds(pid) - cpuBefore
	dbCPU, genCPU := treeCPUSeconds(db.pid)-dbBefore, cpuSeconds(os.Getpid())-genBefore
	readings := float64(f.Stats().AckedReadings)
	perReading := math.NaN()
	if readings > 0 {
		perReading = cpu / readings
	}
	nan := math.NaN()
	return row{
		name: name, offered: nan, stored: readings / secs, p50: nan, p99: nan, cpuPerReading: perReading,
		note: fmt.Sprintf("%d devices back to back, %s; %s, %s %s, load generator %s", c.burst, eventsPerSecond(readings, secs),
			cpuPer(cpu, readings), db.name, cpuPer(dbCPU, readings), cpuPer(genCPU, readings)),
	}
}

// hubIngestPlain is the hub-ingest row for events without our seq tag, as plain EdgeX
// clients send them: the load core-data's row gets.
func hubIngestPlain(ctx context.Context, c config, say func(string, ...any)) (row, error) {
	p, f, cleanup, err := startIngestOnly(ctx, c, true)
	if err != nil {
		return row{}, err
	}
	defer cleanup()
	r := backToBack(ctx, c, f, p.Hub.PID(), process{"FerretDB", p.Mongo.PID()}, p.HubAdmin, hubIngestPlainRow, say)
	say("  hub ingest, no seq tags: %s", r.note)
	return r, nil
}

// coreDataIngest is the peer of the hub-ingest rows: EdgeX core-data on PostgreSQL,
// with EdgeX's own configuration, under the same load generator with the same number
// of devices posting back to back for the same time. Core-data answers an event once
// PostgreSQL has stored it, as the hub answers once MongoDB has. Its events carry no
// seq tag, as plain EdgeX clients send them: core-data keeps a row per distinct set of
// event tags, so a seq tag would cost it a new row per event. Without EdgeX built
// (make tools), the row says so instead of a figure.
func coreDataIngest(ctx context.Context, c config, say func(string, ...any)) (row, error) {
	nan := math.NaN()
	dir, removeDir, err := runDir(c)
	if err != nil {
		return row{}, err
	}
	defer removeDir()
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	e, err := localrun.StartEdgeX(startCtx, dir)
	if errors.Is(err, servers.ErrNotInstalled) {
		say("  EdgeX is not installed, no core-data row: %v", err)
		return row{name: coreDataRow, offered: nan, stored: nan, p50: nan, p99: nan, note: "not measured: EdgeX 4.0.2 is not built here (make tools)"}, nil
	}
	if err != nil {
		return row{}, err
	}
	defer e.Close()
	fo := fleet.Options{
		HubURL: e.DataURL, MetadataURL: e.MetadataURL, Devices: c.burst, Interval: time.Millisecond, Prefix: "bench-", NoSeq: true, ConnPerDevice: true,
		ForgetAcked: true,
	}
	f, err := fleet.New(fo)
	if err != nil {
		return row{}, fmt.Errorf("core-data: %w", err)
	}
	defer f.Close()
	if err = f.Register(startCtx); err == nil {
		err = firstEventsOneByOne(startCtx, fo)
	}
	if err != nil {
		return row{}, fmt.Errorf("core-data: %w", err)
	}
	r := backToBack(ctx, c, f, e.Data.PID(), process{"PostgreSQL", e.Postgres.PID()}, "", coreDataRow, say)
	// What core-data acknowledged must be in PostgreSQL: count it there through
	// core-data's own API, so the figure is of stored events.
	stored, err := eventCount(ctx, e)
	if err != nil {
		return row{}, fmt.Errorf("core-data: %w (its log: %s)", err, e.LogPath())
	}
	if acked := f.Stats().AckedReadings / stageReadingsPerEvent; stored < acked {
		return row{}, fmt.Errorf("core-data acknowledged %d events but holds %d", acked, stored)
	}
	say("  core-data: %s", r.note)
	return r, nil
}

// firstEventsOneByOne has each device of fo post events over a single connection for a
// few seconds, so that core-data posts one at a time, until every device has had an
// event stored. Core-data 4.0.2 looks up a device's first readings on a second
// database connection while the transaction of their event holds one; with more new
// devices posting at once than its pool has connections (4), every transaction waits
// for a connection none will give back, and core-data stores nothing more.
func firstEventsOneByOne(ctx context.Context, fo fleet.Options) error {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxConnsPerHost = 1
	fo.Client = &http.Client{Transport: tr, Timeout: time.Minute}
	fo.Interval = time.Second // every device posts within the first second
	fo.ForgetAcked = false    // this check reads what was acknowledged
	f, err := fleet.New(fo)
	if err != nil {
		return err
	}
	defer f.Close()
	runCtx, stop := context.WithTimeout(ctx, 3*fo.Interval)
	_ = f.Run(runCtx)
	stop()
	stored := map[string]bool{}
	for _, s := range f.Acked() {
		stored[s.Device] = true
	}
	if len(stored) < fo.Devices {
		return fmt.Errorf("the devices' first events: %d of %d devices had one stored", len(stored), fo.Devices)
	}
	return nil
}

// telegrafAlone is the peer of the sender-alone row: Telegraf with its own consumer
// group and its own database, on the same topic (the backlog the sender has just
// stored) and the same InfluxDB, with the sender's batch size and wait. Its figure
// counts what Telegraf's log says it wrote, as the sender's counts what it wrote;
// then InfluxDB must hold all of it, in points of the sender's shape.
func telegrafAlone(ctx context.Context, c config, p *localrun.Path, backlog float64, say func(string, ...any)) (row, error) {
	nan := math.NaN()
	dir, removeDir, err := runDir(c)
	if err != nil {
		return row{}, err
	}
	defer removeDir()
	if err := p.Influx.CreateDatabase(ctx, telegrafDatabase); err != nil {
		return row{}, err
	}
	log, err := os.Create(filepath.Join(dir, "telegraf.log"))
	if err != nil {
		return row{}, err
	}
	defer log.Close()
	tg, err := servers.NewTelegraf(dir, servers.TelegrafOptions{
		Brokers: []string{p.Kafka.Addr}, Topic: localrun.Topic, ConsumerGroup: "bench-telegraf",
		InfluxURL: p.Influx.URL, Token: p.Influx.Token, Org: p.Influx.Org, Bucket: telegrafDatabase + "/autogen",
		// The sender's own batch settings: the path runs it with its defaults.
		MetricBatchSize: senderDefaults.BatchSize, FlushInterval: senderDefaults.BatchWait, Debug: true,
	}, log)
	if errors.Is(err, servers.ErrNotInstalled) {
		say("  Telegraf is not installed, no Telegraf row: %v", err)
		return row{name: telegrafRow, offered: nan, stored: nan, p50: nan, p99: nan, note: "not measured: Telegraf is not built here (make tools)"}, nil
	}
	if err != nil {
		return row{}, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := tg.Start(startCtx); err != nil {
		return row{}, err
	}
	defer tg.Stop()
	start := time.Now()
	cpuBefore, influxBefore := cpuSeconds(tg.PID()), cpuSeconds(p.Influx.PID())
	waitCtx, cancelWait := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelWait()
	for float64(tg.Written()) < backlog {
		select {
		case <-waitCtx.Done():
			return row{}, fmt.Errorf("telegraf wrote %d of %.0f readings: %w (its log: %s)", tg.Written(), backlog, waitCtx.Err(), log.Name())
		case <-time.After(50 * time.Millisecond):
		}
	}
	secs := time.Since(start).Seconds()
	cpu := (cpuSeconds(tg.PID()) - cpuBefore) / backlog
	influx := cpuSeconds(p.Influx.PID()) - influxBefore
	say("  telegraf: %.0f readings in %.1fs", backlog, secs)
	if err := sameShape(ctx, p, telegrafDatabase+"/autogen", backlog); err != nil {
		return row{}, err
	}
	return row{
		name: telegrafRow, offered: nan, stored: backlog / secs, p50: nan, p99: nan, cpuPerReading: cpu,
		note: fmt.Sprintf("backlog of %.0f, own group and database; %s, InfluxDB %s", backlog, cpuPer(cpu*backlog, backlog), cpuPer(influx, backlog)),
	}, nil
}

// sameShape checks that Telegraf's bucket holds all the readings, and one device's
// records exactly as the sender stored them (measurement, tags, field, value, time),
// so the two rows compare the same work.
func sameShape(ctx context.Context, p *localrun.Path, bucket string, readings float64) error {
	n, err := p.CountValuesIn(ctx, bucket, "true")
	if err != nil {
		return fmt.Errorf("telegraf: count: %w", err)
	}
	if float64(n) < readings {
		return fmt.Errorf("telegraf wrote %.0f readings but InfluxDB holds %d", readings, n)
	}
	const device = "bench-0"
	ours, err := p.Influx.Records(ctx, p.Influx.Bucket, device)
	if err != nil {
		return err
	}
	theirs, err := p.Influx.Records(ctx, bucket, device)
	if err != nil {
		return err
	}
	if len(ours) == 0 || !slices.Equal(ours, theirs) {
		return fmt.Errorf("the sender and Telegraf stored %s differently: %d and %d records (first: %q and %q)",
			device, len(ours), len(theirs), first(ours), first(theirs))
	}
	return nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// compareSender adds the sender's ratio to Telegraf's row, once both were measured.
func compareSender(rows []row) {
	ours, peer := findRow(rows, senderRow), findRow(rows, telegrafRow)
	if ours == nil || peer == nil || !(peer.stored > 0) {
		return
	}
	peer.note += "; " + comparison("the sender", *ours, *peer, senderAim)
}

// compareIngest adds the hub's ratio to core-data's row, once both were measured
// under the same load.
func compareIngest(rows []row) {
	ours, peer := findRow(rows, hubIngestPlainRow), findRow(rows, coreDataRow)
	if ours == nil || peer == nil || !(peer.stored > 0) {
		return
	}
	peer.note += "; " + comparison("the hub's ingest", *ours, *peer, hubIngestAim)
}

// comparison says how many times the peer's readings/s ours made, in what share of its
// CPU per reading, and whether that meets aim (at least aim times, with no more CPU
// per reading; CPU is left out of the verdict when either side's is unknown).
func comparison(who string, ours, peer row, aim float64) string {
	ratio := ours.stored / peer.stored
	met := ratio >= aim
	cpu := "CPU not compared"
	if ours.cpuPerReading > 0 && peer.cpuPerReading > 0 {
		share := ours.cpuPerReading / peer.cpuPerReading
		cpu = fmt.Sprintf("in %.2fx its CPU per reading", share)
		met = met && share <= 1
	}
	verdict := "not met"
	if met {
		verdict = "met"
	}
	return fmt.Sprintf("%s is %.1fx this, %s (aim %gx with no more CPU: %s)", who, ratio, cpu, aim, verdict)
}

func findRow(rows []row, name string) *row {
	for i := range rows {
		if rows[i].name == name {
			return &rows[i]
		}
	}
	return nil
}

// eventCount asks core-data how many events it holds, asking again for up to a
// minute while the answer is not a count (see servers.EdgeX.EventCount).
func eventCount(ctx context.Context, e *localrun.EdgeX) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		n, err := e.EventCount(ctx)
		if err == nil {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// cpuSeconds is a process's CPU time so far (user and system); NaN if it cannot be
// read, so a figure made from it shows as unknown rather than wrong.
func cpuSeconds(pid int) float64 {
	return fromStat(pid, procfs.ProcStat.CPUTime)
}

// treeCPUSeconds is the CPU time so far of a process and all its descendants, with
// their children that have exited (a PostgreSQL server is a process per
// connection); NaN if pid cannot be read.
func treeCPUSeconds(pid int) float64 {
	procs, err := procfs.AllProcs()
	if err != nil {
		return math.NaN()
	}
	stats := make(map[int]procfs.ProcStat, len(procs))
	children := map[int][]int{}
	for _, p := range procs {
		if st, err := p.Stat(); err == nil {
			stats[p.PID] = st
			children[st.PPID] = append(children[st.PPID], p.PID)
		}
	}
	if _, ok := stats[pid]; !ok {
		return math.NaN()
	}
	var sum float64
	for todo := []int{pid}; len(todo) > 0; {
		p := todo[len(todo)-1]
		todo = append(todo[:len(todo)-1], children[p]...)
		st := stats[p]
		sum += st.CPUTime() + float64(st.CUTime+st.CSTime)/userHZ
	}
	return sum
}

// userHZ is the clock tick of /proc's CPU times, 100 on every Linux we run on.
const userHZ = 100

// fromStat reads one figure of a process's /proc stat; NaN if it cannot be read.
func fromStat(pid int, figure func(procfs.ProcStat) float64) float64 {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return math.NaN()
	}
	st, err := p.Stat()
	if err != nil {
		return math.NaN()
	}
	return figure(st)
}

// cpuPer says the CPU a process spent per 1,000 readings.
func cpuPer(cpu, readings float64) string {
	if math.IsNaN(cpu) || readings == 0 {
		return "CPU unknown"
	}
	return fmt.Sprintf("%.0f CPU ms per 1,000 readings", 1000*cpu/readings*1000)
}

// eventsPerSecond says the events/s of a stage run's two-reading events.
func eventsPerSecond(readings, secs float64) string {
	return fmt.Sprintf("%.0f events/s", readings/stageReadingsPerEvent/secs)
}

// profileName is a row's CPU profile file: its name up to the first bracket, with
// words joined by dashes ("hub ingest alone, no seq tags (into MongoDB)" is
// hub-ingest-alone-no-seq-tags.pprof).
func profileName(row string) string {
	if i := strings.IndexByte(row, '('); i >= 0 {
		row = row[:i]
	}
	words := strings.FieldsFunc(row, func(r rune) bool { return r == ' ' || r == ',' })
	return strings.Join(words, "-") + ".pprof"
}

// profileWindow, with -profile, records CPU profiles of the hub and of this process
// (the load generator) over a whole-path row's window, which starts now, and returns
// a function that waits for both and says where they are; without, it does nothing.
func profileWindow(ctx context.Context, c config, admin, row string, window time.Duration, say func(string, ...any)) (wait func()) {
	if c.profileDir == "" {
		return func() {}
	}
	hubFile := filepath.Join(c.profileDir, "hub-"+profileName(row))
	genFile := filepath.Join(c.profileDir, "load-generator-"+profileName(row))
	hub := make(chan error, 1)
	go func() { hub <- profileCPU(ctx, admin, window, hubFile) }()
	gen, genErr := os.Create(genFile)
	if genErr == nil {
		if genErr = pprof.StartCPUProfile(gen); genErr != nil {
			_ = gen.Close()
		}
	}
	return func() {
		if genErr == nil {
			pprof.StopCPUProfile()
			genErr = gen.Close()
		}
		hubErr := <-hub
		for _, p := range []struct {
			file string
			err  error
		}{{hubFile, hubErr}, {genFile, genErr}} {
			if p.err != nil {
				say("  no CPU profile %s: %v", p.file, p.err)
			} else {
				say("  CPU profile of %s: go tool pprof %s", row, p.file)
			}
		}
	}
}

// profileCPU records a CPU profile of the hub at admin (its admin URL) over the
// middle of a window of length d, leaving out its first and last sixth (the fleet
// ramps up and stops there), and writes it to file.
func profileCPU(ctx context.Context, admin string, d time.Duration, file string) error {
	settle := d / 6
	secs := int((d - 2*settle).Seconds())
	if secs < 1 {
		return fmt.Errorf("the window of %s is too short for a profile", d)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(settle):
	}
	// The request outlives the window by a little: the hub answers when its profile ends.
	reqCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", admin, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the hub answered HTTP %d (is HUB_PPROF on?)", resp.StatusCode)
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
