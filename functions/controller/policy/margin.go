package policy

import (
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/stat"
)

// The learned margin.
//
// A fixed margin has to be chosen before anyone knows how wrong the model is in this
// room: too small and the inlet breaks the limit, too large and energy is wasted. So
// the controller keeps score. Every decision leaves a forecast (the model's inlet
// temperature for the set-point in force, Horizon steps ahead); when that time comes,
// the reading says how wrong it was. Once Limits.MarginSamples forecasts are scored,
// the margin is the MarginQuantile of the latest errors (how far the inlet came out
// warmer than forecast), but never below MarginFloor. Until then, and with learning
// off, it is Limits.Margin. A model that turns out worse than the margin assumed makes
// the learned margin larger than Margin: the evidence widens it as readily as it
// narrows it.

// Forecast is a prediction waiting for its reading: the inlet Temperature the model
// expected at Due with Setpoint in force from Made on. A reading within Within of Due
// scores it.
type Forecast struct {
	Made, Due   time.Time
	Within      time.Duration
	Setpoint    float64
	Temperature float64
}

// MarginTracker scores one sector's forecasts against its readings and keeps the
// latest errors (reading minus forecast, C). Its zero value is not usable: use
// NewMarginTracker. It is not safe for concurrent use (the loop holds a sector's lock).
type MarginTracker struct {
	pending []Forecast
	errs    []float64 // ring of the latest cap(errs) errors
	next    int
	sorted  []float64 // errs sorted, nil when stale
	scored  int       // forecasts scored in all
	dropped int       // forecasts dropped: the set-point changed, or no reading came in time
	newest  time.Time // the newest reading observed
}

// maxPending bounds the forecasts waiting, should readings stop arriving.
const maxPending = 64

// NewMarginTracker keeps the latest size errors (size >= 1).
func NewMarginTracker(size int) *MarginTracker {
	return &MarginTracker{errs: make([]float64, 0, max(size, 1))}
}

// Expect adds a forecast. One that is not finite is ignored.
func (t *MarginTracker) Expect(f Forecast) {
	if !finite(f.Temperature) || !f.Due.After(f.Made) {
		return
	}
	if len(t.pending) == maxPending {
		t.pending = t.pending[1:]
		t.dropped++
	}
	t.pending = append(t.pending, f)
}

// ExpectFor adds the forecast among preds for setpoint, made at made for horizon
// later, scored by a reading within half a step of it.
func (t *MarginTracker) ExpectFor(made time.Time, horizon, step time.Duration, setpoint float64, preds []Prediction) {
	for _, p := range preds {
		if p.Setpoint == setpoint {
			t.Expect(Forecast{Made: made, Due: made.Add(horizon), Within: step / 2, Setpoint: setpoint, Temperature: p.Temperature})
		}
	}
}

// Observe gives the tracker one reading: the inlet temperature at `at` with setpoint in
// force. Readings are given oldest first; one not newer than the newest already given
// is ignored, so overlapping windows can be given whole. A
// forecast whose set-point is no longer in force, or whose due time has passed without
// a reading near it, is dropped unscored: it says nothing about the model.
func (t *MarginTracker) Observe(at time.Time, temperature, setpoint float64) {
	if !finite(temperature) || !at.After(t.newest) {
		return
	}
	t.newest = at
	keep := t.pending[:0]
	for _, f := range t.pending {
		switch {
		case !at.After(f.Made):
			keep = append(keep, f)
		case setpoint != f.Setpoint:
			t.dropped++
		case absDuration(at.Sub(f.Due)) <= f.Within:
			t.add(temperature - f.Temperature)
		case at.After(f.Due):
			t.dropped++
		default:
			keep = append(keep, f)
		}
	}
	clear(t.pending[len(keep):])
	t.pending = keep
}

func (t *MarginTracker) add(e float64) {
	if len(t.errs) < cap(t.errs) {
		t.errs = append(t.errs, e)
	} else {
		t.errs[t.next] = e
		t.next = (t.next + 1) % len(t.errs)
	}
	t.sorted = nil
	t.scored++
}

// Len is the number of errors kept (at most the size given to NewMarginTracker).
func (t *MarginTracker) Len() int { return len(t.errs) }

// Scored and Dropped count the forecasts scored and dropped since the start.
func (t *MarginTracker) Scored() int  { return t.scored }
func (t *MarginTracker) Dropped() int { return t.dropped }

// Quantile is the empirical q-quantile of the errors kept; 0 when there are none.
func (t *MarginTracker) Quantile(q float64) float64 {
	if len(t.errs) == 0 {
		return 0
	}
	if t.sorted == nil {
		t.sorted = slices.Clone(t.errs)
		slices.Sort(t.sorted)
	}
	return stat.Quantile(q, stat.Empirical, t.sorted, nil)
}

// MarginFrom is what Decide keeps below the limit: with learning on (MarginQuantile > 0)
// and at least MarginSamples errors kept, the MarginQuantile of the errors but at least
// MarginFloor; otherwise Margin. how says which, in words for the decision's Why.
func (l Limits) MarginFrom(t *MarginTracker) (margin float64, learned bool, how string) {
	if l.MarginQuantile <= 0 || t == nil || t.Len() < l.MarginSamples {
		n := 0
		if t != nil {
			n = t.Len()
		}
		if l.MarginQuantile <= 0 {
			return l.Margin, false, "set"
		}
		return l.Margin, false, fmt.Sprintf("set, until %d of %d forecasts are scored", n, l.MarginSamples)
	}
	q := t.Quantile(l.MarginQuantile)
	m := math.Ceil(max(q, l.MarginFloor)*100-1e-9) / 100 // to 0.01 C upwards (a tenth of the sensor's resolution), not for float noise
	return m, true, fmt.Sprintf("learned: %s-quantile of %d forecast errors %.2f C, floor %s C", deg(l.MarginQuantile), t.Len(), q, deg(l.MarginFloor))
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
