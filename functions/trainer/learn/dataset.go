// Package learn turns rows of a room's history into training samples and fits the
// model of package model to them: ridge regression on standardized inputs, solved with
// gonum. It knows nothing of InfluxDB, so a simulation can feed it rows directly.
//
// # From rows to samples
//
// A Row is one step of one device: the readings of that step, by feature name. Build
// lays each device's rows on a grid of Step, and for every step e that ends a complete
// window it makes one Sample:
//
//	Window  rows e-Steps+1 .. e, oldest first, one value per feature
//	Target  temperature and humidity of row e+Horizon
//	Current temperature and humidity of row e (the last-value baseline's answer)
//
// The set-point of the window's last row is not the one measured at e but the one in
// force at the target step e+Horizon: a model answers "where does the room go if this
// set-point is applied from now on" (see package model), and that is what the room
// did with the set-point that followed the window. By default a window is also
// skipped when the set-point changed again between e+1 and e+Horizon, since then no
// single set-point was applied from e on (BuildOptions.KeepHorizonChanges keeps them).
//
// # Missing values
//
// Temperature and humidity are measured values: a step without them is a gap.
// Every other feature (setpoint, ext_temperature, ext_humidity, weather, cpu) is
// carried forward: a step without a value takes the device's last earlier value, if
// that is at most FillFor old; otherwise it is a gap too. hour_sin and hour_cos are
// computed from the step's time (HourFeatures). A feature that no row at all has (the
// sender ran without weather) is absent: it is 0 in every sample, listed in
// Stats.Absent, and a caller leaves it out of its own feature set (OursFeatures does,
// and leaves out the hour features of a history shorter than MinHourSpan).
// Temperature, humidity and setpoint may not be absent. A window with a gap anywhere
// from its first step to its target step is skipped and counted.
package learn

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/smartx-team/overcloud/functions/model"
)

// Defaults of BuildOptions, the original's window and horizon on one-minute steps.
const (
	DefaultSteps   = 6
	DefaultHorizon = 10
	DefaultStep    = time.Minute
	DefaultFillFor = time.Hour
)

// Outputs are what every sample's Target and Current hold, in this order, and what
// every model fitted here predicts.
var Outputs = []string{model.OutputTemperature, model.OutputHumidity}

// OurFeatures is our richer window row, before absent features are left out: see
// OursFeatures.
var OurFeatures = []string{
	model.FeatureTemperature, model.FeatureHumidity, model.FeatureSetpoint,
	model.FeatureExtTemperature, model.FeatureExtHumidity, model.FeatureCPU,
	model.FeatureHourSin, model.FeatureHourCos, model.FeatureWeather,
}

// Errors Build returns.
var (
	// ErrNoData: no rows, or no rows with a device name.
	ErrNoData = errors.New("learn: no data")
	// ErrGrid: a device's row is not a whole number of steps after its first row.
	ErrGrid = errors.New("learn: row off the step grid")
	// ErrMissingFeature: temperature, humidity or setpoint is in no row at all.
	ErrMissingFeature = errors.New("learn: feature missing from every row")
)

// MaxSteps bounds the steps from a device's first row to its last (a year of
// seconds, twenty years of minutes), so a stray timestamp cannot exhaust memory.
const MaxSteps = 1 << 25

// Row is one step of one device: the mean of each reading over the step, by feature
// name (model.Feature*; hour_sin and hour_cos are computed, not read from Values). A
// missing key or a value that is not finite (NaN) means "not measured in this step".
type Row struct {
	Device string
	// Time is the step's start.
	Time   time.Time
	Values map[string]float64
}

// Sample is one training instance of one device.
type Sample struct {
	Device string
	// From is the time of the window's first step, Time that of its last ("now"),
	// At that of the target step, Time + Horizon steps.
	From, Time, At time.Time
	// Window has Steps rows of one value per feature, oldest first.
	Window [][]float64
	// Target is what Outputs were at At; Current what they were at Time.
	Target  []float64
	Current []float64
}

// BuildOptions set up Build; zero values take the defaults named.
type BuildOptions struct {
	// Features of each window row (default: OurFeatures plus model.BaselineFeatures,
	// so that both feature sets can be cut from the same samples with Project).
	Features []string
	// Steps is the window's length in steps (default DefaultSteps, 6).
	Steps int
	// Horizon is how many steps after the window's last the target is (default 10).
	Horizon int
	// Step is the grid (default 1m).
	Step time.Duration
	// FillFor is how long a carried feature's last value stands in (default 1h).
	FillFor time.Duration
	// KeepHorizonChanges keeps windows in whose horizon the set-point changed again
	// (default false: skipped and counted in Stats.SkippedSetpointChanges).
	KeepHorizonChanges bool
}

func (o BuildOptions) withDefaults() BuildOptions {
	if len(o.Features) == 0 {
		o.Features = AllFeatures()
	}
	if o.Steps == 0 {
		o.Steps = DefaultSteps
	}
	if o.Horizon == 0 {
		o.Horizon = DefaultHorizon
	}
	if o.Step == 0 {
		o.Step = DefaultStep
	}
	if o.FillFor == 0 {
		o.FillFor = DefaultFillFor
	}
	return o
}

// AllFeatures is OurFeatures followed by the baseline's features ours lacks.
func AllFeatures() []string {
	out := slices.Clone(OurFeatures)
	for _, f := range model.BaselineFeatures {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// Stats say what Build saw and left out.
type Stats struct {
	Rows    int            `json:"rows"`
	Devices []string       `json:"devices"`
	PerDev  map[string]int `json:"rows_per_device"`
	// First and Last are the earliest and latest row times.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Windows is how many windows fit in the grid; Samples how many became samples.
	Windows int `json:"windows"`
	Samples int `json:"samples"`
	// SkippedGaps are windows with a missing step or value from the first step to the
	// target; SkippedSetpointChanges those whose set-point changed within the horizon.
	SkippedGaps            int `json:"skipped_gaps"`
	SkippedSetpointChanges int `json:"skipped_setpoint_changes"`
	// Absent are the features no row has, 0 in every sample.
	Absent []string `json:"absent_features"`
}

// Dataset is the samples of Build and how they were made.
type Dataset struct {
	Features []string
	Steps    int
	Horizon  int
	Step     time.Duration
	Samples  []Sample
	Stats    Stats
}

// HourFeatures are hour_sin and hour_cos of t: the sine and cosine of 2 pi h / 24, h
// the hour of the UTC day with its fraction. A linear model can shift the phase to any
// local time zone itself, so the zone does not matter.
func HourFeatures(t time.Time) (sin, cos float64) {
	sec := t.UTC().Sub(t.UTC().Truncate(24 * time.Hour)).Seconds()
	a := 2 * math.Pi * sec / 86400
	return math.Sin(a), math.Cos(a)
}

// feature kinds
const (
	kindMeasured = iota // a step without it is a gap
	kindCarried         // carried forward up to FillFor
	kindHourSin
	kindHourCos
)

func kindOf(name string) int {
	switch name {
	case model.FeatureTemperature, model.FeatureHumidity:
		return kindMeasured
	case model.FeatureHourSin:
		return kindHourSin
	case model.FeatureHourCos:
		return kindHourCos
	}
	return kindCarried
}

// Build makes the samples of rows (in any order; several rows of one device and time
// merge, the later in the slice winning per value). See the package doc for the rules.
func Build(rows []Row, o BuildOptions) (*Dataset, error) {
	o = o.withDefaults()
	switch {
	case o.Steps < 1 || o.Steps > 1000:
		return nil, fmt.Errorf("learn: steps %d, want 1 to 1000", o.Steps)
	case o.Horizon < 1:
		return nil, fmt.Errorf("learn: horizon %d, want at least 1", o.Horizon)
	case o.Step <= 0 || o.FillFor < 0:
		return nil, fmt.Errorf("learn: step %s and fill %s must be positive", o.Step, o.FillFor)
	}
	seen := map[string]bool{}
	for _, f := range o.Features {
		if f == "" || seen[f] {
			return nil, fmt.Errorf("learn: feature %q empty or repeated", f)
		}
		seen[f] = true
	}
	ds := &Dataset{Features: slices.Clone(o.Features), Steps: o.Steps, Horizon: o.Horizon, Step: o.Step}
	st := &ds.Stats
	st.PerDev = map[string]int{}

	byDev := map[string][]Row{}
	present := map[string]bool{}
	for _, r := range rows {
		if r.Device == "" {
			continue
		}
		byDev[r.Device] = append(byDev[r.Device], r)
		for k, v := range r.Values {
			if !notFinite(v) {
				present[k] = true
			}
		}
		if st.First.IsZero() || r.Time.Before(st.First) {
			st.First = r.Time
		}
		if r.Time.After(st.Last) {
			st.Last = r.Time
		}
	}
	if len(byDev) == 0 {
		return nil, ErrNoData
	}
	for _, f := range []string{model.FeatureTemperature, model.FeatureHumidity, model.FeatureSetpoint} {
		if (seen[f] || f != model.FeatureSetpoint) && !present[f] {
			return nil, fmt.Errorf("%w: %s", ErrMissingFeature, f)
		}
	}
	for _, f := range o.Features {
		if kindOf(f) == kindCarried && !present[f] {
			st.Absent = append(st.Absent, f)
		}
	}
	for dev := range byDev {
		st.Devices = append(st.Devices, dev)
	}
	sort.Strings(st.Devices)
	for _, dev := range st.Devices {
		g, err := newGrid(dev, byDev[dev], o, present)
		if err != nil {
			return nil, err
		}
		st.Rows += g.rows
		st.PerDev[dev] = g.rows
		g.samples(ds)
	}
	st.Samples = len(ds.Samples)
	return ds, nil
}

// grid is one device's rows on the step grid, values carried forward.
type grid struct {
	dev   string
	o     BuildOptions
	t0    time.Time
	rows  int
	have  []bool      // a row at step k
	vals  [][]float64 // per step, per feature (NaN: missing)
	temp  []float64   // per step: measured temperature, humidity and the set-point in force
	hum   []float64
	setpt []float64
}

func newGrid(dev string, rows []Row, o BuildOptions, present map[string]bool) (*grid, error) {
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Time.Before(rows[j].Time) })
	g := &grid{dev: dev, o: o, t0: rows[0].Time}
	span := rows[len(rows)-1].Time.Sub(g.t0) / o.Step
	if span >= MaxSteps {
		return nil, fmt.Errorf("learn: %s spans %d steps of %s, at most %d", dev, span, o.Step, MaxSteps)
	}
	n := int(span) + 1
	merged := make([]map[string]float64, n)
	for _, r := range rows {
		off := r.Time.Sub(g.t0)
		if off%o.Step != 0 {
			return nil, fmt.Errorf("%w: %s at %s is not a whole number of %s after %s",
				ErrGrid, dev, r.Time.Format(time.RFC3339Nano), o.Step, g.t0.Format(time.RFC3339Nano))
		}
		k := int(off / o.Step)
		if merged[k] == nil {
			merged[k] = map[string]float64{}
			g.rows++
		}
		for name, v := range r.Values {
			if !notFinite(v) {
				merged[k][name] = v
			}
		}
	}
	nf := len(o.Features)
	g.have = make([]bool, n)
	g.vals = make([][]float64, n)
	g.temp, g.hum, g.setpt = nanSlice(n), nanSlice(n), nanSlice(n)
	// carried: last value and the step it was measured at
	type carry struct {
		v  float64
		at int
		ok bool
	}
	carried := map[string]*carry{}
	maxAge := int(o.FillFor / o.Step)
	value := func(name string, k int, m map[string]float64) float64 {
		c := carried[name]
		if c == nil {
			c = &carry{}
			carried[name] = c
		}
		if v, ok := m[name]; ok {
			*c = carry{v: v, at: k, ok: true}
			return v
		}
		if c.ok && k-c.at <= maxAge {
			return c.v
		}
		return math.NaN()
	}
	for k := range n {
		m := merged[k]
		// The set-point in force is known at every step, rows or not, while fresh.
		g.setpt[k] = value(model.FeatureSetpoint, k, m)
		if m == nil {
			continue
		}
		g.have[k] = true
		row := make([]float64, nf)
		at := g.t0.Add(time.Duration(k) * o.Step)
		for i, f := range o.Features {
			switch kindOf(f) {
			case kindMeasured:
				row[i] = valueOr(m, f)
			case kindHourSin:
				row[i], _ = HourFeatures(at)
			case kindHourCos:
				_, row[i] = HourFeatures(at)
			default:
				switch {
				case f == model.FeatureSetpoint:
					row[i] = g.setpt[k]
				case !present[f]:
					row[i] = 0
				default:
					row[i] = value(f, k, m)
				}
			}
		}
		g.vals[k] = row
		g.temp[k] = valueOr(m, model.FeatureTemperature)
		g.hum[k] = valueOr(m, model.FeatureHumidity)
	}
	return g, nil
}

func valueOr(m map[string]float64, name string) float64 {
	if v, ok := m[name]; ok {
		return v
	}
	return math.NaN()
}

func nanSlice(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

func (g *grid) samples(ds *Dataset) {
	o, st := g.o, &ds.Stats
	sp := slices.Index(o.Features, model.FeatureSetpoint)
	n := len(g.have)
	for e := o.Steps - 1; e+o.Horizon < n; e++ {
		st.Windows++
		tgt := e + o.Horizon
		if !g.complete(e, tgt) {
			st.SkippedGaps++
			continue
		}
		setpoint := g.setpt[tgt]
		if !o.KeepHorizonChanges {
			unknown, changed := false, false
			for _, v := range g.setpt[e+1 : tgt] {
				unknown = unknown || math.IsNaN(v)
				changed = changed || v != setpoint
			}
			if unknown {
				st.SkippedGaps++
				continue
			}
			if changed {
				st.SkippedSetpointChanges++
				continue
			}
		}
		w := make([][]float64, o.Steps)
		for j := range w {
			w[j] = slices.Clone(g.vals[e-o.Steps+1+j])
		}
		if sp >= 0 {
			w[o.Steps-1][sp] = setpoint
		}
		at := func(k int) time.Time { return g.t0.Add(time.Duration(k) * o.Step) }
		ds.Samples = append(ds.Samples, Sample{
			Device: g.dev, From: at(e - o.Steps + 1), Time: at(e), At: at(tgt),
			Window: w, Target: []float64{g.temp[tgt], g.hum[tgt]}, Current: []float64{g.temp[e], g.hum[e]},
		})
	}
}

// complete reports whether the window ending at e and the target step tgt have every
// value, and the set-point in force at tgt is known.
func (g *grid) complete(e, tgt int) bool {
	for k := e - g.o.Steps + 1; k <= e; k++ {
		if !g.have[k] || slices.ContainsFunc(g.vals[k], math.IsNaN) {
			return false
		}
	}
	return g.have[tgt] && !math.IsNaN(g.temp[tgt]) && !math.IsNaN(g.hum[tgt]) && !math.IsNaN(g.setpt[tgt])
}

// MinHourSpan is the shortest history OursFeatures keeps hour_sin and hour_cos for:
// over less than a day they can only learn a trend of the hours seen, which the
// held-out end then extrapolates (measured on the simulated room: with 6 h of history
// they made the held-out temperature error four times the last value's).
const MinHourSpan = 24 * time.Hour

// OursFeatures is OurFeatures without the features the dataset has absent, and
// without hour_sin and hour_cos when the rows span less than MinHourSpan.
func (d *Dataset) OursFeatures() []string {
	short := d.Stats.Last.Sub(d.Stats.First) < MinHourSpan
	var out []string
	for _, f := range OurFeatures {
		hour := f == model.FeatureHourSin || f == model.FeatureHourCos
		if !slices.Contains(d.Stats.Absent, f) && !(hour && short) {
			out = append(out, f)
		}
	}
	return out
}

// Project returns copies of samples whose window rows hold only the named features,
// in that order; every name must be one of d.Features.
func (d *Dataset) Project(samples []Sample, features []string) ([]Sample, error) {
	idx := make([]int, len(features))
	for i, f := range features {
		idx[i] = slices.Index(d.Features, f)
		if idx[i] < 0 {
			return nil, fmt.Errorf("learn: feature %q is not in the dataset (%v)", f, d.Features)
		}
	}
	out := make([]Sample, len(samples))
	for i, s := range samples {
		w := make([][]float64, len(s.Window))
		for j, row := range s.Window {
			w[j] = make([]float64, len(idx))
			for c, k := range idx {
				w[j][c] = row[k]
			}
		}
		s.Window = w
		out[i] = s
	}
	return out, nil
}

// SplitTime is where a held-out fraction of the time from first to last begins:
// first + (1-heldOut) (last - first).
func SplitTime(first, last time.Time, heldOut float64) time.Time {
	return first.Add(time.Duration(float64(last.Sub(first)) * (1 - heldOut)))
}

// Split divides samples by time at at: training are those whose target is before at,
// held out those whose window starts at or after it. Samples that straddle at are in
// neither, so no step is seen by both sides.
func Split(samples []Sample, at time.Time) (train, heldOut []Sample) {
	for _, s := range samples {
		switch {
		case s.At.Before(at):
			train = append(train, s)
		case !s.From.Before(at):
			heldOut = append(heldOut, s)
		}
	}
	return train, heldOut
}
