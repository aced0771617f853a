// Package policy holds the controller's rules as pure functions: no I/O, no clock, no
// goroutines. Every input, the time included, is passed in, so each rule is tested on
// its own and the loop (package loop) only gathers inputs and carries out decisions.
//
// # The rules, in the order Decide applies them
//
//  1. Override: while a manual set-point is in force (Override.Active), automation
//     changes nothing; the recommendation is still computed and shown. An override
//     that has run out is reported (Decision.OverrideExpired) and automation resumes.
//  2. Stale sensor: no temperature or humidity reading for longer than Limits.Stale
//     stops automation for the sector (ModeStale); nothing is recommended or changed.
//  3. Fallback: a fault of the model or its input (see Fault: inference down, no model,
//     NaN, out of range, stale model, ...) moves towards the last safe set-point, the
//     last one recommended from good model output, or holds the current set-point when
//     none is known (ModeFallback).
//  4. Choice: of the candidates (whole degrees within Min..Max), the highest whose
//     predicted inlet temperature is at or below Limit-margin (Margin, or the margin
//     learned from the sector's forecast errors: see MarginFrom) and whose predicted
//     relative humidity lies within RHMin..RHMax (see Choose for what happens when none
//     does).
//  5. Hysteresis: a change smaller than Limits.Hysteresis is not made, unless the
//     current set-point is outside the bounds or predicted to break the temperature
//     limit (cooling for safety is never held back). A warmer set-point is made only
//     when its predicted temperature is at least Limits.Deadband below the ceiling,
//     and not within Limits.RaiseEvery of the last automated change: the room then
//     settles in a band instead of swapping between two set-points at the ceiling.
//  6. Rate: at most one automated change per interval (a change less than half an
//     interval after the last is held, which tolerates a tick's jitter), and each by
//     at most Limits.MaxStep; only a set-point outside Min..Max is brought inside at
//     once.
//  7. Bounds: what is applied is always within Min..Max, in whole degrees.
package policy

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Plausible ranges of a prediction: outside them the model's output is garbage, not a
// forecast of a server room (Fault FaultOutOfRange).
const (
	PlausibleTempMin = -10.0
	PlausibleTempMax = 60.0
	PlausibleRHMin   = 0.0
	PlausibleRHMax   = 100.0
)

// Limits are the controller's settings the rules use. DefaultLimits gives the defaults;
// Validate checks them.
type Limits struct {
	// Min and Max bound every set-point the controller applies or accepts, C (default
	// 16 and 30, the firmware's own default bounds; keep them within each Pi's bounds).
	Min, Max float64
	// MaxStep is the largest automated change per interval, C (default 1, at least 1:
	// the air conditioner takes whole degrees).
	MaxStep float64
	// Hysteresis: a recommendation closer than this to the current set-point is not
	// applied, C (default 1, which with whole degrees lets every change through; 2
	// holds a one-degree change).
	Hysteresis float64
	// TempLimit is the highest inlet temperature allowed, C (default 27, ASHRAE's
	// recommended upper bound); Margin is kept below it until a margin is learned
	// (default 0.5: five times the trainer's held-out error on simulated rooms, a
	// guess made before this room's forecasts are scored).
	TempLimit, Margin float64
	// Deadband: a warmer set-point is applied only when predicted at least this far
	// below the ceiling, C (default 0.3).
	Deadband float64
	// RaiseEvery: a warmer set-point is applied at most once in this time after the
	// last automated change (default 30m; cooler ones are never held back).
	RaiseEvery time.Duration
	// MarginQuantile turns the learned margin on (see MarginFrom): once MarginSamples
	// forecasts are scored, the margin is this quantile of the latest MarginSamples
	// errors, but at least MarginFloor (defaults 0.99, 288 and 0.2 C, twice the
	// DHT22's 0.1 C resolution: no tighter than the readings can show; a quantile of 0
	// keeps Margin always). Margin holds until then.
	MarginQuantile, MarginFloor float64
	MarginSamples               int
	// RHMin and RHMax bound the predicted relative humidity, % (default 20 and 80).
	RHMin, RHMax float64
	// Stale is how long a sector may go without a reading before automation stops for
	// it (default 5m).
	Stale time.Duration
	// ModelMaxAge: a model trained longer ago than this is stale (FaultStaleModel);
	// 0 (the default) does not check. Only models that state when they were trained can
	// be checked.
	ModelMaxAge time.Duration
}

// DefaultLimits returns the defaults named on each field of Limits.
func DefaultLimits() Limits {
	return Limits{
		Min: 16, Max: 30, MaxStep: 1, Hysteresis: 1,
		TempLimit: 27, Margin: 0.5, MarginQuantile: 0.99, MarginFloor: 0.2, MarginSamples: 288, Deadband: 0.3, RaiseEvery: 30 * time.Minute, RHMin: 20, RHMax: 80,
		Stale: 5 * time.Minute,
	}
}

// ErrLimits is wrapped by Validate's errors.
var ErrLimits = errors.New("policy: bad limits")

// Validate checks the limits; the error names the field.
func (l Limits) Validate() error {
	bad := func(field string, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrLimits, field, fmt.Sprintf(format, args...))
	}
	switch {
	case !finite(l.Min) || !finite(l.Max) || l.Min < 5 || l.Max > 40 || l.Max-l.Min < 1:
		return bad("min/max", "want 5 <= min, min+1 <= max <= 40, have %v..%v", l.Min, l.Max)
	case math.Ceil(l.Min) > math.Floor(l.Max):
		return bad("min/max", "%v..%v holds no whole degree", l.Min, l.Max)
	case !finite(l.MaxStep) || l.MaxStep < 1 || l.MaxStep > 10:
		return bad("max-step", "want 1 to 10, have %v", l.MaxStep)
	case !finite(l.Hysteresis) || l.Hysteresis < 0 || l.Hysteresis > 10:
		return bad("hysteresis", "want 0 to 10, have %v", l.Hysteresis)
	case !finite(l.TempLimit) || l.TempLimit < 10 || l.TempLimit > 45:
		return bad("limit", "want 10 to 45, have %v", l.TempLimit)
	case !finite(l.Margin) || l.Margin < 0 || l.Margin > 10:
		return bad("margin", "want 0 to 10, have %v", l.Margin)
	case !finite(l.MarginQuantile) || l.MarginQuantile < 0 || l.MarginQuantile >= 1 || (l.MarginQuantile > 0 && l.MarginQuantile < 0.5):
		return bad("margin-quantile", "want 0 (off) or 0.5 to below 1, have %v", l.MarginQuantile)
	case l.MarginQuantile > 0 && (!finite(l.MarginFloor) || l.MarginFloor < 0 || l.MarginFloor > 10):
		return bad("margin-floor", "want 0 to 10, have %v", l.MarginFloor)
	case l.MarginQuantile > 0 && (l.MarginSamples < 10 || l.MarginSamples > 100000):
		return bad("margin-samples", "want 10 to 100000, have %d", l.MarginSamples)
	case !finite(l.Deadband) || l.Deadband < 0 || l.Deadband > 5:
		return bad("deadband", "want 0 to 5, have %v", l.Deadband)
	case l.RaiseEvery < 0:
		return bad("raise-every", "want 0 (off) or more, have %v", l.RaiseEvery)
	case !finite(l.RHMin) || !finite(l.RHMax) || l.RHMin < 0 || l.RHMax > 100 || l.RHMin >= l.RHMax:
		return bad("rh-min/rh-max", "want 0 <= rh-min < rh-max <= 100, have %v..%v", l.RHMin, l.RHMax)
	case l.Stale < time.Second:
		return bad("stale", "want at least 1s, have %v", l.Stale)
	case l.ModelMaxAge < 0:
		return bad("model-max-age", "want 0 (off) or more, have %v", l.ModelMaxAge)
	}
	return nil
}

// Ceiling is the highest predicted temperature a candidate may have: TempLimit-Margin.
func (l Limits) Ceiling() float64 { return l.TempLimit - l.Margin }

// Candidates are the set-points the model is asked about: every whole degree within
// Min..Max, ascending.
func (l Limits) Candidates() []float64 {
	var cs []float64
	for c := math.Ceil(l.Min); c <= math.Floor(l.Max); c++ {
		cs = append(cs, c)
	}
	return cs
}

// Clamp returns c within Min..Max, in whole degrees: rounded, then moved to the nearest
// whole degree inside the bounds.
func (l Limits) Clamp(c float64) float64 {
	c = math.Round(c)
	if lo := math.Ceil(l.Min); c < lo {
		return lo
	}
	if hi := math.Floor(l.Max); c > hi {
		return hi
	}
	return c
}

// InBounds reports whether c lies within Min..Max.
func (l Limits) InBounds(c float64) bool { return c >= l.Min && c <= l.Max }

// ErrBounds is wrapped by CheckManual's errors: the set-point is not one to apply.
var ErrBounds = errors.New("set-point refused")

// CheckManual checks an operator's set-point: a whole number of degrees within
// Min..Max.
func (l Limits) CheckManual(c float64) error {
	switch {
	case !finite(c):
		return fmt.Errorf("%w: not a number", ErrBounds)
	case c != math.Trunc(c):
		return fmt.Errorf("%w: %v C is not a whole degree (the air conditioner takes whole degrees)", ErrBounds, c)
	case !l.InBounds(c):
		return fmt.Errorf("%w: %v C is outside %v..%v C", ErrBounds, c, l.Min, l.Max)
	}
	return nil
}

// Step moves from current towards target by at most maxStep (>= 1) and returns a whole
// degree: target itself when it is within reach, else the whole degree at most maxStep
// away in its direction.
func Step(current, target, maxStep float64) float64 {
	d := target - current
	switch {
	case math.Abs(d) <= maxStep:
		return target
	case d > 0:
		return math.Floor(current + maxStep)
	default:
		return math.Ceil(current - maxStep)
	}
}

// Prediction is the model's answer for one candidate set-point: the inlet temperature
// (C) and, if the model predicts it (HasHumidity), the relative humidity (%), Horizon
// steps ahead.
type Prediction struct {
	Setpoint    float64 `json:"setpoint"`
	Temperature float64 `json:"temperature"`
	Humidity    float64 `json:"humidity,omitempty"`
	HasHumidity bool    `json:"-"`
}

// Fault names why the model's answer cannot be used; it is the "reason" label of the
// fallback metric. "" is no fault.
type Fault string

// The faults. Each makes Decide fall back (rule 3).
const (
	// FaultInferenceDown: the inference server did not answer, or answered 5xx.
	FaultInferenceDown Fault = "inference_down"
	// FaultNoModel: the inference server has no such model (404).
	FaultNoModel Fault = "no_model"
	// FaultBadSignature: the model's metadata is missing our signature, or it is
	// unusable (no setpoint feature, no temperature output, ...).
	FaultBadSignature Fault = "bad_signature"
	// FaultRejected: the inference server refused the request (4xx other than 404).
	FaultRejected Fault = "rejected"
	// FaultMalformed: the answer is not the predictions asked for (not JSON, wrong
	// count, wrong shape).
	FaultMalformed Fault = "malformed"
	// FaultNaN: a prediction is NaN or infinite.
	FaultNaN Fault = "nan"
	// FaultOutOfRange: a prediction lies outside the plausible ranges.
	FaultOutOfRange Fault = "out_of_range"
	// FaultStaleModel: the model was trained longer ago than Limits.ModelMaxAge.
	FaultStaleModel Fault = "stale_model"
	// FaultNoWindow: the window the model needs could not be read, or is too short.
	FaultNoWindow Fault = "no_window"
)

// Faults lists every fault, for metrics that start each at zero.
var Faults = []Fault{FaultInferenceDown, FaultNoModel, FaultBadSignature, FaultRejected,
	FaultMalformed, FaultNaN, FaultOutOfRange, FaultStaleModel, FaultNoWindow}

// CheckModel reports FaultStaleModel when ModelMaxAge is set and the model was trained
// (trainedAt, zero when unknown) longer ago than that.
func (l Limits) CheckModel(trainedAt, now time.Time) Fault {
	if l.ModelMaxAge > 0 && !trainedAt.IsZero() && now.Sub(trainedAt) > l.ModelMaxAge {
		return FaultStaleModel
	}
	return ""
}

// CheckPredictions checks the model's answers against the candidates asked about: one
// prediction per candidate, same set-point, every number finite and plausible.
func CheckPredictions(preds []Prediction, candidates []float64) Fault {
	if len(preds) != len(candidates) || len(preds) == 0 {
		return FaultMalformed
	}
	for i, p := range preds {
		if p.Setpoint != candidates[i] {
			return FaultMalformed
		}
		if !finite(p.Temperature) || (p.HasHumidity && !finite(p.Humidity)) {
			return FaultNaN
		}
		if p.Temperature < PlausibleTempMin || p.Temperature > PlausibleTempMax ||
			(p.HasHumidity && (p.Humidity < PlausibleRHMin || p.Humidity > PlausibleRHMax)) {
			return FaultOutOfRange
		}
	}
	return ""
}

// Rule says how Choose picked its set-point.
type Rule string

// The rules of Choose.
const (
	// RuleWithinLimits: the highest candidate within every limit.
	RuleWithinLimits Rule = "within_limits"
	// RuleHumidity: no candidate keeps humidity within range; of those cool enough, the
	// one whose humidity is closest to the range (the highest of equals).
	RuleHumidity Rule = "humidity_closest"
	// RuleCoolest: no candidate keeps the temperature at or below the ceiling; the
	// lowest candidate, the most cooling there is.
	RuleCoolest Rule = "coolest"
)

// Choice is what Choose recommends and the prediction it rests on.
type Choice struct {
	Setpoint   float64
	Prediction Prediction
	Rule       Rule
}

// Choose picks from checked predictions (CheckPredictions found no fault; ascending
// set-points): the highest set-point whose temperature is at or below Ceiling and whose
// humidity (when predicted) is within RHMin..RHMax. Temperature comes first: when no
// candidate meets both, the one cool enough whose humidity is closest to the range;
// when none is cool enough, the coolest.
func (l Limits) Choose(preds []Prediction) Choice {
	best, bestMiss := -1, math.Inf(1)
	for i, p := range preds {
		if p.Temperature > l.Ceiling() {
			continue
		}
		miss := 0.0
		if p.HasHumidity {
			miss = math.Max(l.RHMin-p.Humidity, p.Humidity-l.RHMax)
			miss = math.Max(miss, 0)
		}
		if miss <= bestMiss { // ascending: the later of equals is the higher set-point
			best, bestMiss = i, miss
		}
	}
	switch {
	case best < 0:
		return Choice{Setpoint: preds[0].Setpoint, Prediction: preds[0], Rule: RuleCoolest}
	case bestMiss > 0:
		return Choice{Setpoint: preds[best].Setpoint, Prediction: preds[best], Rule: RuleHumidity}
	}
	return Choice{Setpoint: preds[best].Setpoint, Prediction: preds[best], Rule: RuleWithinLimits}
}

// Override is a manual set-point in force: automation changes nothing until Until.
type Override struct {
	Setpoint float64
	User     string
	Reason   string
	Since    time.Time
	Until    time.Time
}

// Active reports whether o is in force at now (nil is not).
func (o *Override) Active(now time.Time) bool { return o != nil && now.Before(o.Until) }

// ErrNoOverride is returned by Cancel when no override is in force.
var ErrNoOverride = errors.New("no override in force")

// Cancel checks that o can be cancelled at now: it must be in force.
func Cancel(o *Override, now time.Time) error {
	if !o.Active(now) {
		return ErrNoOverride
	}
	return nil
}

// ErrDuration is wrapped by OverrideUntil's errors.
var ErrDuration = errors.New("override duration refused")

// OverrideUntil is when an override asked for at now with duration d ends: d, or def
// when d is 0; d must be positive and at most max.
func OverrideUntil(now time.Time, d, def, max time.Duration) (time.Time, error) {
	if d == 0 {
		d = def
	}
	if d <= 0 || d > max {
		return time.Time{}, fmt.Errorf("%w: %v, want more than 0 and at most %v", ErrDuration, d, max)
	}
	return now.Add(d), nil
}

// Mode is a sector's automation state, as GET /api/v1/state shows it.
type Mode string

// The modes.
const (
	ModeAuto     Mode = "auto"
	ModeOverride Mode = "override"
	ModeStale    Mode = "stale"
	ModeFallback Mode = "fallback"
)

// Outcome is what a decision came to; it is the "outcome" label of the decision metric.
type Outcome string

// The outcomes.
const (
	// OutcomeChange: a new set-point is to be applied.
	OutcomeChange Outcome = "change"
	// OutcomeHold: the set-point in force is the one wanted.
	OutcomeHold Outcome = "hold"
	// OutcomeHysteresis: a change smaller than the hysteresis is held back.
	OutcomeHysteresis Outcome = "hysteresis"
	// OutcomeRateLimited: the last automated change is less than an interval ago.
	OutcomeRateLimited Outcome = "rate_limited"
	// OutcomeOverride: a manual set-point is in force.
	OutcomeOverride Outcome = "override"
	// OutcomeStale: the sensor is stale; automation is stopped for the sector.
	OutcomeStale Outcome = "stale"
	// OutcomeFallback: a fault; holding, or moving towards, the last safe set-point.
	OutcomeFallback Outcome = "fallback"
)

// Outcomes lists every outcome, for metrics that start each at zero.
var Outcomes = []Outcome{OutcomeChange, OutcomeHold, OutcomeHysteresis, OutcomeRateLimited,
	OutcomeOverride, OutcomeStale, OutcomeFallback}

// Input is everything one decision for one sector rests on.
type Input struct {
	// Now is the time of the decision.
	Now time.Time
	// Interval is the time between decisions, for the rate rule.
	Interval time.Duration
	// Current is the set-point in force, if known (HasCurrent).
	Current    float64
	HasCurrent bool
	// LastReading is the time of the sector's newest temperature or humidity reading
	// (zero: none).
	LastReading time.Time
	// Override is the manual set-point, if any (it may have run out).
	Override *Override
	// Fault is why the model's answer cannot be used ("" if it can).
	Fault Fault
	// Predictions are the model's answers, one per candidate, ascending (when Fault is
	// "": checked by CheckPredictions first, which the caller may leave to Decide).
	Predictions []Prediction
	// LastSafe is the last set-point recommended from good model output (HasLastSafe).
	LastSafe    float64
	HasLastSafe bool
	// LastChange is when the controller last changed the set-point on its own.
	LastChange time.Time
	// Margins are the sector's scored forecasts, for the learned margin (nil: Margin).
	Margins *MarginTracker
}

// Decision is what Decide concluded.
type Decision struct {
	Mode    Mode
	Outcome Outcome
	// Fault is the fault fallen back for (ModeFallback), also reported under an
	// override so it is counted.
	Fault Fault
	// Stale reports the sensor stale, whatever the mode.
	Stale bool
	// Recommended is the model's choice (HasRecommended), bounded; it is what is stored
	// as recommend_temperature. Prediction is the model's answer for it.
	Recommended    float64
	HasRecommended bool
	Prediction     Prediction
	Rule           Rule
	// Change: Target is to be applied (it differs from the current set-point).
	Change bool
	Target float64
	// OverrideExpired: the override has run out and is to be cleared.
	OverrideExpired bool
	// Margin is the margin decided with (Limits.MarginFrom), MarginLearned whether it
	// was learned from the sector's forecast errors.
	Margin        float64
	MarginLearned bool
	// Why says it in words, for the log, the audit trail and the state.
	Why string
}

// Decide applies the rules of the package doc, in order, to one sector.
func (l Limits) Decide(in Input) Decision {
	d := Decision{Target: in.Current}
	var marginHow string
	l.Margin, d.MarginLearned, marginHow = l.MarginFrom(in.Margins)
	d.Margin = l.Margin
	d.OverrideExpired = in.Override != nil && !in.Override.Active(in.Now)
	d.Stale = in.LastReading.IsZero() || in.Now.Sub(in.LastReading) > l.Stale

	fault := in.Fault
	if fault == "" {
		fault = CheckPredictions(in.Predictions, l.Candidates())
	}
	if fault == "" {
		fault = noSetpoint(in)
	}
	if fault == "" && !d.Stale {
		c := l.Choose(in.Predictions)
		d.Recommended, d.HasRecommended, d.Prediction, d.Rule = c.Setpoint, true, c.Prediction, c.Rule
	}

	switch {
	case in.Override.Active(in.Now):
		d.Mode, d.Outcome, d.Fault = ModeOverride, OutcomeOverride, fault
		d.Why = fmt.Sprintf("manual set-point %s C by %s in force until %s", deg(in.Override.Setpoint), in.Override.User, in.Override.Until.UTC().Format(time.RFC3339))
		return d
	case d.Stale:
		d.Mode, d.Outcome = ModeStale, OutcomeStale
		if in.LastReading.IsZero() {
			d.Why = "no reading from the sector: automation stopped"
		} else {
			d.Why = fmt.Sprintf("no reading for %s (more than %s): automation stopped", in.Now.Sub(in.LastReading).Round(time.Second), l.Stale)
		}
		return d
	case fault != "":
		d.Mode, d.Outcome, d.Fault = ModeFallback, OutcomeFallback, fault
		if !in.HasCurrent {
			d.Why = fmt.Sprintf("fallback (%s): set-point in force unknown, nothing changed", fault)
			return d
		}
		target, what := in.Current, "the set-point in force"
		if in.HasLastSafe {
			target, what = l.Clamp(in.LastSafe), "the last safe set-point"
		}
		d.Why = fmt.Sprintf("fallback (%s): towards %s, %s C", fault, what, deg(target))
		l.move(&d, in, target, false)
		if d.Outcome != OutcomeChange {
			d.Outcome = OutcomeFallback
		}
		return d
	}

	d.Mode = ModeAuto
	urgent := !l.InBounds(in.Current)
	for _, p := range in.Predictions {
		if p.Setpoint == math.Round(in.Current) && p.Temperature > l.Ceiling() {
			urgent = true // the set-point in force is predicted too warm
		}
	}
	d.Why = fmt.Sprintf("model predicts %.1f C%s at %s C (%s); ceiling %s C = limit %s - margin %s (%s), RH %s..%s%%",
		d.Prediction.Temperature, rhText(d.Prediction), deg(d.Recommended), d.Rule,
		deg(l.Ceiling()), deg(l.TempLimit), deg(l.Margin), marginHow, deg(l.RHMin), deg(l.RHMax))
	want := d.Recommended
	if want > in.Current && !urgent && l.InBounds(in.Current) {
		var held string
		if want, held = l.warmer(in); held != "" {
			d.Outcome, d.Target = OutcomeHysteresis, in.Current
			d.Why += "; held at " + deg(in.Current) + " C: " + held
			return d
		}
	}
	l.move(&d, in, want, urgent)
	return d
}

// warmer is the warmest set-point above the one in force, up to the recommended one,
// that rule 5 lets through: predicted at least Deadband below the ceiling, and no
// automated change within RaiseEvery. held says why none is, "" when one is.
func (l Limits) warmer(in Input) (want float64, held string) {
	if l.RaiseEvery > 0 && !in.LastChange.IsZero() && in.Now.Sub(in.LastChange) < l.RaiseEvery {
		return in.Current, fmt.Sprintf("no warmer set-point within %s of the last change (%s ago)", l.RaiseEvery, in.Now.Sub(in.LastChange).Round(time.Second))
	}
	c := l.Choose(in.Predictions)
	want = in.Current
	for _, p := range in.Predictions {
		if p.Setpoint > in.Current && p.Setpoint <= c.Setpoint && p.Temperature <= l.Ceiling()-l.Deadband {
			want = p.Setpoint
		}
	}
	if want == in.Current {
		return want, fmt.Sprintf("a warmer set-point is predicted within %s C of the ceiling (dead band)", deg(l.Deadband))
	}
	return want, ""
}

// noSetpoint is the fault of a decision without a known set-point in force.
func noSetpoint(in Input) Fault {
	if !in.HasCurrent {
		return FaultNoWindow
	}
	return ""
}

// move sets the decision's target from current towards want by rules 5 to 7.
func (l Limits) move(d *Decision, in Input, want float64, urgent bool) {
	cur := in.Current
	outside := !l.InBounds(cur)
	diff := want - cur
	switch {
	case diff == 0 && !outside:
		d.Outcome, d.Target = OutcomeHold, cur
		return
	case math.Abs(diff) < l.Hysteresis && !urgent && !outside:
		d.Outcome, d.Target = OutcomeHysteresis, cur
		d.Why += fmt.Sprintf("; held at %s C: less than the hysteresis of %s C", deg(cur), deg(l.Hysteresis))
		return
	case !outside && !in.LastChange.IsZero() && in.Now.Sub(in.LastChange) < in.Interval/2:
		d.Outcome, d.Target = OutcomeRateLimited, cur
		d.Why += fmt.Sprintf("; held at %s C: last change %s ago", deg(cur), in.Now.Sub(in.LastChange).Round(time.Second))
		return
	}
	target := l.Clamp(cur)
	if !outside {
		target = l.Clamp(Step(cur, want, l.MaxStep))
	}
	if target == cur {
		d.Outcome, d.Target = OutcomeHold, cur
		return
	}
	d.Outcome, d.Change, d.Target = OutcomeChange, true, target
	switch {
	case outside:
		d.Why += fmt.Sprintf("; %s C is outside %s..%s C: to %s C at once", deg(cur), deg(l.Min), deg(l.Max), deg(target))
	case target != want:
		d.Why += fmt.Sprintf("; %s -> %s C (at most %s C per interval)", deg(cur), deg(target), deg(l.MaxStep))
	default:
		d.Why += fmt.Sprintf("; %s -> %s C", deg(cur), deg(target))
	}
}

func rhText(p Prediction) string {
	if !p.HasHumidity {
		return ""
	}
	return fmt.Sprintf(", %.0f%% RH", p.Humidity)
}

// deg formats degrees to 0.01 without trailing zeros.
func deg(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
