// Package model is the contract between the trainer, which writes models, and
// inference, which serves them: what a model of the room is, how it sits on disk, and
// how it predicts.
//
// # What a model predicts
//
// An instance is a window of Steps consecutive steps of one sector, oldest first, each
// a row of the Features named in the model (for the original's baseline:
// ext_humidity, ext_temperature, humidity, setpoint, weather). The setpoint of the last
// row is the set-point to apply from now on: the model answers "where do the Outputs
// (the sector's inlet temperature and relative humidity) go, Horizon steps ahead, if
// this set-point is applied now". The controller asks it once per candidate set-point.
//
// # On disk
//
// The layout is TF-Serving's: <base>/<name>/<version>/, version a positive integer,
// the newest served. A version directory holds
//
//	model.json    the model (File): its signature and its coefficients
//	metrics.json  held-out errors against the baselines (written by the trainer)
//	window.json   the data the model was trained on (written by the trainer)
//
// A version is written into a hidden directory and renamed into place, so a reader
// never sees half a version.
package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Format names the one model format, a standardized linear model.
const Format = "smartx-linear/1"

// File names inside a version directory.
const (
	ModelFile   = "model.json"
	MetricsFile = "metrics.json"
	WindowFile  = "window.json"
)

// Feature names the trainer and the controller agree on.
const (
	FeatureExtHumidity    = "ext_humidity"
	FeatureExtTemperature = "ext_temperature"
	FeatureHumidity       = "humidity"
	FeatureTemperature    = "temperature"
	FeatureSetpoint       = "setpoint"
	FeatureWeather        = "weather"
	FeatureCPU            = "cpu"
	FeatureHourSin        = "hour_sin"
	FeatureHourCos        = "hour_cos"
)

// BaselineFeatures are the original system's window row.
var BaselineFeatures = []string{FeatureExtHumidity, FeatureExtTemperature, FeatureHumidity, FeatureSetpoint, FeatureWeather}

// Output names.
const (
	OutputTemperature = "temperature"
	OutputHumidity    = "humidity"
)

// ErrInvalid wraps every reason a model or an instance is refused.
var ErrInvalid = errors.New("model: invalid")

// Model is a standardized linear model: for each output o,
//
//	y_o = Bias[o] + sum_i Weights[o][i] * (x_i - Mean[i]) / Scale[i]
//
// over the flattened window x (row after row).
type Model struct {
	Format   string   `json:"format"`
	Name     string   `json:"name"`
	Version  int64    `json:"version"`
	Steps    int      `json:"steps"`
	Features []string `json:"features"`
	Outputs  []string `json:"outputs"`
	// Horizon is how many steps ahead the outputs are, StepSeconds how long a step is.
	Horizon     int     `json:"horizon"`
	StepSeconds float64 `json:"step_seconds"`
	// TrainedAt is when the model was fitted (optional; the controller can refuse a
	// model older than it allows).
	TrainedAt time.Time `json:"trained_at,omitzero"`

	Mean    []float64   `json:"mean"`
	Scale   []float64   `json:"scale"`
	Weights [][]float64 `json:"weights"`
	Bias    []float64   `json:"bias"`
}

// Inputs is the number of values of one instance, Steps x len(Features).
func (m *Model) Inputs() int { return m.Steps * len(m.Features) }

// Feature is the index of a feature in a row, -1 when the model has none of it.
func (m *Model) Feature(name string) int {
	for i, f := range m.Features {
		if f == name {
			return i
		}
	}
	return -1
}

// Validate checks that m is complete and consistent and all its numbers finite.
func (m *Model) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case m.Format != Format:
		return bad("format %q, want %q", m.Format, Format)
	case m.Name == "" || strings.ContainsAny(m.Name, "/\\ \t\n"):
		return bad("name %q", m.Name)
	case m.Version < 1:
		return bad("version %d, want a positive integer", m.Version)
	case m.Steps < 1 || m.Steps > 1000:
		return bad("steps %d, want 1 to 1000", m.Steps)
	case len(m.Features) == 0:
		return bad("no features")
	case len(m.Outputs) == 0:
		return bad("no outputs")
	case m.Horizon < 1:
		return bad("horizon %d, want at least 1", m.Horizon)
	case !(m.StepSeconds > 0) || math.IsInf(m.StepSeconds, 0):
		return bad("step_seconds %v", m.StepSeconds)
	case len(m.Mean) != m.Inputs() || len(m.Scale) != m.Inputs():
		return bad("mean and scale have %d and %d values, want %d", len(m.Mean), len(m.Scale), m.Inputs())
	case len(m.Weights) != len(m.Outputs) || len(m.Bias) != len(m.Outputs):
		return bad("%d weight rows and %d biases for %d outputs", len(m.Weights), len(m.Bias), len(m.Outputs))
	}
	seen := map[string]bool{}
	for _, f := range m.Features {
		if f == "" || seen[f] {
			return bad("feature %q empty or repeated", f)
		}
		seen[f] = true
	}
	if m.Feature(FeatureSetpoint) < 0 {
		return bad("no %s feature: the model cannot answer for a set-point", FeatureSetpoint)
	}
	for i := range m.Mean {
		if !finite(m.Mean[i]) || !finite(m.Scale[i]) || m.Scale[i] <= 0 {
			return bad("input %d: mean %v, scale %v", i, m.Mean[i], m.Scale[i])
		}
	}
	for o, w := range m.Weights {
		if len(w) != m.Inputs() {
			return bad("output %s has %d weights, want %d", m.Outputs[o], len(w), m.Inputs())
		}
		for _, v := range append([]float64{m.Bias[o]}, w...) {
			if !finite(v) {
				return bad("output %s has a coefficient %v", m.Outputs[o], v)
			}
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Predict answers one instance, Steps rows of len(Features) values each.
func (m *Model) Predict(window [][]float64) ([]float64, error) {
	if len(window) != m.Steps {
		return nil, fmt.Errorf("%w: instance has %d steps, want %d", ErrInvalid, len(window), m.Steps)
	}
	out := make([]float64, len(m.Outputs))
	copy(out, m.Bias)
	nf := len(m.Features)
	for s, row := range window {
		if len(row) != nf {
			return nil, fmt.Errorf("%w: step %d has %d values, want %d (%s)", ErrInvalid, s, len(row), nf, strings.Join(m.Features, ", "))
		}
		for f, v := range row {
			if !finite(v) {
				return nil, fmt.Errorf("%w: step %d, %s is %v", ErrInvalid, s, m.Features[f], v)
			}
			i := s*nf + f
			z := (v - m.Mean[i]) / m.Scale[i]
			for o := range out {
				out[o] += m.Weights[o][i] * z
			}
		}
	}
	return out, nil
}

// Load reads and validates the model of one version directory.
func Load(dir string) (*Model, error) {
	b, err := os.ReadFile(filepath.Join(dir, ModelFile))
	if err != nil {
		return nil, err
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if v, err := strconv.ParseInt(filepath.Base(dir), 10, 64); err != nil || v != m.Version {
		return nil, fmt.Errorf("%w: %s holds version %d", ErrInvalid, dir, m.Version)
	}
	return m, nil
}

// Parse decodes and validates a model.json.
func Parse(b []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Versions lists the version numbers under <base>/<name>, ascending; directories
// whose name is not a positive integer (a version being written) are skipped.
func Versions(base, name string) ([]int64, error) {
	entries, err := os.ReadDir(filepath.Join(base, name))
	if err != nil {
		return nil, err
	}
	var vs []int64
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if v, err := strconv.ParseInt(e.Name(), 10, 64); err == nil && v > 0 {
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	return vs, nil
}

// Write stores m as version m.Version under <base>/<name>, with the extra files
// (name -> JSON value, for example MetricsFile and WindowFile), atomically: into a
// hidden directory first, renamed into place. An existing version is an error.
func Write(base string, m *Model, extra map[string]any) (dir string, err error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	parent := filepath.Join(base, m.Name)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	dir = filepath.Join(parent, strconv.FormatInt(m.Version, 10))
	if _, err := os.Stat(dir); err == nil {
		return "", fmt.Errorf("model: %s exists already", dir)
	}
	tmp, err := os.MkdirTemp(parent, ".writing-")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	files := map[string]any{ModelFile: m}
	for k, v := range extra {
		files[k] = v
	}
	for name, v := range files {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return "", fmt.Errorf("model: %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(tmp, name), append(b, '\n'), 0o644); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}
