// Package wiring is the trainer's assembly: its settings (Config) and one run (Run):
// read the history from InfluxDB, build the samples, fit our model and the original's
// baseline with the same learner, evaluate both and the last-value baseline on the
// held-out end of the time range, export the CSV, and write our model as the next
// version unless the checks refuse it.
package wiring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/smartx-team/overcloud/functions/internal/service"
	"github.com/smartx-team/overcloud/functions/model"
	"github.com/smartx-team/overcloud/functions/trainer/history"
	"github.com/smartx-team/overcloud/functions/trainer/learn"
)

// ErrRefused is returned when the checks refuse to write the model: too few samples,
// none held out, or ours worse than the last-value baseline on held-out temperature.
// Config.Force writes anyway.
var ErrRefused = errors.New("model not written")

// Names of the three predictors in Metrics.
const (
	Ours      = "ours"
	Baseline  = "baseline"
	LastValue = "last_value"
)

// Scores are one predictor's errors.
type Scores struct {
	Name string `json:"name"`
	// Features of its window rows (none for the last-value baseline).
	Features []string     `json:"features,omitempty"`
	HeldOut  learn.Errors `json:"held_out"`
	Train    learn.Errors `json:"train"`
}

// Metrics is metrics.json: how the predictors did on the held-out samples (those
// whose window starts at or after HeldOutFrom) and on the training samples (those
// whose target is before it).
type Metrics struct {
	HeldOutFrom    time.Time `json:"held_out_from"`
	TrainSamples   int       `json:"train_samples"`
	HeldOutSamples int       `json:"held_out_samples"`
	Lambda         float64   `json:"lambda"`
	Chosen         string    `json:"chosen"`
	// Refused says why the checks refused the model ("" if they did not); it was
	// written anyway only with Forced.
	Refused string   `json:"refused,omitempty"`
	Forced  bool     `json:"forced,omitempty"`
	Models  []Scores `json:"models"`
}

// Of returns the named predictor's scores.
func (m Metrics) Of(name string) Scores {
	for _, s := range m.Models {
		if s.Name == name {
			return s
		}
	}
	return Scores{}
}

// FillRule is how missing values were filled, as window.json states it.
const FillRule = "temperature and humidity as measured, a step without them is a gap; " +
	"setpoint, ext_temperature, ext_humidity, weather and cpu carried forward from the device's last value at most fill_for old, else a gap; " +
	"a feature no row has is 0 and left out of ours; windows with a gap from first step to target skipped"

// Window is window.json: the data the model was trained on.
type Window struct {
	Bucket           string   `json:"bucket,omitempty"`
	RequestedDevices []string `json:"requested_devices,omitempty"`
	// Since and Until are the range asked for; Stats.First and Last that of the rows.
	Since       time.Time `json:"since"`
	Until       time.Time `json:"until"`
	Step        string    `json:"step"`
	StepSeconds float64   `json:"step_seconds"`
	Window      int       `json:"window"`
	Horizon     int       `json:"horizon"`
	FillFor     string    `json:"fill_for"`
	FillRule    string    `json:"fill_rule"`
	learn.Stats
}

// Report is what a run found and did.
type Report struct {
	Metrics Metrics
	Window  Window
	// Model is ours as fitted; Dir the version directory it was written to ("" if it
	// was not).
	Model *model.Model
	Dir   string
}

// Run is one run of the trainer with cfg (validated): it reads the history from
// InfluxDB and hands it to Train. A token file that cannot be read is an error
// wrapping ErrConfig.
func Run(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) (*Report, error) {
	token, err := service.ReadSecret(cfg.InfluxToken, cfg.InfluxTokenFile)
	if err != nil {
		return nil, fmt.Errorf("%w: TRAINER_INFLUX_TOKEN_FILE: %w", ErrConfig, err)
	}
	since, until, err := cfg.Range(time.Now())
	if err != nil {
		return nil, err
	}
	r, err := history.New(history.Options{URL: cfg.InfluxURL, Token: token, Org: cfg.InfluxOrg, Bucket: cfg.InfluxBucket, Timeout: cfg.QueryTimeout})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	start := time.Now()
	log.Info("reading history", "since", since, "until", until, "step", cfg.Step.String())
	rows, err := r.Rows(ctx, history.Query{Devices: cfg.Devices, Start: since, Stop: until, Step: cfg.Step})
	if err != nil {
		return nil, err
	}
	log.Info("rows read", "rows", len(rows), "took", time.Since(start).Round(time.Millisecond).String())
	return Train(rows, cfg, Source{Bucket: cfg.InfluxBucket, Since: since, Until: until}, log, stdout)
}

// Source is where Train's rows came from, for window.json.
type Source struct {
	// Bucket is the InfluxDB bucket ("" for rows from elsewhere).
	Bucket string
	// Since and Until are the time range the rows were asked for.
	Since, Until time.Time
}

// Train does the rest of a run on rows read already (from InfluxDB, or simulated)
// from src: it builds the samples, fits,
// evaluates and prints the table to stdout, exports the CSV if asked, and writes
// the model unless the checks refuse it (then the error wraps ErrRefused, and the
// report is returned all the same).
func Train(rows []learn.Row, cfg Config, src Source, log *slog.Logger, stdout io.Writer) (*Report, error) {
	ds, err := learn.Build(rows, learn.BuildOptions{Steps: cfg.Window, Horizon: cfg.Horizon, Step: cfg.Step, FillFor: cfg.FillFor})
	if err != nil {
		return nil, fmt.Errorf("build samples: %w", err)
	}
	st := ds.Stats
	log.Info("samples built", "samples", st.Samples, "devices", len(st.Devices), "windows", st.Windows,
		"skipped_gaps", st.SkippedGaps, "skipped_setpoint_changes", st.SkippedSetpointChanges, "absent_features", st.Absent)
	rep := &Report{Window: Window{
		Bucket: src.Bucket, RequestedDevices: cfg.Devices, Since: src.Since, Until: src.Until,
		Step: cfg.Step.String(), StepSeconds: cfg.Step.Seconds(), Window: cfg.Window, Horizon: cfg.Horizon,
		FillFor: cfg.FillFor.String(), FillRule: FillRule, Stats: st,
	}}
	ours := ds.OursFeatures()
	if cfg.CSV != "" {
		all, err := ds.Project(ds.Samples, ours)
		if err != nil {
			return nil, err
		}
		if err := writeCSV(cfg.CSV, ours, all); err != nil {
			return nil, fmt.Errorf("export csv: %w", err)
		}
		log.Info("training set exported", "csv", cfg.CSV, "samples", len(all))
	}

	at := learn.SplitTime(st.First, st.Last, cfg.HoldOut)
	train, held := learn.Split(ds.Samples, at)
	met := &rep.Metrics
	*met = Metrics{HeldOutFrom: at, TrainSamples: len(train), HeldOutSamples: len(held), Lambda: cfg.Lambda, Chosen: Ours}
	if len(train) == 0 {
		return rep, fmt.Errorf("%w: no training samples (%d samples in all, %d held out from %s)",
			ErrRefused, st.Samples, len(held), at.Format(time.RFC3339))
	}
	fit := func(name string, features []string) (*model.Model, error) {
		tr, err := ds.Project(train, features)
		if err != nil {
			return nil, err
		}
		ho, err := ds.Project(held, features)
		if err != nil {
			return nil, err
		}
		m, err := learn.Fit(tr, features, learn.FitOptions{Lambda: cfg.Lambda, Horizon: cfg.Horizon, Step: cfg.Step, Name: cfg.ModelName})
		if err != nil {
			return nil, fmt.Errorf("fit %s: %w", name, err)
		}
		s := Scores{Name: name, Features: features}
		if s.Train, err = learn.Evaluate(m, tr); err != nil {
			return nil, err
		}
		if s.HeldOut, err = learn.Evaluate(m, ho); err != nil {
			return nil, err
		}
		met.Models = append(met.Models, s)
		return m, nil
	}
	m, err := fit(Ours, ours)
	if err != nil {
		return rep, err
	}
	rep.Model = m
	if _, err := fit(Baseline, model.BaselineFeatures); err != nil {
		return rep, err
	}
	met.Models = append(met.Models, Scores{Name: LastValue, HeldOut: learn.LastValue(held), Train: learn.LastValue(train)})
	log.Info("fit done", "train", len(train), "held_out", len(held), "features", ours, "inputs", m.Inputs(),
		"held_out_temperature_mae", met.Of(Ours).HeldOut.Of(model.OutputTemperature).MAE,
		"last_value_temperature_mae", met.Of(LastValue).HeldOut.Of(model.OutputTemperature).MAE)
	printTable(stdout, rep)

	var why []string
	if st.Samples < cfg.MinSamples {
		why = append(why, fmt.Sprintf("%d samples, fewer than TRAINER_MIN_SAMPLES=%d", st.Samples, cfg.MinSamples))
	}
	if len(held) == 0 {
		why = append(why, "no held-out samples to check the model on")
	} else if o, b := met.Of(Ours).HeldOut.Of(model.OutputTemperature), met.Of(LastValue).HeldOut.Of(model.OutputTemperature); o.MAE > b.MAE {
		why = append(why, fmt.Sprintf("held-out temperature MAE %.4g is worse than the last-value baseline's %.4g", o.MAE, b.MAE))
	}
	if len(why) > 0 {
		met.Refused = strings.Join(why, "; ")
		if !cfg.Force {
			log.Error("model refused", "why", met.Refused)
			return rep, fmt.Errorf("%w: %s (TRAINER_FORCE writes it anyway)", ErrRefused, met.Refused)
		}
		met.Forced = true
		log.Warn("model refused, written anyway (forced)", "why", met.Refused)
	}

	version, err := nextVersion(cfg.ModelBase, cfg.ModelName)
	if err != nil {
		return rep, err
	}
	m.Version = version
	m.TrainedAt = time.Now().UTC().Truncate(time.Second)
	dir, err := model.Write(cfg.ModelBase, m, map[string]any{model.MetricsFile: rep.Metrics, model.WindowFile: rep.Window})
	if err != nil {
		return rep, fmt.Errorf("write model: %w", err)
	}
	rep.Dir = dir
	log.Info("model written", "dir", dir, "version", version)
	return rep, nil
}

// nextVersion is one more than the highest version under base/name, or 1.
func nextVersion(base, name string) (int64, error) {
	vs, err := model.Versions(base, name)
	if errors.Is(err, fs.ErrNotExist) {
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list model versions: %w", err)
	}
	if len(vs) == 0 {
		return 1, nil
	}
	return slices.Max(vs) + 1, nil
}

// writeCSV writes the samples to path through a temporary file beside it, so that a
// reader never sees half a file.
func writeCSV(path string, features []string, samples []learn.Sample) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".trainer-*.csv")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err = learn.WriteCSV(f, features, samples); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// printTable writes the held-out errors as a small table.
func printTable(w io.Writer, rep *Report) {
	met, st := rep.Metrics, rep.Window.Stats
	fmt.Fprintf(w, "%d samples of %d devices (%d windows skipped for gaps, %d for set-point changes within the horizon)\n",
		st.Samples, len(st.Devices), st.SkippedGaps, st.SkippedSetpointChanges)
	fmt.Fprintf(w, "trained on %d, held out %d from %s; %d-step window, %d steps of %s ahead\n\n",
		met.TrainSamples, met.HeldOutSamples, met.HeldOutFrom.Format(time.RFC3339), rep.Window.Window, rep.Window.Horizon, rep.Window.Step)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "held out\tfeatures\ttemperature MAE\tRMSE\thumidity MAE\tRMSE")
	for _, s := range met.Models {
		t, h := s.HeldOut.Of(model.OutputTemperature), s.HeldOut.Of(model.OutputHumidity)
		features := "-"
		if len(s.Features) > 0 {
			features = fmt.Sprint(len(s.Features))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\n", s.Name, features, t.MAE, t.RMSE, h.MAE, h.RMSE)
	}
	_ = tw.Flush()
}
