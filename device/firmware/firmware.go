// Package firmware wires the Pi firmware's parts together and runs them: a sampler
// that reads the room and the Pi every interval and commits the readings to the
// durable queue, a sender that drains the queue to the EdgeX hub in order, and the
// EdgeX command endpoint that applies air-conditioner set-points.
//
// The sampler never waits for the network and the sender never loses a reading:
// readings leave the queue only after the hub acknowledged them, so a hub outage or
// a power cut only delays them.
package firmware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/smartx-team/overcloud/device/actuator"
	"github.com/smartx-team/overcloud/device/config"
	"github.com/smartx-team/overcloud/device/edgex"
	"github.com/smartx-team/overcloud/device/queue"
	"github.com/smartx-team/overcloud/device/sensor"
	"github.com/smartx-team/overcloud/device/sim"
	"github.com/smartx-team/overcloud/device/sysstat"
)

// stateSetpoint is the queue file's key of the last set-point applied.
const stateSetpoint = "setpoint"

// sendBatch is how many queued events the sender reads per look at the queue.
const sendBatch = 16

// Firmware is one running device. New opens its resources; Run uses and closes them.
type Firmware struct {
	cfg    config.Config
	log    *slog.Logger
	sensor *sensor.Checked
	act    actuator.Actuator
	q      *queue.Queue
	client *edgex.Client
	sys    *sysstat.Sampler
	cmd    *edgex.CommandServer
	ln     net.Listener // command endpoint, nil if off or once Run serves it
	addr   string       // the command endpoint's address
	tr     *http.Transport
	room   *sim.Room // the simulated room, if any (for tests and the log)

	wake    chan struct{} // the sampler tells the sender there is something new
	applyMu sync.Mutex    // one set-point change at a time

	mu       sync.Mutex
	setpoint float64
	latest   map[string]float64

	stats counters

	// pause waits d or until ctx ends and says whether d passed. It is a field so
	// that tests see the sender's waits without spending them.
	pause func(ctx context.Context, d time.Duration) bool
}

// New builds the firmware from a validated configuration: it opens the queue, sets
// up the sensor and the actuator and listens on the command port, so that a problem
// with any of them fails at start. If Run is never called, Close releases them.
func New(cfg config.Config, log *slog.Logger) (_ *Firmware, err error) {
	f := &Firmware{cfg: cfg, log: log, wake: make(chan struct{}, 1), pause: pause}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	if f.q, err = queue.Open(cfg.QueuePath, queue.Options{Max: cfg.QueueMax, Device: cfg.Device, Location: cfg.Location}); err != nil {
		return nil, err
	}
	sp, ok, err := f.q.Float(stateSetpoint)
	if err != nil {
		return nil, fmt.Errorf("read the last set-point: %w", err)
	}
	if !ok || sp < cfg.SetpointMin || sp > cfg.SetpointMax {
		sp = cfg.SetpointInitial
	}
	f.setpoint = sp

	raw, gap, err := f.newSensor(cfg)
	if err != nil {
		return nil, err
	}
	f.sensor = sensor.NewChecked(raw, &sensor.CheckOptions{
		Attempts: cfg.ReadAttempts, RetryGap: gap,
		JumpTemp: cfg.JumpTemp, JumpHumidity: cfg.JumpHumidity, StuckReads: cfg.StuckReads,
		OnReject: f.stats.reject,
	})
	if f.act, err = f.newActuator(cfg); err != nil {
		return nil, err
	}
	f.sys = sysstat.New("/proc", cfg.DiskPath)

	f.tr = http.DefaultTransport.(*http.Transport).Clone()
	f.tr.MaxIdleConns, f.tr.MaxIdleConnsPerHost = 2, 2
	if f.client, err = edgex.NewClient(edgex.Options{
		EventURL: cfg.EventURL(), MetadataURL: cfg.RegistryURL(), Token: cfg.Token,
		Service: cfg.Service(), Profile: cfg.ProfileName, Device: cfg.Device, Location: cfg.Location,
		ServiceURL: cfg.AdvertisedCommandURL(), SetpointMin: cfg.SetpointMin, SetpointMax: cfg.SetpointMax,
		HTTP: &http.Client{Transport: f.tr, Timeout: cfg.HTTPTimeout},
	}); err != nil {
		return nil, err
	}
	if cfg.CommandListen != "" {
		if f.cmd, err = edgex.NewCommandServer(edgex.CommandOptions{
			Device: cfg.Device, Profile: cfg.ProfileName, Service: cfg.Service(), Token: cfg.CommandToken,
			SetpointMin: cfg.SetpointMin, SetpointMax: cfg.SetpointMax,
			Setpoint: f.Setpoint, Apply: f.ApplySetpoint, Room: f.Latest,
			Logger: log.With("part", "command"),
		}); err != nil {
			return nil, err
		}
		if f.ln, err = net.Listen("tcp", cfg.CommandListen); err != nil {
			return nil, fmt.Errorf("command-listen %s: %w", cfg.CommandListen, err)
		}
		f.addr = f.ln.Addr().String()
	}
	return f, nil
}

func (f *Firmware) newSensor(cfg config.Config) (sensor.Sensor, time.Duration, error) {
	switch cfg.Sensor {
	case config.SensorSim:
		return f.simRoom(cfg), min(2*time.Second, cfg.Interval/time.Duration(2*cfg.ReadAttempts)), nil
	case config.SensorIIO:
		dir := cfg.IIODevice
		if dir == "" {
			var err error
			if dir, err = sensor.FindIIO("/sys"); err != nil {
				return nil, 0, fmt.Errorf("sensor: %w", err)
			}
		}
		s, err := sensor.NewIIO(dir)
		return s, 2 * time.Second, err
	default:
		s, err := sensor.NewDHT22(cfg.DHTPin)
		return s, 2 * time.Second, err
	}
}

func (f *Firmware) newActuator(cfg config.Config) (actuator.Actuator, error) {
	switch cfg.Actuator {
	case config.ActuatorSim:
		return f.simRoom(cfg), nil
	case config.ActuatorNone:
		return actuator.None{}, nil
	default:
		return actuator.NewLIRC(actuator.LIRCOptions{Socket: cfg.LIRCSocket, Remote: cfg.LIRCRemote, Code: cfg.LIRCCode})
	}
}

// simRoom is the one simulated room that the simulated sensor measures and the
// simulated air conditioner cools.
func (f *Firmware) simRoom(cfg config.Config) *sim.Room {
	if f.room == nil {
		f.room = sim.New(sim.Options{SetPoint: f.setpoint, Speed: cfg.SimSpeed})
	}
	return f.room
}

// Close releases what New opened; Run calls it when it returns.
func (f *Firmware) Close() {
	if f.tr != nil {
		f.tr.CloseIdleConnections()
	}
	if f.ln != nil {
		_ = f.ln.Close()
	}
	if f.q != nil {
		if err := f.q.Close(); err != nil {
			f.log.Error("close queue", "err", err)
		}
	}
}

// CommandAddr is the command endpoint's address, "" if it is off.
func (f *Firmware) CommandAddr() string { return f.addr }

// Run samples, sends and serves commands until ctx ends, then stops all three and
// closes the queue. An in-flight post is allowed to finish (within http-timeout), so
// that a stop does not cause a needless duplicate.
func (f *Firmware) Run(ctx context.Context) error {
	defer f.Close()
	st, err := f.q.Stats()
	if err != nil {
		return err
	}
	f.log.Info("firmware started", "sensor", f.cfg.Sensor, "actuator", f.cfg.Actuator, "interval", f.cfg.Interval.String(),
		"hub", f.cfg.EventURL(), "command", f.CommandAddr(), "setpoint", f.Setpoint(),
		"backlog_readings", st.Readings, "last_seq", st.LastSeq, "dropped_ever", st.Dropped)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return f.sampleLoop(ctx) })
	g.Go(func() error { return f.sendLoop(ctx) })
	if f.cmd != nil {
		ln := f.ln
		f.ln = nil // Serve owns and closes it now
		g.Go(func() error { return f.cmd.Serve(ctx, ln) })
	}
	g.Go(func() error { return f.statusLoop(ctx) })
	err = g.Wait()
	f.logStatus("firmware stopped")
	return err
}

// Setpoint is the set-point in force.
func (f *Firmware) Setpoint() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.setpoint
}

// Latest returns the readings of the last sample by resource, nil before the first.
func (f *Firmware) Latest() map[string]float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.latest == nil {
		return nil
	}
	m := make(map[string]float64, len(f.latest))
	for k, v := range f.latest {
		m[k] = v
	}
	return m
}

// ApplySetpoint applies a set-point command: rounded to whole degrees and checked
// against the bounds, sent to the air conditioner, remembered across restarts, and,
// when it differs from the set-point in force, counted, logged and queued as a
// setpoint reading.
func (f *Firmware) ApplySetpoint(ctx context.Context, c float64) (float64, error) {
	c = actuator.Round(c)
	if err := (actuator.Bounds{Min: f.cfg.SetpointMin, Max: f.cfg.SetpointMax}).Check(c); err != nil {
		return 0, err
	}
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	if err := f.act.SetPoint(ctx, c); err != nil {
		f.stats.add(&f.stats.setpointFailures, 1)
		f.log.Error("set-point not applied", "setpoint", c, "err", err)
		return 0, fmt.Errorf("apply set-point %v: %w", c, err)
	}
	if err := f.q.SetFloat(stateSetpoint, c); err != nil {
		f.log.Error("set-point applied but not saved", "setpoint", c, "err", err)
	}
	f.mu.Lock()
	old := f.setpoint
	f.setpoint = c
	f.mu.Unlock()
	// The air conditioner got the command again (a remote control may have changed it
	// meanwhile), but a command that rounds to the set-point in force is no change.
	if c == old {
		f.log.Info("set-point unchanged", "setpoint", c)
		return c, nil
	}
	f.stats.add(&f.stats.setpointChanges, 1)
	f.log.Info("set-point changed", "from", old, "to", c)
	if _, err := f.enqueue(edgex.SourceSetpoint, time.Now(), []queue.Item{{Resource: edgex.ResSetpoint, Value: c, Unit: edgex.Units[edgex.ResSetpoint]}}); err != nil {
		f.log.Error("set-point change not queued", "err", err)
	}
	return c, nil
}

func (f *Firmware) enqueue(source string, origin time.Time, items []queue.Item) (queue.Record, error) {
	rec, dropped, err := f.q.Append(source, origin, items)
	if err != nil {
		f.stats.add(&f.stats.queueErrors, 1)
		return rec, err
	}
	f.stats.add(&f.stats.queued, int64(len(items)))
	if dropped > 0 {
		f.stats.add(&f.stats.dropped, int64(dropped))
		f.log.Warn("queue full: oldest readings dropped", "dropped", dropped, "queue_max", f.cfg.QueueMax)
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return rec, nil
}

func (f *Firmware) sampleLoop(ctx context.Context) error {
	t := time.NewTicker(f.cfg.Interval)
	defer t.Stop()
	for {
		f.sample(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// sample takes one event's readings and queues them. A sensor that fails every
// attempt costs the climate readings of this interval only.
func (f *Firmware) sample(ctx context.Context) {
	f.stats.add(&f.stats.samples, 1)
	var items []queue.Item
	add := func(res string, v float64) {
		items = append(items, queue.Item{Resource: res, Value: round1(v), Unit: edgex.Units[res]})
	}
	s, err := f.sensor.Read(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		f.stats.add(&f.stats.sensorFailures, 1)
		f.log.Warn("no valid sensor read this interval", "err", err)
	} else {
		add(edgex.ResTemperature, s.Temperature)
		add(edgex.ResHumidity, s.Humidity)
	}
	add(edgex.ResSetpoint, f.Setpoint())
	if st, err := f.sys.Sample(); err != nil {
		f.log.Warn("system stats", "err", err)
	} else {
		add(edgex.ResCPU, st.CPU)
		add(edgex.ResMem, st.Mem)
		add(edgex.ResDisk, st.Disk)
	}
	latest := make(map[string]float64, len(items))
	for _, it := range items {
		latest[it.Resource] = it.Value
	}
	f.mu.Lock()
	f.latest = latest
	f.mu.Unlock()
	if _, err := f.enqueue(edgex.SourceRoom, time.Now(), items); err != nil {
		f.log.Error("readings not queued", "err", err)
	}
}

// sendLoop drains the queue to the hub, oldest first. After a failure it waits as
// edgex.Backoff says: retry-min, doubling up to retry-max, with jitter, and at least
// the Retry-After of a hub that sheds load (capped by edgex.MaxRetryAfter).
func (f *Firmware) sendLoop(ctx context.Context) error {
	registered := false
	backoff := edgex.Backoff{Min: f.cfg.RetryMin, Max: f.cfg.RetryMax}
	failing, shedding := false, false
	for {
		err := f.deliver(ctx, &registered)
		if ctx.Err() != nil {
			return nil
		}
		wait := time.Duration(0)
		if err != nil {
			f.stats.add(&f.stats.sendFailures, 1)
			ra := edgex.RetryAfter(err)
			wait = backoff.Failed(ra)
			switch {
			case ra > 0 && !shedding:
				f.log.Warn("hub is shedding load; retrying after the delay it asked for", "err", err, "retry_after", ra.String(), "retry_in", wait.Round(time.Millisecond).String())
			case !failing:
				f.log.Warn("hub unreachable or refusing; readings stay queued", "err", err, "retry_in", wait.Round(time.Millisecond).String())
			default:
				f.log.Debug("delivery failed again", "err", err, "retry_in", wait.Round(time.Millisecond).String())
			}
			failing, shedding = true, shedding || ra > 0
		} else {
			if failing {
				f.log.Info("hub reachable again; backlog delivered")
			}
			failing, shedding = false, false
			backoff.Delivered()
		}
		if wait > 0 {
			if !f.pause(ctx, wait) {
				return nil
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-f.wake:
		}
	}
}

func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// deliver registers if needed, then posts queued events until the queue is empty or
// a post fails.
func (f *Firmware) deliver(ctx context.Context, registered *bool) error {
	if !*registered {
		if err := f.client.Register(ctx); err != nil {
			return fmt.Errorf("register: %w", err)
		}
		*registered = true
		f.log.Info("registered with EdgeX", "profile", f.cfg.ProfileName, "service", f.cfg.Service(), "device", f.cfg.Device)
	}
	for ctx.Err() == nil {
		recs, err := f.q.Peek(sendBatch)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		for _, rec := range recs {
			if ctx.Err() != nil {
				return nil
			}
			// A stop lets the post in flight finish, bounded by the HTTP timeout.
			err := f.client.Send(context.WithoutCancel(ctx), edgex.Event{ID: rec.ID, Source: rec.Source, Origin: rec.Origin, Readings: rec.Readings})
			switch {
			case err == nil:
				if err := f.q.Remove(rec.Key); err != nil {
					return err
				}
				f.stats.add(&f.stats.delivered, int64(len(rec.Readings)))
			case errors.Is(err, edgex.ErrNotRegistered):
				*registered = false
				return err
			case errors.Is(err, edgex.ErrRejected):
				// Retrying can never succeed and would block every later reading.
				f.stats.add(&f.stats.rejectedByHub, int64(len(rec.Readings)))
				f.log.Error("hub rejected an event for good; dropped", "event", rec.ID, "first_seq", rec.Key, "readings", len(rec.Readings), "err", err)
				if err := f.q.Remove(rec.Key); err != nil {
					return err
				}
			default:
				return err
			}
		}
	}
	return nil
}
