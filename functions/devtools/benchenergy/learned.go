package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/smartx-team/overcloud/functions/controller/policy"
	"github.com/smartx-team/overcloud/functions/model"
	"github.com/smartx-team/overcloud/functions/trainer/learn"
)

// Explore is the history a model learns from: set-points an operator might have
// tried, a whole degree in Low..High, each held for one to six hours.
type Explore struct {
	Low, High int
	rng       *rand.Rand
	until     time.Time
}

// NewExplore returns the exploring policy, seeded.
func NewExplore(low, high int, seed uint64) *Explore {
	return &Explore{Low: low, High: high, rng: rand.New(rand.NewPCG(seed, seed+1))}
}

// Decide implements Policy.
func (e *Explore) Decide(rows []Row, current float64) float64 {
	now := rows[len(rows)-1].Time
	if now.Before(e.until) {
		return current
	}
	e.until = now.Add(time.Hour + time.Duration(e.rng.Int64N(int64(5*time.Hour))))
	return float64(e.Low + e.rng.IntN(e.High-e.Low+1))
}

// TrainDays says which days of the training year go into the training set: the first
// few of each month, so that every season is in it without a year of rows in memory.
const TrainDays = 4

// Train simulates the training year for every sector under Explore and fits the
// trainer's learner (ours: learn.OurFeatures, what the trainer serves) on it.
func Train(o Options, log func(format string, args ...any)) (*model.Model, error) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	climate := NewClimate(start, o.Days, o.TrainSeed)
	var rows []learn.Row
	for i, s := range Sectors {
		_, history := Run(climate, start, o.Days, s, o.Limits, NewExplore(18, 28, o.TrainSeed+uint64(i)), o.Interval, 22, 0)
		for _, r := range history {
			if r.Time.Day() > TrainDays {
				continue
			}
			rows = append(rows, learn.Row{Device: s.Name, Time: r.Time, Values: map[string]float64{
				model.FeatureTemperature: r.Temperature, model.FeatureHumidity: r.RH, model.FeatureSetpoint: r.Setpoint,
				model.FeatureExtTemperature: r.Outside, model.FeatureExtHumidity: r.OutsideRH, model.FeatureCPU: r.CPU,
			}})
		}
	}
	ds, err := learn.Build(rows, learn.BuildOptions{Step: time.Minute})
	if err != nil {
		return nil, err
	}
	features := ds.OursFeatures()
	samples, err := ds.Project(ds.Samples, features)
	if err != nil {
		return nil, err
	}
	split := learn.SplitTime(ds.Stats.First, ds.Stats.Last, 0.2)
	train, heldOut := learn.Split(samples, split)
	m, err := learn.Fit(train, features, learn.FitOptions{Horizon: ds.Horizon, Step: ds.Step})
	if err != nil {
		return nil, err
	}
	errs, err := learn.Evaluate(m, heldOut)
	if err != nil {
		return nil, err
	}
	last := learn.LastValue(heldOut)
	log("benchenergy: model trained on %d samples of %d sectors (%d days a month of weather seed %d): held-out temperature MAE %.3f C (last value %.3f C)",
		len(train), len(Sectors), TrainDays, o.TrainSeed, errs.Of(model.OutputTemperature).MAE, last.Of(model.OutputTemperature).MAE)
	return m, nil
}

// Learned is ours: the trainer's model of the room asked about every candidate
// set-point, and the controller's rules (package policy) on its answers, as the
// controller runs them.
type Learned struct {
	Model    *model.Model
	Limits   policy.Limits
	Interval time.Duration

	lastSafe    float64
	hasLastSafe bool
	lastChange  time.Time
	temp, humid int
	margins     *policy.MarginTracker
	// marginSum, marginMax and decisions describe the margins decided with.
	marginSum, marginMax float64
	decisions            int
}

// NewLearned returns ours for one sector.
func NewLearned(m *model.Model, l policy.Limits, interval time.Duration) (*Learned, error) {
	p := &Learned{Model: m, Limits: l, Interval: interval, temp: -1, humid: -1}
	if l.MarginQuantile > 0 {
		p.margins = policy.NewMarginTracker(l.MarginSamples)
	}
	for i, out := range m.Outputs {
		switch out {
		case model.OutputTemperature:
			p.temp = i
		case model.OutputHumidity:
			p.humid = i
		}
	}
	if p.temp < 0 {
		return nil, fmt.Errorf("model %s predicts no %s", m.Name, model.OutputTemperature)
	}
	if step := time.Duration(m.StepSeconds * float64(time.Second)); step != time.Minute {
		return nil, fmt.Errorf("model %s steps %v, the simulation one minute", m.Name, step)
	}
	return p, l.Validate()
}

// Decide implements Policy.
func (p *Learned) Decide(rows []Row, current float64) float64 {
	now := rows[len(rows)-1].Time
	p.observe(rows)
	in := policy.Input{
		Now: now, Interval: p.Interval, Current: current, HasCurrent: true, LastReading: now,
		LastSafe: p.lastSafe, HasLastSafe: p.hasLastSafe, LastChange: p.lastChange, Margins: p.margins,
	}
	if len(rows) < p.Model.Steps {
		in.Fault = policy.FaultNoWindow
	} else {
		window := rows[len(rows)-p.Model.Steps:]
		for _, c := range p.Limits.Candidates() {
			out, err := p.Model.Predict(p.instance(window, c))
			if err != nil {
				in.Fault = policy.FaultMalformed
				break
			}
			pred := policy.Prediction{Setpoint: c, Temperature: out[p.temp]}
			if p.humid >= 0 {
				pred.Humidity, pred.HasHumidity = out[p.humid], true
			}
			in.Predictions = append(in.Predictions, pred)
		}
	}
	d := p.Limits.Decide(in)
	p.marginSum, p.marginMax, p.decisions = p.marginSum+d.Margin, max(p.marginMax, d.Margin), p.decisions+1
	if d.HasRecommended && d.Mode == policy.ModeAuto {
		p.lastSafe, p.hasLastSafe = d.Recommended, true
	}
	next := current
	if d.Change {
		p.lastChange, next = now, d.Target
	}
	if p.margins != nil {
		step := time.Duration(p.Model.StepSeconds * float64(time.Second))
		p.margins.ExpectFor(now, time.Duration(p.Model.Horizon)*step, step, next, in.Predictions)
	}
	return next
}

// observe gives the rows to the margin tracker, as the controller gives it its
// windows (it skips the rows it has seen).
func (p *Learned) observe(rows []Row) {
	if p.margins == nil {
		return
	}
	for _, r := range rows {
		p.margins.Observe(r.Time, r.Temperature, r.Setpoint)
	}
}

// instance is the model's input for window with set-point c applied from now on.
func (p *Learned) instance(window []Row, c float64) [][]float64 {
	out := make([][]float64, len(window))
	for s, r := range window {
		sp := r.Setpoint
		if s == len(window)-1 {
			sp = c
		}
		sin, cos := learn.HourFeatures(r.Time)
		row := make([]float64, len(p.Model.Features))
		for i, f := range p.Model.Features {
			switch f {
			case model.FeatureTemperature:
				row[i] = r.Temperature
			case model.FeatureHumidity:
				row[i] = r.RH
			case model.FeatureSetpoint:
				row[i] = sp
			case model.FeatureExtTemperature:
				row[i] = r.Outside
			case model.FeatureExtHumidity:
				row[i] = r.OutsideRH
			case model.FeatureCPU:
				row[i] = r.CPU
			case model.FeatureHourSin:
				row[i] = sin
			case model.FeatureHourCos:
				row[i] = cos
			}
		}
		out[s] = row
	}
	return out
}

// MarginNote says what the margin came to at the end of a run, for the log.
func (p *Learned) MarginNote() string {
	if p.margins == nil {
		return fmt.Sprintf("margin %.2f C (set)", p.Limits.Margin)
	}
	m, _, how := p.Limits.MarginFrom(p.margins)
	return fmt.Sprintf("margin %.2f C at the end (%s; %d forecasts scored, %d dropped), %.3f C on average over %d decisions, at most %.2f C",
		m, how, p.margins.Scored(), p.margins.Dropped(), p.marginSum/float64(max(p.decisions, 1)), p.decisions, p.marginMax)
}
