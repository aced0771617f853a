package policy

import (
	"math"
	"strings"
	"testing"
	"time"
)

// forecast is one made at t0+made minutes for 10 minutes later, at set-point sp.
func forecast(made int, sp, temp float64) Forecast {
	at := t0.Add(time.Duration(made) * time.Minute)
	return Forecast{Made: at, Due: at.Add(10 * time.Minute), Within: 30 * time.Second, Setpoint: sp, Temperature: temp}
}

func minute(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

func TestMarginTrackerScoresForecasts(t *testing.T) {
	for _, tt := range []struct {
		name     string
		forecast Forecast
		readings []struct {
			at       int
			temp, sp float64
		}
		wantErrs         []float64
		scored, dropped  int
		pendingAfterward bool
	}{
		{name: "scored at its due time", forecast: forecast(0, 24, 25.0),
			readings: []struct {
				at       int
				temp, sp float64
			}{{0, 24.0, 22}, {5, 24.6, 24}, {10, 25.3, 24}, {10, 25.3, 24}, {11, 26, 24}},
			wantErrs: []float64{0.3}, scored: 1},
		{name: "set-point changed before it was due", forecast: forecast(0, 24, 25.0),
			readings: []struct {
				at       int
				temp, sp float64
			}{{5, 24.6, 24}, {6, 24.6, 23}, {10, 25.3, 24}},
			dropped: 1},
		{name: "no reading near its due time", forecast: forecast(0, 24, 25.0),
			readings: []struct {
				at       int
				temp, sp float64
			}{{9, 24.6, 24}, {12, 25.3, 24}},
			dropped: 1},
		{name: "not due yet", forecast: forecast(0, 24, 25.0),
			readings: []struct {
				at       int
				temp, sp float64
			}{{3, 24.6, 24}, {4, math.NaN(), 24}},
			pendingAfterward: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewMarginTracker(10)
			tr.Expect(tt.forecast)
			tr.Expect(Forecast{Made: t0, Due: minute(10), Temperature: math.NaN()}) // ignored
			for _, r := range tt.readings {
				tr.Observe(minute(r.at), r.temp, r.sp)
			}
			if tr.Scored() != tt.scored || tr.Dropped() != tt.dropped || tr.Len() != len(tt.wantErrs) {
				t.Fatalf("scored %d dropped %d kept %d, want %d %d %d", tr.Scored(), tr.Dropped(), tr.Len(), tt.scored, tt.dropped, len(tt.wantErrs))
			}
			for i, want := range tt.wantErrs {
				if math.Abs(tr.errs[i]-want) > 1e-9 {
					t.Errorf("error %d = %v, want %v", i, tr.errs[i], want)
				}
			}
			if got := len(tr.pending) > 0; got != tt.pendingAfterward {
				t.Errorf("pending %v, want %v", tr.pending, tt.pendingAfterward)
			}
		})
	}
}

// trackerWith holds n scored forecasts whose errors are errs, repeated.
func trackerWith(size, n int, errs ...float64) *MarginTracker {
	tr := NewMarginTracker(size)
	for i := range n {
		tr.Expect(forecast(i*20, 24, 25))
		tr.Observe(minute(i*20+10), 25+errs[i%len(errs)], 24)
	}
	return tr
}

func TestMarginTrackerKeepsTheLatest(t *testing.T) {
	tr := NewMarginTracker(4)
	for i, e := range []float64{5, 5, 5, 5, 0.1, 0.2, 0.3, 0.4} {
		tr.Expect(forecast(i*20, 24, 25))
		tr.Observe(minute(i*20+10), 25+e, 24)
	}
	if tr.Len() != 4 || tr.Scored() != 8 {
		t.Fatalf("kept %d scored %d, want 4 and 8", tr.Len(), tr.Scored())
	}
	if q := tr.Quantile(1); math.Abs(q-0.4) > 1e-9 {
		t.Errorf("largest error kept %v, want 0.4: the old ones are gone", q)
	}
	if q := NewMarginTracker(3).Quantile(0.99); q != 0 {
		t.Errorf("empty tracker's quantile %v, want 0", q)
	}
}

func TestMarginFrom(t *testing.T) {
	l := DefaultLimits()
	l.MarginSamples = 20
	off := l
	off.MarginQuantile = 0
	// Twenty small errors, at most 0.08 C.
	small := append(make([]float64, 0, 20), 0.05, -0.1, 0.08, 0.02, -0.04, 0.01, 0.06, 0.07, 0.03, 0.0,
		0.05, -0.1, 0.08, 0.02, -0.04, 0.01, 0.06, 0.07, 0.03, 0.04)
	for _, tt := range []struct {
		name    string
		l       Limits
		tr      *MarginTracker
		want    float64
		learned bool
		how     string
	}{
		{"no tracker", l, nil, 0.5, false, "until 0 of 20"},
		{"too few scored", l, trackerWith(20, 19, small...), 0.5, false, "until 19 of 20"},
		{"learning off", off, trackerWith(20, 20, small...), 0.5, false, "set"},
		{"small errors: the floor", l, trackerWith(20, 20, small...), 0.2, true, "0.99-quantile of 20"},
		{"large errors widen it", l, trackerWith(20, 20, 0.7, 0.8), 0.8, true, "0.99-quantile of 20"},
		{"a biased-high model: the floor", l, trackerWith(20, 20, -0.5, -0.6), 0.2, true, "floor 0.2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, learned, how := tt.l.MarginFrom(tt.tr)
			if math.Abs(m-tt.want) > 1e-9 || learned != tt.learned || !strings.Contains(how, tt.how) {
				t.Errorf("MarginFrom = %v %v %q, want %v %v and %q", m, learned, how, tt.want, tt.learned, tt.how)
			}
		})
	}
	q := l
	q.MarginQuantile, q.MarginFloor = 0.5, 0
	if m, _, _ := q.MarginFrom(trackerWith(20, 20, 0.123, 0.123)); m != 0.13 {
		t.Errorf("learned margin %v, want 0.123 rounded up to 0.13", m)
	}
}

// Decide keeps the learned margin below the limit: a model proven accurate lets the
// set-point rise closer to the limit than the set margin would, one proven worse keeps
// it further away.
func TestDecideWithTheLearnedMargin(t *testing.T) {
	l := DefaultLimits()
	l.Deadband, l.RaiseEvery, l.MarginSamples = 0, 0, 20
	in := input(l)
	in.Predictions = preds(l, 20, 0.5, 50) // 26.5 C at 29 C, 26 C at 28 C, 25.5 C at 27 C
	in.Current = 27
	for _, tt := range []struct {
		name    string
		margins *MarginTracker
		target  float64
		margin  float64
		learned bool
		why     string
	}{
		{"set margin 0.5: ceiling 26.5", nil, 28, 0.5, false, "margin 0.5 (set, until 0 of 20"},
		{"accurate model: ceiling 26.8", trackerWith(20, 20, 0.05, -0.05), 28, 0.2, true, "ceiling 26.8 C = limit 27 - margin 0.2 (learned"},
		{"poor model: ceiling 25.4", trackerWith(20, 20, 1.6, 1.4), 26, 1.6, true, "margin 1.6 (learned"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := in
			in.Margins = tt.margins
			d := l.Decide(in)
			if d.Target != tt.target || d.Margin != tt.margin || d.MarginLearned != tt.learned || !strings.Contains(d.Why, tt.why) {
				t.Errorf("Decide: target %v margin %v learned %v why %q; want %v %v %v and %q", d.Target, d.Margin, d.MarginLearned, d.Why, tt.target, tt.margin, tt.learned, tt.why)
			}
		})
	}
}
