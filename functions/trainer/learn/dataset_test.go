package learn

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/model"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// rowsOf makes a device's rows on a one-minute grid from t0; a nil map is a step
// without a row.
func rowsOf(dev string, vals []map[string]float64) []Row {
	var out []Row
	for k, v := range vals {
		if v != nil {
			out = append(out, Row{Device: dev, Time: t0.Add(time.Duration(k) * time.Minute), Values: v})
		}
	}
	return out
}

// steady gives n steps with temperature 20+k, humidity 40+k, setpoint sp(k) and an
// outside temperature; weather and cpu only when asked.
func steady(n int, sp func(k int) float64) []map[string]float64 {
	out := make([]map[string]float64, n)
	for k := range out {
		out[k] = map[string]float64{
			model.FeatureTemperature: 20 + float64(k), model.FeatureHumidity: 40 + float64(k),
			model.FeatureSetpoint: sp(k), model.FeatureExtTemperature: 10, model.FeatureExtHumidity: 60,
			model.FeatureCPU: 5,
		}
	}
	return out
}

func constant(v float64) func(int) float64 { return func(int) float64 { return v } }

var small = BuildOptions{
	Features: []string{model.FeatureTemperature, model.FeatureSetpoint, model.FeatureExtTemperature, model.FeatureWeather, model.FeatureHourSin},
	Steps:    3, Horizon: 2, Step: time.Minute,
}

func TestBuildWindowsAndHorizon(t *testing.T) {
	ds, err := Build(rowsOf("pi-1", steady(10, constant(24))), small)
	if err != nil {
		t.Fatal(err)
	}
	// Windows end at steps 2 .. 7 (7 + horizon 2 = 9, the last step).
	if len(ds.Samples) != 6 || ds.Stats.Windows != 6 || ds.Stats.Samples != 6 || ds.Stats.SkippedGaps != 0 {
		t.Fatalf("%d samples, stats %+v", len(ds.Samples), ds.Stats)
	}
	s := ds.Samples[0]
	if !s.From.Equal(t0) || !s.Time.Equal(t0.Add(2*time.Minute)) || !s.At.Equal(t0.Add(4*time.Minute)) {
		t.Errorf("times %s %s %s", s.From, s.Time, s.At)
	}
	if !slices.Equal(s.Target, []float64{24, 44}) || !slices.Equal(s.Current, []float64{22, 42}) {
		t.Errorf("target %v, current %v; want [24 44] and [22 42]", s.Target, s.Current)
	}
	sin, _ := HourFeatures(t0.Add(time.Minute))
	if want := []float64{21, 24, 10, 0, sin}; !slices.Equal(s.Window[1], want) {
		t.Errorf("window row 1 %v, want %v", s.Window[1], want)
	}
	if !slices.Equal(ds.Stats.Absent, []string{model.FeatureWeather}) || ds.Stats.Rows != 10 || !slices.Equal(ds.Stats.Devices, []string{"pi-1"}) {
		t.Errorf("stats %+v", ds.Stats)
	}
	if !ds.Stats.First.Equal(t0) || !ds.Stats.Last.Equal(t0.Add(9*time.Minute)) {
		t.Errorf("range %s to %s", ds.Stats.First, ds.Stats.Last)
	}
}

// The last window row's set-point is the one in force at the target step, not the
// one measured at the window's end; the rows before keep theirs.
func TestBuildLastRowSetpoint(t *testing.T) {
	// The set-point goes from 24 to 18 at step 3: the window ending at step 2 has
	// target step 4, under 18, and the change happens right after the window.
	vals := steady(8, func(k int) float64 {
		if k < 3 {
			return 24
		}
		return 18
	})
	ds, err := Build(rowsOf("pi-1", vals), small)
	if err != nil {
		t.Fatal(err)
	}
	s := ds.Samples[0]
	if !s.Time.Equal(t0.Add(2 * time.Minute)) {
		t.Fatalf("first sample at %s", s.Time)
	}
	if got := []float64{s.Window[0][1], s.Window[1][1], s.Window[2][1]}; !slices.Equal(got, []float64{24, 24, 18}) {
		t.Errorf("window set-points %v, want [24 24 18]", got)
	}
	for _, s := range ds.Samples[1:] {
		if s.Window[2][1] != 18 {
			t.Errorf("sample at %s: last set-point %v, want 18", s.Time, s.Window[2][1])
		}
	}
}

// A set-point change strictly inside the horizon (not right after the window) means
// no one set-point was applied from the window's end: skipped and counted, or kept
// with KeepHorizonChanges (still labelled with the target step's set-point).
func TestBuildSetpointChangeWithinHorizon(t *testing.T) {
	// Change at step 4: the window ending at 2 (target 4) sees 24 at step 3 and 18 at 4.
	vals := steady(8, func(k int) float64 {
		if k < 4 {
			return 24
		}
		return 18
	})
	ds, err := Build(rowsOf("pi-1", vals), small)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Stats.SkippedSetpointChanges != 1 || len(ds.Samples) != 3 || !ds.Samples[0].Time.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("stats %+v, first sample at %s", ds.Stats, ds.Samples[0].Time)
	}
	keep := small
	keep.KeepHorizonChanges = true
	ds, err = Build(rowsOf("pi-1", vals), keep)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Samples) != 4 || ds.Samples[0].Window[2][1] != 18 || ds.Stats.SkippedSetpointChanges != 0 {
		t.Fatalf("kept: %d samples, first last-row set-point %v", len(ds.Samples), ds.Samples[0].Window[2][1])
	}
}

func TestBuildGapsAndFill(t *testing.T) {
	tests := []struct {
		name    string
		change  func(v []map[string]float64)
		opts    func(o *BuildOptions)
		samples int
		gaps    int
		check   func(t *testing.T, ds *Dataset)
	}{
		{name: "complete", change: func([]map[string]float64) {}, samples: 8},
		// A missing step spoils the windows and targets it belongs to: windows ending
		// at 4, 5, 6 hold it, and the window ending at 2 has it as its target.
		{name: "missing row", change: func(v []map[string]float64) { v[4] = nil }, samples: 4, gaps: 4},
		{name: "missing temperature", change: func(v []map[string]float64) { delete(v[4], model.FeatureTemperature) }, samples: 4, gaps: 4},
		// A row between the window and the target is not needed, but the set-point in
		// force there is; it is carried forward: the window ending at 2 (target 4) is
		// kept, the three holding step 3 are not.
		{name: "missing row inside the horizon", change: func(v []map[string]float64) { v[3] = nil }, samples: 5, gaps: 3},
		{
			name: "outside temperature carried forward",
			change: func(v []map[string]float64) {
				for k := 3; k < 10; k++ {
					delete(v[k], model.FeatureExtTemperature)
				}
			},
			samples: 8,
			check: func(t *testing.T, ds *Dataset) {
				if v := ds.Samples[len(ds.Samples)-1].Window[2][2]; v != 10 {
					t.Errorf("carried ext_temperature %v, want 10", v)
				}
			},
		},
		{
			name: "carried value too old",
			change: func(v []map[string]float64) {
				for k := 3; k < 12; k++ {
					delete(v[k], model.FeatureExtTemperature)
				}
			},
			opts: func(o *BuildOptions) { o.FillFor = 5 * time.Minute },
			// ext_temperature known through step 7 (2 + 5 minutes), missing from 8 on:
			// the windows ending at 8 and 9 lack it (targets need only the climate).
			samples: 6, gaps: 2,
		},
		{
			name: "set-point carried forward",
			change: func(v []map[string]float64) {
				for k := 1; k < 12; k++ {
					delete(v[k], model.FeatureSetpoint)
				}
			},
			samples: 8,
		},
		{
			name:   "weather present in one row only",
			change: func(v []map[string]float64) { v[5][model.FeatureWeather] = 6 },
			// steps before the first weather are gaps: windows need 5..; ends 7..9
			samples: 3, gaps: 5,
			check: func(t *testing.T, ds *Dataset) {
				if len(ds.Stats.Absent) != 0 || ds.Samples[2].Window[2][3] != 6 {
					t.Errorf("absent %v, weather %v", ds.Stats.Absent, ds.Samples[2].Window[2][3])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := steady(12, constant(24))
			tt.change(v)
			o := small
			if tt.opts != nil {
				tt.opts(&o)
			}
			ds, err := Build(rowsOf("pi-1", v), o)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds.Samples) != tt.samples || ds.Stats.SkippedGaps != tt.gaps || ds.Stats.Windows != 8 {
				t.Fatalf("%d samples, %d gaps of %d windows; want %d and %d of 8", len(ds.Samples), ds.Stats.SkippedGaps, ds.Stats.Windows, tt.samples, tt.gaps)
			}
			for _, s := range ds.Samples {
				for _, row := range s.Window {
					if slices.ContainsFunc(row, math.IsNaN) {
						t.Fatalf("NaN in %v", s.Window)
					}
				}
			}
			if tt.check != nil {
				tt.check(t, ds)
			}
		})
	}
}

func TestBuildDevicesMergeAndErrors(t *testing.T) {
	rows := append(rowsOf("pi-2", steady(6, constant(20))), rowsOf("pi-1", steady(7, constant(22)))...)
	// A second row for pi-1 at step 0 overrides the temperature only: NaN and Inf are
	// "not measured".
	rows = append(rows, Row{Device: "pi-1", Time: t0, Values: map[string]float64{model.FeatureTemperature: 99, model.FeatureHumidity: math.NaN(), model.FeatureSetpoint: math.Inf(1)}})
	rows = append(rows, Row{Time: t0, Values: map[string]float64{"x": 1}}) // no device: ignored
	ds, err := Build(rows, small)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.Stats.Devices, []string{"pi-1", "pi-2"}) || ds.Stats.PerDev["pi-1"] != 7 || ds.Stats.Rows != 13 {
		t.Fatalf("stats %+v", ds.Stats)
	}
	if len(ds.Samples) != 5 || ds.Samples[0].Device != "pi-1" || ds.Samples[0].Window[0][0] != 99 || ds.Samples[0].Window[0][1] != 22 || ds.Samples[3].Device != "pi-2" {
		t.Fatalf("samples %+v", ds.Samples)
	}

	off := rowsOf("pi-1", steady(4, constant(22)))
	off[2].Time = off[2].Time.Add(time.Second)
	far := rowsOf("pi-1", steady(4, constant(22)))
	far[3].Time = far[0].Time.Add(MaxSteps * time.Minute)
	noSetpoint := rowsOf("pi-1", steady(4, constant(22)))
	for _, r := range noSetpoint {
		delete(r.Values, model.FeatureSetpoint)
	}
	for _, tt := range []struct {
		name string
		rows []Row
		opts BuildOptions
		want error
	}{
		{"no rows", nil, small, ErrNoData},
		{"off the grid", off, small, ErrGrid},
		{"too long a span", far, small, nil},
		{"no setpoint anywhere", noSetpoint, small, ErrMissingFeature},
		{"repeated feature", rowsOf("pi-1", steady(4, constant(22))), BuildOptions{Features: []string{"cpu", "cpu"}}, nil},
		{"negative horizon", rowsOf("pi-1", steady(4, constant(22))), BuildOptions{Horizon: -1}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.rows, tt.opts)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Build = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDefaultsProjectAndSplit(t *testing.T) {
	ds, err := Build(rowsOf("pi-1", steady(100, constant(24))), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Steps != 6 || ds.Horizon != 10 || ds.Step != time.Minute || !slices.Equal(ds.Features, AllFeatures()) {
		t.Fatalf("defaults: %d %d %s %v", ds.Steps, ds.Horizon, ds.Step, ds.Features)
	}
	if len(ds.Samples) != 100-6-10+1 {
		t.Fatalf("%d samples", len(ds.Samples))
	}
	// No row has weather: ours leaves it out, the baseline keeps it as 0. The rows
	// span less than a day: no hour features either.
	want := []string{model.FeatureTemperature, model.FeatureHumidity, model.FeatureSetpoint,
		model.FeatureExtTemperature, model.FeatureExtHumidity, model.FeatureCPU}
	if !slices.Equal(ds.OursFeatures(), want) {
		t.Errorf("OursFeatures %v, want %v", ds.OursFeatures(), want)
	}
	long := *ds
	long.Stats.Last = long.Stats.First.Add(MinHourSpan)
	if want := OurFeatures[:len(OurFeatures)-1]; !slices.Equal(long.OursFeatures(), want) {
		t.Errorf("OursFeatures over a day %v, want %v", long.OursFeatures(), want)
	}
	base, err := ds.Project(ds.Samples, model.BaselineFeatures)
	if err != nil {
		t.Fatal(err)
	}
	if got := base[0].Window[5]; !slices.Equal(got, []float64{60, 10, 45, 24, 0}) {
		t.Errorf("baseline last row %v", got)
	}
	if _, err := ds.Project(ds.Samples, []string{"mem"}); err == nil {
		t.Error("Project of an unknown feature")
	}
	at := SplitTime(ds.Stats.First, ds.Stats.Last, 0.2)
	if want := t0.Add(time.Duration(0.8 * 99 * float64(time.Minute))); !at.Equal(want) {
		t.Fatalf("SplitTime %s, want %s", at, want)
	}
	train, held := Split(ds.Samples, at)
	// at = 79.2 min: targets before it (window ends <= 69), windows from step 80 on.
	if len(train) != 65 || len(held) != 100-80-15 {
		t.Fatalf("split %d / %d", len(train), len(held))
	}
	if !train[len(train)-1].At.Before(at) || held[0].From.Before(at) {
		t.Errorf("split leaks across %s", at)
	}
}

func TestHourFeatures(t *testing.T) {
	for _, tt := range []struct {
		at       time.Time
		sin, cos float64
	}{
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0, 1},
		{time.Date(2026, 1, 1, 6, 0, 0, 0, time.UTC), 1, 0},
		{time.Date(2026, 1, 1, 21, 0, 0, 0, time.FixedZone("KST", 9*3600)), 0, -1}, // 12:00 UTC
	} {
		s, c := HourFeatures(tt.at)
		if math.Abs(s-tt.sin) > 1e-12 || math.Abs(c-tt.cos) > 1e-12 {
			t.Errorf("HourFeatures(%s) = %v, %v; want %v, %v", tt.at, s, c, tt.sin, tt.cos)
		}
	}
}
