// Package loop is the controller's closed loop: every interval, for each air
// conditioner (one per sector, named by its Pi's EdgeX device), it reads the sector's
// window, asks the model about every candidate set-point in one batched request, lets
// package policy decide, stores the recommendation, applies a change through
// core-command and audits it. It also carries out operators' manual set-points and
// cancellations, so that one owner makes every change of a device, one at a time.
//
// The parts it uses are the small interfaces below; wiring gives it the real ones
// (influx, tfserving, coreclient, audit), tests may give others.
//
// # One tick
//
//  1. The model's signature is fetched once (GET metadata); a failure, or a model
//     older than the limits allow, is a fault for every sector this tick.
//  2. Each sector, concurrently with the others but one decision at a time per sector:
//     the latest readings (the time of the newest, the set-point the Pi reports); unless
//     the sensor is stale or the model faulty, the window and one predict request with
//     an instance per candidate (the window with the last row's set-point replaced by the
//     candidate); policy.Decide; then its effects: an override that ran out is cleared
//     and audited, the recommendation is written to InfluxDB, a change is applied and
//     audited (in a dry run only audited, once per distinct change).
//
// The set-point in force is what the Pi last reported, or what the controller applied
// after that report. The last safe set-point (where a fallback goes) is the last
// recommendation made from good model output; it is kept in memory only, so after a
// restart a fallback holds the set-point in force until the model has answered once.
package loop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartx-team/overcloud/functions/controller/audit"
	"github.com/smartx-team/overcloud/functions/controller/coreclient"
	"github.com/smartx-team/overcloud/functions/controller/influx"
	"github.com/smartx-team/overcloud/functions/controller/policy"
	"github.com/smartx-team/overcloud/functions/controller/tfserving"
	"github.com/smartx-team/overcloud/functions/model"
)

// WindowSource reads a sector's readings (influx.Client).
type WindowSource interface {
	// Latest returns what the device's newest readings say, looking back lookback from
	// now.
	Latest(ctx context.Context, device string, now time.Time, lookback time.Duration) (influx.Latest, error)
	// Window returns the device's window for spec ending at now: spec.Steps rows of
	// len(spec.Features) values, oldest first, and each row's time.
	Window(ctx context.Context, device string, spec influx.Spec, now time.Time) ([][]float64, []time.Time, error)
}

// Predictor is the model server (tfserving.Client).
type Predictor interface {
	// Metadata returns the model's signature; errors wrap tfserving's.
	Metadata(ctx context.Context) (tfserving.Signature, error)
	// Predict returns one row of len(sig.Outputs) numbers per instance.
	Predict(ctx context.Context, sig tfserving.Signature, instances [][][]float64) ([][]float64, error)
}

// Recorder stores recommendations (influx.Client).
type Recorder interface {
	WriteRecommendation(ctx context.Context, device, location string, setpoint float64, at time.Time) error
}

// Applier applies a set-point to a device's air conditioner (coreclient.Client).
type Applier interface {
	SetSetpoint(ctx context.Context, device string, celsius float64) error
}

// AuditLog keeps the audit trail and the overrides (audit.Store).
type AuditLog interface {
	Record(ctx context.Context, e audit.Entry) (audit.Entry, error)
	SaveOverride(ctx context.Context, device string, o policy.Override) error
	DeleteOverride(ctx context.Context, device string) error
	Overrides(ctx context.Context) (map[string]policy.Override, error)
}

var (
	_ WindowSource = (*influx.Client)(nil)
	_ Recorder     = (*influx.Client)(nil)
	_ Predictor    = (*tfserving.Client)(nil)
	_ Applier      = (*coreclient.Client)(nil)
	_ AuditLog     = (*audit.Store)(nil)
)

// Errors of the manual API; the HTTP API maps them to status codes. Bad set-points and
// durations wrap policy.ErrBounds and policy.ErrDuration, a cancel without override
// policy.ErrNoOverride.
var (
	// ErrUnknownDevice: the device is not one the controller drives.
	ErrUnknownDevice = errors.New("unknown device")
	// ErrApply: core-command did not take the set-point.
	ErrApply = errors.New("set-point not applied")
	// ErrNotReady: the overrides have not been restored from MongoDB yet.
	ErrNotReady = errors.New("controller not ready: overrides not restored yet")
)

// Options configure a Controller. Devices is required.
type Options struct {
	// Devices are the EdgeX device names of the Pis, one per sector and air
	// conditioner.
	Devices []string
	// Limits are the policy's (default policy.DefaultLimits()).
	Limits *policy.Limits
	// Interval is the time between ticks (default 1m); a tick never runs longer.
	Interval time.Duration
	// OverrideDefault is how long a manual set-point holds when no duration is given
	// (default 1h); OverrideMax the longest allowed (default 24h).
	OverrideDefault, OverrideMax time.Duration
	// DryRun: recommend, store and audit, but apply nothing.
	DryRun bool
	// Lookback is how far back the newest reading is looked for (default 24h).
	Lookback time.Duration
	// DefaultLocation tags recommendations of a device whose readings carry no
	// location (default "Gwangju", the sender's).
	DefaultLocation string
	// Parallel is how many sectors are decided at once (default 4).
	Parallel int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger (default: discard). Registerer takes the metrics (default: none).
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Controller runs the loop and the manual API. Its methods are safe for concurrent
// use; Run once.
type Controller struct {
	src   WindowSource
	pred  Predictor
	rec   Recorder
	app   Applier
	audit AuditLog
	o     Options
	l     policy.Limits
	log   *slog.Logger
	m     *metrics

	sectors map[string]*sector
	order   []string

	mu       sync.RWMutex // guards what follows, the published state
	restored bool
	model    *ModelState
	views    map[string]DeviceState
	lastTick time.Time
}

// sector is one device's state. lock (a one-slot channel, so that waiting for it can
// be cancelled) is held for a whole decision or manual operation, I/O included.
type sector struct {
	name string
	lock chan struct{}

	override    *policy.Override
	lastSafe    float64
	hasLastSafe bool
	lastChange  time.Time // last automated change applied
	applied     float64   // last set-point applied by the controller, at appliedAt
	appliedAt   time.Time
	hasApplied  bool
	lastReading time.Time
	location    string
	lastMode    policy.Mode
	dryRunLast  float64 // last change audited in a dry run (NaN: none)
	// margins scores the sector's forecasts for the learned margin (nil: off).
	margins *policy.MarginTracker
}

// New checks the options and builds the controller; it sends nothing. Each part is
// required.
func New(src WindowSource, pred Predictor, rec Recorder, app Applier, log AuditLog, o Options) (*Controller, error) {
	if src == nil || pred == nil || rec == nil || app == nil || log == nil {
		return nil, errors.New("loop: every part is required")
	}
	if len(o.Devices) == 0 {
		return nil, errors.New("loop: no devices")
	}
	l := policy.DefaultLimits()
	if o.Limits != nil {
		l = *o.Limits
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.OverrideDefault <= 0 {
		o.OverrideDefault = time.Hour
	}
	if o.OverrideMax <= 0 {
		o.OverrideMax = 24 * time.Hour
	}
	if o.OverrideDefault > o.OverrideMax {
		return nil, fmt.Errorf("loop: default override %v is longer than the longest %v", o.OverrideDefault, o.OverrideMax)
	}
	if o.Lookback <= 0 {
		o.Lookback = 24 * time.Hour
	}
	if o.Lookback < l.Stale {
		o.Lookback = l.Stale
	}
	if o.DefaultLocation == "" {
		o.DefaultLocation = "Gwangju"
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Controller{src: src, pred: pred, rec: rec, app: app, audit: log, o: o, l: l, log: o.Logger,
		sectors: map[string]*sector{}, views: map[string]DeviceState{}}
	for _, d := range o.Devices {
		if _, dup := c.sectors[d]; dup {
			return nil, fmt.Errorf("loop: device %q named twice", d)
		}
		s := &sector{name: d, lock: make(chan struct{}, 1), dryRunLast: math.NaN()}
		if l.MarginQuantile > 0 {
			s.margins = policy.NewMarginTracker(l.MarginSamples)
		}
		c.sectors[d] = s
		c.order = append(c.order, d)
		c.views[d] = DeviceState{Device: d, Mode: policy.ModeStale, Automation: "starting"}
	}
	m, err := newMetrics(o.Registerer, c)
	if err != nil {
		return nil, err
	}
	c.m = m
	return c, nil
}

func (s *sector) acquire(ctx context.Context) error {
	select {
	case s.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *sector) release() { <-s.lock }

// Restore reads the overrides stored in MongoDB, so that those in force before a
// restart hold again (one that ran out meanwhile is cleared by the next tick). Until
// it succeeded, ticks decide nothing and the manual API answers ErrNotReady.
func (c *Controller) Restore(ctx context.Context) error {
	stored, err := c.audit.Overrides(ctx)
	if err != nil {
		return err
	}
	for dev, o := range stored {
		s, ok := c.sectors[dev]
		if !ok {
			c.log.Warn("stored override of a device not configured, left alone", "device", dev)
			continue
		}
		if err := s.acquire(ctx); err != nil {
			return err
		}
		o := o
		s.override = &o
		s.release()
		c.log.Info("override restored", "device", dev, "setpoint", o.Setpoint, "user", o.User, "until", o.Until)
	}
	c.mu.Lock()
	c.restored = true
	for dev, o := range stored {
		if v, ok := c.views[dev]; ok {
			v.Override = overrideState(&o)
			c.views[dev] = v
		}
	}
	c.mu.Unlock()
	return nil
}

// Ready reports nil once the overrides are restored.
func (c *Controller) Ready() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.restored {
		return ErrNotReady
	}
	return nil
}

// Run restores the overrides (retrying every few seconds while MongoDB fails), then
// ticks at once and every Interval until ctx ends. It returns nil when ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	retry := min(c.o.Interval, 5*time.Second)
	for {
		err := c.Restore(ctx)
		if err == nil {
			break
		}
		c.log.Warn("cannot restore the overrides yet; automation waits", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
	}
	t := time.NewTicker(c.o.Interval)
	defer t.Stop()
	for {
		tctx, cancel := context.WithTimeout(ctx, c.o.Interval)
		c.Tick(tctx)
		cancel()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick decides once for every sector and returns when all are done (see the package
// doc). Before Restore succeeded it does nothing.
func (c *Controller) Tick(ctx context.Context) {
	if c.Ready() != nil {
		c.log.Warn("tick skipped: overrides not restored yet")
		return
	}
	start := time.Now()
	now := c.o.Now()
	sig, err := c.pred.Metadata(ctx)
	var fault policy.Fault
	if err != nil {
		fault = faultOf(err)
	} else {
		fault = c.l.CheckModel(sig.TrainedAt, now)
	}
	c.setModel(sig, err, fault, now)

	sem := make(chan struct{}, c.o.Parallel)
	var wg sync.WaitGroup
	for _, name := range c.order {
		s := c.sectors[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c.decide(ctx, s, now, sig, fault, err)
		}()
	}
	wg.Wait()
	c.mu.Lock()
	c.lastTick = now
	c.mu.Unlock()
	c.m.tickSeconds.Observe(time.Since(start).Seconds())
	c.m.lastTick.Set(float64(now.UnixMilli()) / 1000)
}

// faultOf names the fault of a model server's error.
func faultOf(err error) policy.Fault {
	switch {
	case errors.Is(err, tfserving.ErrNoModel):
		return policy.FaultNoModel
	case errors.Is(err, tfserving.ErrBadSignature):
		return policy.FaultBadSignature
	case errors.Is(err, tfserving.ErrRejected):
		return policy.FaultRejected
	case errors.Is(err, tfserving.ErrMalformed):
		return policy.FaultMalformed
	}
	return policy.FaultInferenceDown
}

// decide makes one sector's decision and carries it out.
func (c *Controller) decide(ctx context.Context, s *sector, now time.Time, sig tfserving.Signature, fault policy.Fault, modelErr error) {
	if err := s.acquire(ctx); err != nil {
		return
	}
	defer s.release()
	log := c.log.With("device", s.name)
	var errs []string
	if modelErr != nil {
		errs = append(errs, modelErr.Error())
	}
	in, windowEnd := c.observe(ctx, s, now, sig, fault, &errs)

	d := c.l.Decide(in)
	var entryErrs []string

	if d.OverrideExpired {
		o := s.override
		s.override = nil
		c.m.overrideEvents.WithLabelValues("expire").Inc()
		log.Info("override ran out", "setpoint", o.Setpoint, "user", o.User, "until", o.Until)
		if err := c.audit.DeleteOverride(ctx, s.name); err != nil {
			entryErrs = append(entryErrs, err.Error())
			c.m.storeErrors.WithLabelValues("mongo").Inc()
		}
		c.record(ctx, log, audit.Entry{Time: now, Device: s.name, Actor: audit.ActorController, Action: audit.ActionExpire,
			Reason: fmt.Sprintf("override of %s C by %s (%s) ran out at %s", deg(o.Setpoint), o.User, o.Reason, o.Until.UTC().Format(time.RFC3339))}, &entryErrs)
	}

	if d.HasRecommended {
		s.lastSafe, s.hasLastSafe = d.Recommended, true
		loc := s.location
		if loc == "" {
			loc = c.o.DefaultLocation
		}
		if err := c.rec.WriteRecommendation(ctx, s.name, loc, d.Recommended, now); err != nil {
			errs = append(errs, err.Error())
			c.m.storeErrors.WithLabelValues("influx").Inc()
			log.Warn("recommendation not stored", "err", err)
		}
		c.m.recommended.WithLabelValues(s.name).Set(d.Recommended)
	}

	current := in.Current
	if d.Change {
		current = c.change(ctx, log, s, now, in, d, sig, &errs)
	}
	if d.HasRecommended && in.HasCurrent && s.margins != nil && !windowEnd.IsZero() {
		// The forecast for the set-point in force after the decision.
		s.margins.ExpectFor(windowEnd, time.Duration(sig.Horizon)*sig.Step, sig.Step, current, in.Predictions)
	}
	c.report(log, s, in, d, current, errs, entryErrs)
}

// score gives the window's rows to the sector's margin tracker (which skips those it
// has seen).
func score(s *sector, sig tfserving.Signature, rows [][]float64, times []time.Time) {
	ti, sp := sig.Feature(model.FeatureTemperature), sig.Feature(model.FeatureSetpoint)
	if s.margins == nil || ti < 0 || sp < 0 {
		return
	}
	for i, row := range rows {
		if i < len(times) {
			s.margins.Observe(times[i], row[ti], row[sp])
		}
	}
}

// observe gathers what the policy decides on for the sector: its own state, its newest
// reading and set-point in force, and, while the model and the readings are sound, the
// model's predictions for every candidate. What fails is added to errs and shows in
// the input's fault. windowEnd is the time of the window's last row (zero: no window
// read).
func (c *Controller) observe(ctx context.Context, s *sector, now time.Time, sig tfserving.Signature, fault policy.Fault, errs *[]string) (in policy.Input, windowEnd time.Time) {
	in = policy.Input{
		Now: now, Interval: c.o.Interval, Override: s.override,
		LastSafe: s.lastSafe, HasLastSafe: s.hasLastSafe, LastChange: s.lastChange,
		Fault: fault, Margins: s.margins,
	}
	latest, err := c.src.Latest(ctx, s.name, now, c.o.Lookback)
	if err != nil {
		// Nothing is known of the set-point in force: the policy changes nothing, and
		// the sector turns stale once its last known reading is too old.
		*errs = append(*errs, err.Error())
		in.LastReading, in.Fault = s.lastReading, policy.FaultNoWindow
		c.m.storeErrors.WithLabelValues("influx").Inc()
	} else {
		s.lastReading, in.LastReading = latest.Reading, latest.Reading
		if latest.Location != "" {
			s.location = latest.Location
		}
		in.Current, in.HasCurrent = latest.Setpoint, latest.HasSetpoint
		if s.hasApplied && (!latest.HasSetpoint || s.appliedAt.After(latest.SetpointAt)) {
			in.Current, in.HasCurrent = s.applied, true
		}
	}

	fresh := !in.LastReading.IsZero() && now.Sub(in.LastReading) <= c.l.Stale
	if in.Fault == "" && fresh {
		preds, end, f, err := c.predict(ctx, s, sig, now)
		if err != nil {
			*errs = append(*errs, err.Error())
		}
		in.Predictions, in.Fault, windowEnd = preds, f, end
	}
	return in, windowEnd
}

// report shows a decision on in: in the metrics, in the log when the sector's mode
// changes, and in the published state. current is the set-point in force after it
// (known if in.HasCurrent); errs are the decision's failures, entryErrs those of
// ending an override, which the fallback warning leaves out.
func (c *Controller) report(log *slog.Logger, s *sector, in policy.Input, d policy.Decision, current float64, errs, entryErrs []string) {
	c.m.decisions.WithLabelValues(string(d.Outcome)).Inc()
	if d.Mode == policy.ModeFallback {
		c.m.fallbacks.WithLabelValues(string(d.Fault)).Inc()
	}
	if in.HasCurrent {
		c.m.setpoint.WithLabelValues(s.name).Set(current)
	}
	if d.Mode != s.lastMode {
		switch d.Mode {
		case policy.ModeStale:
			c.m.staleTotal.Inc()
			log.Warn("sensor stale: automation stopped for the sector", "last_reading", in.LastReading, "why", d.Why)
		case policy.ModeFallback:
			log.Warn("falling back", "fault", d.Fault, "why", d.Why, "errors", errs)
		default:
			log.Info("automation state", "mode", d.Mode, "why", d.Why)
		}
		s.lastMode = d.Mode
	}
	log.Debug("decision", "mode", d.Mode, "outcome", d.Outcome, "why", d.Why)

	v := DeviceState{
		Device: s.name, Location: s.location, Mode: d.Mode, StaleSensor: d.Stale,
		Override: overrideState(s.override), Fault: d.Fault,
		LastDecision: &DecisionState{Time: in.Now, Outcome: d.Outcome, Why: d.Why},
	}
	if in.HasCurrent {
		v.Current = ptr(current)
	}
	if !in.LastReading.IsZero() {
		v.LastReading = ptr(in.LastReading)
	}
	if d.HasRecommended {
		v.Recommended = ptr(d.Recommended)
		v.LastPrediction = predictionState(d.Prediction)
	}
	v.Margin = &MarginState{Celsius: d.Margin, Learned: d.MarginLearned}
	if s.margins != nil {
		v.Margin.Scored, v.Margin.Dropped = s.margins.Scored(), s.margins.Dropped()
	}
	c.m.margin.WithLabelValues(s.name, strconv.FormatBool(d.MarginLearned)).Set(d.Margin)
	c.m.margin.DeleteLabelValues(s.name, strconv.FormatBool(!d.MarginLearned))
	if d.Change {
		v.LastDecision.Target = ptr(d.Target)
	}
	v.Errors = append(errs, entryErrs...)
	c.publish(v)
}

// predict reads the sector's window, scores the forecasts it answers, and asks the
// model about every candidate; windowEnd is the time of the window's last row.
func (c *Controller) predict(ctx context.Context, s *sector, sig tfserving.Signature, now time.Time) (preds []policy.Prediction, windowEnd time.Time, _ policy.Fault, _ error) {
	spec := influx.Spec{Features: sig.Features, Steps: sig.Steps, Step: sig.Step}
	rows, times, err := c.src.Window(ctx, s.name, spec, now)
	if err != nil {
		if !errors.Is(err, influx.ErrShortWindow) {
			c.m.storeErrors.WithLabelValues("influx").Inc()
		}
		return nil, time.Time{}, policy.FaultNoWindow, err
	}
	score(s, sig, rows, times)
	if len(times) > 0 {
		windowEnd = times[len(times)-1]
	}
	sp := sig.Feature(model.FeatureSetpoint)
	cands := c.l.Candidates()
	instances := make([][][]float64, len(cands))
	for i, cand := range cands {
		inst := make([][]float64, len(rows))
		for r, row := range rows {
			inst[r] = slices.Clone(row)
		}
		inst[len(inst)-1][sp] = cand
		instances[i] = inst
	}
	out, err := c.pred.Predict(ctx, sig, instances)
	if err != nil {
		return nil, windowEnd, faultOf(err), err
	}
	ti, hi := sig.Output(model.OutputTemperature), sig.Output(model.OutputHumidity)
	preds = make([]policy.Prediction, len(out))
	for i, row := range out {
		preds[i] = policy.Prediction{Setpoint: cands[i], Temperature: row[ti]}
		if hi >= 0 {
			preds[i].Humidity, preds[i].HasHumidity = row[hi], true
		}
	}
	return preds, windowEnd, "", nil
}

// change applies (or, in a dry run, only audits) the decision's target and returns the
// set-point in force after it.
func (c *Controller) change(ctx context.Context, log *slog.Logger, s *sector, now time.Time, in policy.Input, d policy.Decision, sig tfserving.Signature, errs *[]string) float64 {
	action := audit.ActionAuto
	if d.Mode == policy.ModeFallback {
		action = audit.ActionFallback
	}
	e := audit.Entry{Time: now, Device: s.name, Actor: audit.ActorController, Action: action,
		New: ptr(d.Target), Reason: d.Why, DryRun: c.o.DryRun,
		Limits: &audit.Limits{TempLimit: c.l.TempLimit, Margin: d.Margin, RHMin: c.l.RHMin, RHMax: c.l.RHMax}}
	if in.HasCurrent {
		e.Old = ptr(in.Current)
	}
	if d.HasRecommended {
		e.Prediction = auditPrediction(d.Prediction)
		e.ModelVersion = sig.Version
	}
	if c.o.DryRun {
		if s.dryRunLast != d.Target {
			s.dryRunLast = d.Target
			log.Info("dry run: set-point not applied", "from", in.Current, "to", d.Target, "why", d.Why)
			c.record(ctx, log, e, errs)
		}
		return in.Current
	}
	if err := c.app.SetSetpoint(ctx, s.name, d.Target); err != nil {
		e.Error = err.Error()
		*errs = append(*errs, err.Error())
		c.m.applyErrors.WithLabelValues(s.name).Inc()
		log.Error("set-point not applied", "from", in.Current, "to", d.Target, "err", err)
		c.record(ctx, log, e, errs)
		return in.Current
	}
	e.Applied = true
	s.applied, s.appliedAt, s.hasApplied, s.lastChange = d.Target, now, true, now
	log.Info("set-point changed", "from", in.Current, "to", d.Target, "why", d.Why)
	c.record(ctx, log, e, errs)
	return d.Target
}

// record audits e; a failure is logged, counted and added to errs, and stops nothing.
func (c *Controller) record(ctx context.Context, log *slog.Logger, e audit.Entry, errs *[]string) {
	if _, err := c.audit.Record(ctx, e); err != nil {
		c.m.storeErrors.WithLabelValues("mongo").Inc()
		log.Error("audit entry not stored", "action", e.Action, "err", err)
		*errs = append(*errs, err.Error())
	}
}

// Manual is an operator's set-point.
type Manual struct {
	// Setpoint in whole degrees within the bounds.
	Setpoint float64
	// User is who (required); Reason why (optional).
	User, Reason string
	// Duration of the override (0: Options.OverrideDefault).
	Duration time.Duration
}

// SetManual applies an operator's set-point now and holds automation off the device
// until the override ends. It is audited whether or not core-command takes it; the
// override starts only if it did (or in a dry run). Storing the override or the entry
// may fail without undoing the set-point: that is logged, counted and shown in the
// state's errors. It waits for the device's decision in progress, if any.
func (c *Controller) SetManual(ctx context.Context, device string, m Manual) (DeviceState, error) {
	s, err := c.sector(device)
	if err != nil {
		return DeviceState{}, err
	}
	if m.User == "" {
		return DeviceState{}, errors.New("a manual set-point needs a user")
	}
	if err := c.l.CheckManual(m.Setpoint); err != nil {
		return DeviceState{}, err
	}
	if err := s.acquire(ctx); err != nil {
		return DeviceState{}, err
	}
	defer s.release()
	now := c.o.Now()
	until, err := policy.OverrideUntil(now, m.Duration, c.o.OverrideDefault, c.o.OverrideMax)
	if err != nil {
		return DeviceState{}, err
	}
	log := c.log.With("device", device)
	v := c.view(device)
	e := audit.Entry{Time: now, Device: device, Actor: audit.Manual(m.User), Action: audit.ActionManual,
		Old: v.Current, New: ptr(m.Setpoint), Reason: m.Reason, Until: &until, DryRun: c.o.DryRun}
	var errs []string
	if !c.o.DryRun {
		if err := c.app.SetSetpoint(ctx, device, m.Setpoint); err != nil {
			e.Error = err.Error()
			c.m.applyErrors.WithLabelValues(device).Inc()
			log.Error("manual set-point not applied", "setpoint", m.Setpoint, "user", m.User, "err", err)
			c.record(ctx, log, e, &errs)
			v.Errors = append([]string{err.Error()}, errs...)
			c.publish(v)
			return v, fmt.Errorf("%w: %w", ErrApply, err)
		}
		e.Applied = true
		s.applied, s.appliedAt, s.hasApplied = m.Setpoint, now, true
		v.Current = ptr(m.Setpoint)
	}
	o := policy.Override{Setpoint: m.Setpoint, User: m.User, Reason: m.Reason, Since: now, Until: until}
	s.override = &o
	c.m.overrideEvents.WithLabelValues("start").Inc()
	log.Info("manual set-point", "setpoint", m.Setpoint, "user", m.User, "reason", m.Reason, "until", until, "dry_run", c.o.DryRun)
	if err := c.audit.SaveOverride(ctx, device, o); err != nil {
		c.m.storeErrors.WithLabelValues("mongo").Inc()
		log.Error("override not stored: it will not survive a restart", "err", err)
		errs = append(errs, err.Error())
	}
	c.record(ctx, log, e, &errs)
	v.Mode, v.Override, v.Errors = policy.ModeOverride, overrideState(&o), errs
	v.LastDecision = &DecisionState{Time: now, Outcome: policy.OutcomeOverride,
		Why: fmt.Sprintf("manual set-point %s C by %s until %s", deg(m.Setpoint), m.User, until.UTC().Format(time.RFC3339)), Target: ptr(m.Setpoint)}
	c.publish(v)
	return c.view(device), nil
}

// CancelOverride ends the device's override now (audited); automation resumes at the
// next tick from the set-point in force. Without an override in force it returns an
// error wrapping policy.ErrNoOverride.
func (c *Controller) CancelOverride(ctx context.Context, device, user, reason string) (DeviceState, error) {
	s, err := c.sector(device)
	if err != nil {
		return DeviceState{}, err
	}
	if user == "" {
		return DeviceState{}, errors.New("a cancel needs a user")
	}
	if err := s.acquire(ctx); err != nil {
		return DeviceState{}, err
	}
	defer s.release()
	now := c.o.Now()
	if err := policy.Cancel(s.override, now); err != nil {
		return DeviceState{}, fmt.Errorf("%s: %w", device, err)
	}
	o := s.override
	s.override = nil
	log := c.log.With("device", device)
	c.m.overrideEvents.WithLabelValues("cancel").Inc()
	log.Info("override cancelled", "user", user, "reason", reason, "was", o.Setpoint, "by", o.User)
	var errs []string
	if err := c.audit.DeleteOverride(ctx, device); err != nil {
		c.m.storeErrors.WithLabelValues("mongo").Inc()
		log.Error("override not deleted from the store: it would hold again after a restart", "err", err)
		errs = append(errs, err.Error())
	}
	if reason == "" {
		reason = "cancelled"
	}
	c.record(ctx, log, audit.Entry{Time: now, Device: device, Actor: audit.Manual(user), Action: audit.ActionCancel,
		Reason: fmt.Sprintf("%s (override of %s C by %s)", reason, deg(o.Setpoint), o.User)}, &errs)
	v := c.view(device)
	v.Mode, v.Override, v.Errors = policy.ModeAuto, nil, errs
	v.LastDecision = &DecisionState{Time: now, Outcome: policy.OutcomeHold, Why: "override cancelled by " + user + "; automation resumes at the next tick"}
	c.publish(v)
	return c.view(device), nil
}

func (c *Controller) sector(device string) (*sector, error) {
	if err := c.Ready(); err != nil {
		return nil, err
	}
	s, ok := c.sectors[device]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownDevice, device)
	}
	return s, nil
}

// Devices are the devices driven, in the configured order.
func (c *Controller) Devices() []string { return slices.Clone(c.order) }

// Limits are the limits in force.
func (c *Controller) Limits() policy.Limits { return c.l }

func deg(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func ptr[T any](v T) *T { return &v }
