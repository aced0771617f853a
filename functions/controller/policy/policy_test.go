package policy

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// preds answers every candidate of l: temperature = base + slope*(set-point-16) and a
// constant humidity.
func preds(l Limits, base, slope, rh float64) []Prediction {
	var ps []Prediction
	for _, c := range l.Candidates() {
		ps = append(ps, Prediction{Setpoint: c, Temperature: base + slope*(c-16), Humidity: rh, HasHumidity: true})
	}
	return ps
}

// input is a sector with a fresh reading, set-point 24 in force, good predictions:
// temperature 20 + 0.5 per degree above 16, so 26 C (the ceiling) at 28.
func input(l Limits) Input {
	return Input{
		Now: t0, Interval: time.Minute,
		Current: 24, HasCurrent: true,
		LastReading: t0.Add(-30 * time.Second),
		Predictions: preds(l, 20, 0.5, 50),
	}
}

func TestValidateDefaults(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tt := range []struct {
		field  string
		mutate func(*Limits)
	}{
		{"min/max", func(l *Limits) { l.Min, l.Max = 30, 16 }},
		{"min/max", func(l *Limits) { l.Min = 2 }},
		{"min/max", func(l *Limits) { l.Max = math.NaN() }},
		{"min/max", func(l *Limits) { l.Min, l.Max = 20.2, 20.9 }},
		{"max-step", func(l *Limits) { l.MaxStep = 0.5 }},
		{"hysteresis", func(l *Limits) { l.Hysteresis = -1 }},
		{"limit", func(l *Limits) { l.TempLimit = 99 }},
		{"margin", func(l *Limits) { l.Margin = -0.5 }},
		{"margin-quantile", func(l *Limits) { l.MarginQuantile = 1 }},
		{"margin-quantile", func(l *Limits) { l.MarginQuantile = 0.3 }},
		{"margin-floor", func(l *Limits) { l.MarginQuantile, l.MarginFloor = 0.99, -0.1 }},
		{"margin-samples", func(l *Limits) { l.MarginQuantile, l.MarginSamples = 0.99, 5 }},
		{"rh-min/rh-max", func(l *Limits) { l.RHMin, l.RHMax = 80, 20 }},
		{"stale", func(l *Limits) { l.Stale = 0 }},
		{"model-max-age", func(l *Limits) { l.ModelMaxAge = -time.Hour }},
	} {
		l := classic()
		tt.mutate(&l)
		err := l.Validate()
		if !errors.Is(err, ErrLimits) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%+v: Validate() = %v, want an error naming %s", l, err, tt.field)
		}
	}
}

func TestBounds(t *testing.T) {
	l := classic()
	if got := l.Candidates(); len(got) != 15 || got[0] != 16 || got[14] != 30 {
		t.Errorf("Candidates() = %v, want 16..30", got)
	}
	l2 := l
	l2.Min, l2.Max = 17.5, 20.5
	if got := l2.Candidates(); !slices.Equal(got, []float64{18, 19, 20}) {
		t.Errorf("Candidates(17.5..20.5) = %v, want whole degrees inside", got)
	}
	for _, tt := range []struct{ in, want float64 }{
		{24, 24}, {24.4, 24}, {24.6, 25}, {10, 16}, {15.6, 16}, {35, 30}, {30.4, 30},
	} {
		if got := l.Clamp(tt.in); got != tt.want {
			t.Errorf("Clamp(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		c  float64
		ok bool
	}{
		{16, true}, {30, true}, {23, true}, {15, false}, {31, false}, {23.5, false}, {math.NaN(), false}, {math.Inf(1), false},
	} {
		if err := l.CheckManual(tt.c); (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrBounds)) {
			t.Errorf("CheckManual(%v) = %v, want ok=%v", tt.c, err, tt.ok)
		}
	}
}

func TestStep(t *testing.T) {
	for _, tt := range []struct{ cur, target, step, want float64 }{
		{24, 24, 1, 24},
		{24, 25, 1, 25},
		{24, 28, 1, 25},
		{24, 18, 1, 23},
		{24, 28, 2, 26},
		{24, 18, 2, 22},
		{24, 26, 2.5, 26},
		{24, 28, 1.5, 25}, // never more than max-step, whole degrees
		{24.5, 28, 1, 25},
		{24.5, 18, 1, 24},
	} {
		if got := Step(tt.cur, tt.target, tt.step); got != tt.want {
			t.Errorf("Step(%v, %v, %v) = %v, want %v", tt.cur, tt.target, tt.step, got, tt.want)
		}
	}
}

func TestChoose(t *testing.T) {
	l := classic()
	for _, tt := range []struct {
		name  string
		preds []Prediction
		want  float64
		rule  Rule
	}{
		{"highest within the ceiling", preds(l, 20, 0.5, 50), 28, RuleWithinLimits},
		{"ceiling is inclusive", preds(l, 26, 0, 50), 30, RuleWithinLimits},
		{"everything too warm: coolest", preds(l, 27, 0.5, 50), 16, RuleCoolest},
		{"humidity out of range everywhere: closest", func() []Prediction {
			ps := preds(l, 20, 0.5, 0)
			for i := range ps {
				ps[i].Humidity = 95 - float64(i) // drier when warmer
			}
			return ps
		}(), 28, RuleHumidity},
		{"humidity rules out the warmest", func() []Prediction {
			ps := preds(l, 20, 0.5, 50)
			for i := range ps {
				if ps[i].Setpoint >= 27 {
					ps[i].Humidity = 15
				}
			}
			return ps
		}(), 26, RuleWithinLimits},
		{"no humidity predicted", func() []Prediction {
			ps := preds(l, 20, 0.5, 0)
			for i := range ps {
				ps[i].HasHumidity = false
			}
			return ps
		}(), 28, RuleWithinLimits},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if f := CheckPredictions(tt.preds, l.Candidates()); f != "" {
				t.Fatalf("test predictions have fault %s", f)
			}
			c := l.Choose(tt.preds)
			if c.Setpoint != tt.want || c.Rule != tt.rule || c.Prediction.Setpoint != tt.want {
				t.Errorf("Choose = %+v, want %v by %s", c, tt.want, tt.rule)
			}
		})
	}
}

// Each kind of bad model output is named, and makes Decide fall back.
func TestFallbackForEachFault(t *testing.T) {
	l := classic()
	l.ModelMaxAge = 24 * time.Hour
	mutate := func(f func([]Prediction) []Prediction) []Prediction { return f(preds(l, 20, 0.5, 50)) }
	for _, tt := range []struct {
		name  string
		fault Fault // given by the caller (I/O) or found in the predictions
		preds []Prediction
		want  Fault
	}{
		{"inference down", FaultInferenceDown, nil, FaultInferenceDown},
		{"no model", FaultNoModel, nil, FaultNoModel},
		{"bad signature", FaultBadSignature, nil, FaultBadSignature},
		{"rejected", FaultRejected, nil, FaultRejected},
		{"no window", FaultNoWindow, nil, FaultNoWindow},
		{"stale model", l.CheckModel(t0.Add(-25*time.Hour), t0), nil, FaultStaleModel},
		{"NaN temperature", "", mutate(func(p []Prediction) []Prediction { p[3].Temperature = math.NaN(); return p }), FaultNaN},
		{"infinite humidity", "", mutate(func(p []Prediction) []Prediction { p[3].Humidity = math.Inf(-1); return p }), FaultNaN},
		{"temperature out of range", "", mutate(func(p []Prediction) []Prediction { p[0].Temperature = 400; return p }), FaultOutOfRange},
		{"humidity out of range", "", mutate(func(p []Prediction) []Prediction { p[0].Humidity = -3; return p }), FaultOutOfRange},
		{"too few predictions", "", mutate(func(p []Prediction) []Prediction { return p[1:] }), FaultMalformed},
		{"none at all", "", nil, FaultMalformed},
		{"wrong set-point", "", mutate(func(p []Prediction) []Prediction { p[2].Setpoint = 99; return p }), FaultMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := input(l)
			in.Fault, in.Predictions = tt.fault, tt.preds
			d := l.Decide(in)
			if d.Mode != ModeFallback || d.Outcome != OutcomeFallback || d.Fault != tt.want || d.HasRecommended || d.Change {
				t.Errorf("Decide = %+v, want fallback for %s holding 24", d, tt.want)
			}
			if !strings.Contains(d.Why, string(tt.want)) {
				t.Errorf("Why %q does not name %s", d.Why, tt.want)
			}
			// With a last safe set-point, the fallback moves towards it, one step.
			in.LastSafe, in.HasLastSafe = 21, true
			if d := l.Decide(in); !d.Change || d.Target != 23 || d.Outcome != OutcomeChange || d.Mode != ModeFallback {
				t.Errorf("with last safe 21: %+v, want a change to 23 in fallback", d)
			}
		})
	}
	if f := l.CheckModel(t0.Add(-time.Hour), t0); f != "" {
		t.Errorf("fresh model: %s", f)
	}
	if f := l.CheckModel(time.Time{}, t0); f != "" {
		t.Errorf("model of unknown age: %s, want not checked", f)
	}
	off := classic()
	if f := off.CheckModel(t0.Add(-1000*time.Hour), t0); f != "" {
		t.Errorf("check off: %s", f)
	}
}

func TestDecide(t *testing.T) {
	l := classic()
	for _, tt := range []struct {
		name    string
		limits  func(*Limits)
		in      func(*Input)
		mode    Mode
		outcome Outcome
		target  float64
		rec     float64 // 0: none
	}{
		{name: "one step up towards 28", mode: ModeAuto, outcome: OutcomeChange, target: 25, rec: 28},
		{name: "one step down when too warm", in: func(in *Input) { in.Predictions = preds(l, 23, 0.5, 50) }, // ceiling at 22
			mode: ModeAuto, outcome: OutcomeChange, target: 23, rec: 22},
		{name: "already there", in: func(in *Input) { in.Current = 28 }, mode: ModeAuto, outcome: OutcomeHold, target: 28, rec: 28},
		{name: "larger steps", limits: func(l *Limits) { l.MaxStep = 3 }, mode: ModeAuto, outcome: OutcomeChange, target: 27, rec: 28},
		{name: "hysteresis holds a small rise", limits: func(l *Limits) { l.Hysteresis = 2 },
			in: func(in *Input) { in.Current = 27 }, mode: ModeAuto, outcome: OutcomeHysteresis, target: 27, rec: 28},
		{name: "hysteresis lets a large rise through", limits: func(l *Limits) { l.Hysteresis = 2 },
			mode: ModeAuto, outcome: OutcomeChange, target: 25, rec: 28},
		{name: "hysteresis never holds back cooling for safety", limits: func(l *Limits) { l.Hysteresis = 2 },
			in: func(in *Input) { in.Current = 29 }, mode: ModeAuto, outcome: OutcomeChange, target: 28, rec: 28},
		{name: "hysteresis holds a small drop that is not needed for safety", limits: func(l *Limits) { l.Hysteresis = 2 },
			in: func(in *Input) {
				in.Current = 27
				in.Predictions = preds(l, 20, 0.5, 50)
				for i := range in.Predictions {
					if in.Predictions[i].Setpoint == 27 {
						in.Predictions[i].Humidity = 10 // too dry at 27, but not too warm
					}
				}
			}, mode: ModeAuto, outcome: OutcomeHysteresis, target: 27, rec: 28},
		{name: "rate: one change per interval", in: func(in *Input) { in.LastChange = t0.Add(-10 * time.Second) },
			mode: ModeAuto, outcome: OutcomeRateLimited, target: 24, rec: 28},
		{name: "rate: a change an interval ago is no bar", in: func(in *Input) { in.LastChange = t0.Add(-time.Minute) },
			mode: ModeAuto, outcome: OutcomeChange, target: 25, rec: 28},
		{name: "outside the bounds: inside at once", in: func(in *Input) { in.Current = 34; in.LastChange = t0.Add(-time.Second) },
			mode: ModeAuto, outcome: OutcomeChange, target: 30, rec: 28},
		{name: "below the bounds: inside at once", in: func(in *Input) { in.Current = 12 },
			mode: ModeAuto, outcome: OutcomeChange, target: 16, rec: 28},
		{name: "narrower bounds cap the recommendation", limits: func(l *Limits) { l.Max = 26 },
			in: func(in *Input) { in.Current = 26 }, mode: ModeAuto, outcome: OutcomeHold, target: 26, rec: 26},
		{name: "stale sensor", in: func(in *Input) { in.LastReading = t0.Add(-6 * time.Minute) },
			mode: ModeStale, outcome: OutcomeStale, target: 24},
		{name: "never a reading", in: func(in *Input) { in.LastReading = time.Time{} },
			mode: ModeStale, outcome: OutcomeStale, target: 24},
		{name: "stale sensor with a broken model is stale", in: func(in *Input) {
			in.LastReading, in.Fault = t0.Add(-time.Hour), FaultInferenceDown
		}, mode: ModeStale, outcome: OutcomeStale, target: 24},
		{name: "just within the stale limit", in: func(in *Input) { in.LastReading = t0.Add(-5 * time.Minute) },
			mode: ModeAuto, outcome: OutcomeChange, target: 25, rec: 28},
		{name: "set-point in force unknown", in: func(in *Input) { in.HasCurrent, in.Current = false, 0 },
			mode: ModeFallback, outcome: OutcomeFallback, target: 0},
		{name: "fallback outside the bounds still comes inside", in: func(in *Input) {
			in.Current, in.Fault = 33, FaultInferenceDown
		}, mode: ModeFallback, outcome: OutcomeChange, target: 30},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := classic()
			if tt.limits != nil {
				tt.limits(&l)
			}
			in := input(l)
			if tt.in != nil {
				tt.in(&in)
			}
			d := l.Decide(in)
			if d.Mode != tt.mode || d.Outcome != tt.outcome || d.Target != tt.target || d.Change != (tt.outcome == OutcomeChange) {
				t.Errorf("Decide = mode %s outcome %s target %v change %v (%s); want %s %s %v",
					d.Mode, d.Outcome, d.Target, d.Change, d.Why, tt.mode, tt.outcome, tt.target)
			}
			if got := map[bool]float64{true: d.Recommended}[d.HasRecommended]; got != tt.rec {
				t.Errorf("recommended %v (has %v), want %v", d.Recommended, d.HasRecommended, tt.rec)
			}
			if d.Change && !l.InBounds(d.Target) {
				t.Errorf("target %v outside the bounds", d.Target)
			}
			if d.Why == "" {
				t.Error("no Why")
			}
		})
	}
}

func TestOverride(t *testing.T) {
	l := classic()
	until, err := OverrideUntil(t0, 0, time.Hour, 24*time.Hour)
	if err != nil || !until.Equal(t0.Add(time.Hour)) {
		t.Fatalf("default duration: %v %v", until, err)
	}
	if u, err := OverrideUntil(t0, 2*time.Hour, time.Hour, 24*time.Hour); err != nil || !u.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("2h: %v %v", u, err)
	}
	for _, d := range []time.Duration{-time.Minute, 25 * time.Hour} {
		if _, err := OverrideUntil(t0, d, time.Hour, 24*time.Hour); !errors.Is(err, ErrDuration) {
			t.Errorf("OverrideUntil(%v) = %v, want ErrDuration", d, err)
		}
	}
	o := &Override{Setpoint: 22, User: "kim", Reason: "maintenance", Since: t0, Until: until}

	in := input(l)
	in.Override = o
	d := l.Decide(in)
	if d.Mode != ModeOverride || d.Outcome != OutcomeOverride || d.Change || d.OverrideExpired || !strings.Contains(d.Why, "kim") {
		t.Errorf("override in force: %+v", d)
	}
	if !d.HasRecommended || d.Recommended != 28 {
		t.Errorf("under an override the recommendation is still computed: %+v", d)
	}
	// Even a stale sensor or a broken model leave the operator in charge, and are shown.
	in.LastReading, in.Fault = time.Time{}, FaultNaN
	if d := l.Decide(in); d.Mode != ModeOverride || !d.Stale || d.Fault != FaultNaN || d.Change {
		t.Errorf("override with stale sensor and fault: %+v", d)
	}

	// Expired: reported, and automation resumes in the same decision.
	in = input(l)
	in.Override, in.Now, in.LastReading = o, until, until.Add(-10*time.Second)
	d = l.Decide(in)
	if !d.OverrideExpired || d.Mode != ModeAuto || !d.Change || d.Target != 25 {
		t.Errorf("at expiry: %+v, want expired and automation resumed", d)
	}
	if o.Active(until) || !o.Active(until.Add(-time.Nanosecond)) || (*Override)(nil).Active(t0) {
		t.Error("Active is wrong at the edges")
	}
}

func TestCancel(t *testing.T) {
	o := &Override{Setpoint: 22, User: "kim", Since: t0, Until: t0.Add(time.Hour)}
	if err := Cancel(o, t0.Add(time.Minute)); err != nil {
		t.Errorf("cancel in force: %v", err)
	}
	for _, tt := range []struct {
		name string
		o    *Override
	}{{"none", nil}, {"expired", o}} {
		if err := Cancel(tt.o, t0.Add(2*time.Hour)); !errors.Is(err, ErrNoOverride) {
			t.Errorf("%s: Cancel = %v, want ErrNoOverride", tt.name, err)
		}
	}
	// Cancelled (the caller drops it): the next decision is automatic.
	l := classic()
	if d := l.Decide(input(l)); d.Mode != ModeAuto || d.OverrideExpired {
		t.Errorf("after cancel: %+v", d)
	}
}

// Whatever the input, a change stays within the bounds and within max-step of the
// set-point in force (unless that was outside the bounds).
func TestDecideInvariants(t *testing.T) {
	l := classic()
	for cur := 10.0; cur <= 36; cur++ {
		for base := 10.0; base <= 35; base += 2.5 {
			for _, safe := range []float64{0, 14, 20, 33} {
				in := input(l)
				in.Current = cur
				in.Predictions = preds(l, base, 0.7, 50)
				if safe != 0 {
					in.Fault, in.LastSafe, in.HasLastSafe = FaultInferenceDown, safe, true
				}
				d := l.Decide(in)
				if !d.Change {
					continue
				}
				if !l.InBounds(d.Target) || d.Target != math.Trunc(d.Target) {
					t.Fatalf("cur %v base %v safe %v: target %v", cur, base, safe, d.Target)
				}
				if l.InBounds(cur) && math.Abs(d.Target-cur) > l.MaxStep {
					t.Fatalf("cur %v base %v safe %v: jumped to %v", cur, base, safe, d.Target)
				}
			}
		}
	}
}

// classic is DefaultLimits as the rules were before the dead band: margin 1, no dead
// band, no raise interval; most tests below pin their numbers on it.
func classic() Limits {
	l := DefaultLimits()
	l.Margin, l.Deadband, l.RaiseEvery = 1, 0, 0
	return l
}

// A warmer set-point needs room below the ceiling (the dead band) and time since the
// last change; a cooler one needs neither.
func TestDeadbandAndRaiseEvery(t *testing.T) {
	l := classic()
	l.Deadband, l.RaiseEvery = 0.3, 30*time.Minute
	// The room at s C settles near s + 2 C: the ceiling (26 C) is met at 24 C,
	// and 24 C is within 0.3 C of it only if its prediction is above 25.7 C.
	at := func(slope float64) []Prediction {
		var ps []Prediction
		for _, c := range l.Candidates() {
			ps = append(ps, Prediction{Setpoint: c, Temperature: c + slope, Humidity: 50, HasHumidity: true})
		}
		return ps
	}
	for _, tt := range []struct {
		name       string
		current    float64
		slope      float64
		lastChange time.Duration // ago; 0: never
		want       float64
		outcome    Outcome
	}{
		{"warmer with room below the ceiling", 22, 1.5, 0, 23, OutcomeChange},
		{"warmer only up to the dead band", 23, 1.9, 0, 23, OutcomeHysteresis},
		{"warmer but too soon after a change", 22, 1.5, 10 * time.Minute, 22, OutcomeHysteresis},
		{"warmer once the raise interval passed", 22, 1.5, 31 * time.Minute, 23, OutcomeChange},
		{"cooler at once, even right after a change", 25, 2, 5 * time.Minute, 24, OutcomeChange},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := input(l)
			in.Current, in.Predictions = tt.current, at(tt.slope)
			if tt.lastChange > 0 {
				in.LastChange = in.Now.Add(-tt.lastChange)
			}
			d := l.Decide(in)
			if d.Target != tt.want || d.Outcome != tt.outcome {
				t.Errorf("Decide = %s -> %v (%s), want %v (%s)", d.Outcome, d.Target, d.Why, tt.want, tt.outcome)
			}
		})
	}
	bad := l
	bad.Deadband = -1
	if err := bad.Validate(); err == nil {
		t.Error("a negative dead band passed Validate")
	}
}
