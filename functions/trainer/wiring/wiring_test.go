package wiring

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/model"
	"github.com/smartx-team/overcloud/functions/trainer/internal/roomtest"
	"github.com/smartx-team/overcloud/functions/trainer/learn"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func config(t *testing.T) Config {
	t.Helper()
	c := Defaults()
	c.ModelBase = t.TempDir()
	return c
}

func rangeOf(rows []learn.Row) Source {
	return Source{Since: rows[0].Time, Until: rows[len(rows)-1].Time.Add(time.Minute)}
}

// Train on three days of two simulated sectors: a first version, then a second;
// each loads, says what it was trained on, and beats the last-value baseline.
func TestTrainSimulatedRoom(t *testing.T) {
	rows := roomtest.Rows(roomtest.Generate(roomtest.Options{Weather: true}), time.Minute)
	cfg := config(t)
	src := rangeOf(rows)
	var out bytes.Buffer
	rep, err := Train(rows, cfg, src, discard(), &out)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cfg.ModelBase, "service", "1")
	if rep.Dir != dir {
		t.Fatalf("written to %s, want %s", rep.Dir, dir)
	}
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Features, learn.OurFeatures) || m.Steps != 6 || m.Horizon != 10 || m.StepSeconds != 60 {
		t.Errorf("model %v x %d, horizon %d", m.Features, m.Steps, m.Horizon)
	}
	if age := time.Since(m.TrainedAt); m.TrainedAt.IsZero() || age < 0 || age > time.Minute {
		t.Errorf("model trained at %v, want just now", m.TrainedAt)
	}
	var met Metrics
	var win Window
	readJSON(t, filepath.Join(dir, model.MetricsFile), &met)
	readJSON(t, filepath.Join(dir, model.WindowFile), &win)
	ours, base, last := met.Of(Ours).HeldOut, met.Of(Baseline).HeldOut, met.Of(LastValue).HeldOut
	t.Logf("held out (%d): ours %+v, baseline %+v, last value %+v", ours.Samples, ours.Outputs, base.Outputs, last.Outputs)
	if ours.Of(model.OutputTemperature).MAE >= last.Of(model.OutputTemperature).MAE ||
		ours.Of(model.OutputHumidity).MAE >= last.Of(model.OutputHumidity).MAE {
		t.Errorf("ours does not beat the last value: %+v vs %+v", ours, last)
	}
	if met.Chosen != Ours || met.Refused != "" || met.TrainSamples+met.HeldOutSamples > win.Samples || met.HeldOutSamples < win.Samples/10 {
		t.Errorf("metrics %+v, window %+v", met, win)
	}
	if win.Rows != len(rows) || !slices.Equal(win.Devices, []string{"pi-1", "pi-2"}) || win.Window != 6 || win.Horizon != 10 ||
		win.SkippedGaps == 0 || win.StepSeconds != 60 || !win.Since.Equal(src.Since) || win.Bucket != "" || len(win.Absent) != 0 {
		t.Errorf("window.json %+v", win)
	}
	for _, want := range []string{"held out", "ours", "baseline", "last_value", "temperature MAE"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}

	rep, err = Train(rows, cfg, src, discard(), io.Discard)
	if err != nil || rep.Dir != filepath.Join(cfg.ModelBase, "service", "2") {
		t.Fatalf("second run: %v, %+v", err, rep)
	}
	if vs, _ := model.Versions(cfg.ModelBase, "service"); !slices.Equal(vs, []int64{1, 2}) {
		t.Errorf("versions %v", vs)
	}
}

// Without the weather (the sender ran without it), ours leaves out the outside
// features and the baseline keeps its row with them at 0, weight 0.
func TestTrainWithoutWeather(t *testing.T) {
	rows := roomtest.Rows(roomtest.Generate(roomtest.Options{Duration: 36 * time.Hour}), time.Minute)
	cfg := config(t)
	src := rangeOf(rows)
	rep, err := Train(rows, cfg, src, discard(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{model.FeatureTemperature, model.FeatureHumidity, model.FeatureSetpoint, model.FeatureCPU, model.FeatureHourSin, model.FeatureHourCos}
	if !slices.Equal(rep.Model.Features, want) {
		t.Errorf("ours %v, want %v", rep.Model.Features, want)
	}
	if absent := rep.Window.Absent; !slices.Equal(absent, []string{model.FeatureExtTemperature, model.FeatureExtHumidity, model.FeatureWeather}) {
		t.Errorf("absent %v", absent)
	}
	if b := rep.Metrics.Of(Baseline); !slices.Equal(b.Features, model.BaselineFeatures) || b.HeldOut.Samples == 0 {
		t.Errorf("baseline %+v", b)
	}
}

func TestTrainRefuses(t *testing.T) {
	rows := roomtest.Rows(roomtest.Generate(roomtest.Options{Duration: 6 * time.Hour, Devices: 1}), time.Minute)
	src := rangeOf(rows)

	t.Run("too few samples", func(t *testing.T) {
		cfg := config(t)
		cfg.MinSamples = 100000
		rep, err := Train(rows, cfg, src, discard(), io.Discard)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "fewer than TRAINER_MIN_SAMPLES=100000") {
			t.Fatalf("Train = %v", err)
		}
		if rep == nil || rep.Dir != "" || !strings.Contains(rep.Metrics.Refused, "samples") {
			t.Fatalf("report %+v", rep)
		}
		if _, err := os.Stat(filepath.Join(cfg.ModelBase, "service")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("something was written: %v", err)
		}
		cfg.Force = true
		rep, err = Train(rows, cfg, src, discard(), io.Discard)
		if err != nil || rep.Dir == "" || !rep.Metrics.Forced {
			t.Fatalf("forced: %v, %+v", err, rep)
		}
		var met Metrics
		readJSON(t, filepath.Join(rep.Dir, model.MetricsFile), &met)
		if !met.Forced || met.Refused == "" {
			t.Errorf("metrics.json of a forced model: %+v", met)
		}
	})

	t.Run("worse than the last value", func(t *testing.T) {
		// The room follows its set-point while training, and stops doing so (the air
		// conditioner broke, say) in the held-out part: ours predicts moves that do
		// not come, the last value is right.
		var rs []learn.Row
		t0 := rows[0].Time
		for k := range 600 {
			sp := float64(18 + (k/40)%8)
			temp := sp + 2
			if k >= 400 {
				temp = 25
			}
			rs = append(rs, learn.Row{Device: "pi-1", Time: t0.Add(time.Duration(k) * time.Minute), Values: map[string]float64{
				model.FeatureTemperature: temp + 0.01*math.Sin(float64(k)), model.FeatureHumidity: 50, model.FeatureSetpoint: sp,
			}})
		}
		cfg := config(t)
		cfg.MinSamples = 10
		_, err := Train(rs, cfg, rangeOf(rs), discard(), io.Discard)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "worse than the last-value baseline") {
			t.Fatalf("Train = %v", err)
		}
	})

	t.Run("no rows", func(t *testing.T) {
		if _, err := Train(nil, config(t), src, discard(), io.Discard); !errors.Is(err, learn.ErrNoData) {
			t.Fatalf("Train(nil) = %v", err)
		}
	})
}

func TestTrainExportsCSV(t *testing.T) {
	rows := roomtest.Rows(roomtest.Generate(roomtest.Options{Duration: 24 * time.Hour, Devices: 1, Weather: true}), time.Minute)
	cfg := config(t)
	cfg.CSV = filepath.Join(t.TempDir(), "train.csv")
	cfg.MinSamples = 10
	src := rangeOf(rows)
	rep, err := Train(rows, cfg, src, discard(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(cfg.CSV)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	features, samples, err := learn.ReadCSV(f)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(features, rep.Model.Features) || len(samples) != rep.Window.Samples {
		t.Errorf("csv: %v, %d samples; want %v, %d", features, len(samples), rep.Model.Features, rep.Window.Samples)
	}
	// The exported set is what the model was fitted from: its last step's set-point
	// column is the one in force at the target.
	if samples[0].Device != "pi-1" || len(samples[0].Window) != 6 {
		t.Errorf("first sample %+v", samples[0])
	}
	cfg.CSV = filepath.Join(t.TempDir(), "missing", "train.csv")
	if _, err := Train(rows, cfg, src, discard(), io.Discard); err == nil || !strings.Contains(err.Error(), "export csv") {
		t.Errorf("export into a missing directory: %v", err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestRunKeepsTheTokenFileError: a token file that is missing and one that cannot be
// read need different fixes, so Run's ErrConfig must carry the file system's error.
func TestRunKeepsTheTokenFileError(t *testing.T) {
	cfg := config(t)
	cfg.InfluxTokenFile = filepath.Join(t.TempDir(), "absent")
	_, err := Run(t.Context(), cfg, discard(), io.Discard)
	if !errors.Is(err, ErrConfig) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Run = %v, want ErrConfig and fs.ErrNotExist", err)
	}
}
