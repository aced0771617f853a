package model

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// small is a valid two-step model of y = 2 (last setpoint) + 1, z-scored.
func small() *Model {
	return &Model{
		Format: Format, Name: "service", Version: 1, Steps: 2,
		Features: []string{FeatureTemperature, FeatureSetpoint}, Outputs: []string{OutputTemperature},
		Horizon: 3, StepSeconds: 60,
		Mean: []float64{0, 0, 0, 10}, Scale: []float64{1, 1, 1, 2},
		Weights: [][]float64{{0, 0, 0, 4}}, Bias: []float64{21},
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*Model)
	}{
		{"format", func(m *Model) { m.Format = "tf" }},
		{"name", func(m *Model) { m.Name = "a/b" }},
		{"version", func(m *Model) { m.Version = 0 }},
		{"steps", func(m *Model) { m.Steps = 0 }},
		{"no setpoint", func(m *Model) { m.Features[1] = FeatureCPU }},
		{"repeated feature", func(m *Model) { m.Features[1] = FeatureTemperature }},
		{"short mean", func(m *Model) { m.Mean = m.Mean[:3] }},
		{"zero scale", func(m *Model) { m.Scale[0] = 0 }},
		{"NaN weight", func(m *Model) { m.Weights[0][1] = math.NaN() }},
		{"Inf bias", func(m *Model) { m.Bias[0] = math.Inf(1) }},
		{"weights for two outputs", func(m *Model) { m.Outputs = append(m.Outputs, OutputHumidity) }},
		{"horizon", func(m *Model) { m.Horizon = 0 }},
		{"step", func(m *Model) { m.StepSeconds = math.NaN() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := small()
			tt.mutate(m)
			if err := m.Validate(); !errors.Is(err, ErrInvalid) {
				t.Errorf("Validate() = %v, want ErrInvalid", err)
			}
		})
	}
	if err := small().Validate(); err != nil {
		t.Errorf("valid model: %v", err)
	}
}

func TestPredict(t *testing.T) {
	m := small()
	got, err := m.Predict([][]float64{{25, 18}, {25, 24}})
	if err != nil || len(got) != 1 || math.Abs(got[0]-(21+4*(24-10)/2.0)) > 1e-12 {
		t.Fatalf("Predict = %v, %v; want [49]", got, err)
	}
	for _, bad := range [][][]float64{
		{{25, 18}},
		{{25, 18}, {25}},
		{{25, 18}, {math.NaN(), 24}},
	} {
		if _, err := m.Predict(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Predict(%v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestWriteLoadVersions(t *testing.T) {
	base := t.TempDir()
	m := small()
	if _, err := Write(base, m, map[string]any{MetricsFile: map[string]float64{"rmse": 0.1}}); err != nil {
		t.Fatal(err)
	}
	m.Version = 3
	m.TrainedAt = time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	dir, err := Write(base, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Write(base, m, nil); err == nil {
		t.Error("a second write of version 3 succeeded")
	}
	// A version being written, and a stray file, are no versions.
	if err := os.Mkdir(filepath.Join(base, "service", ".writing-x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "service", "README"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	vs, err := Versions(base, "service")
	if err != nil || len(vs) != 2 || vs[0] != 1 || vs[1] != 3 {
		t.Fatalf("Versions = %v, %v; want [1 3]", vs, err)
	}
	got, err := Load(dir)
	if err != nil || got.Version != 3 || !got.TrainedAt.Equal(m.TrainedAt) {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	// A directory whose name disagrees with the version inside is refused.
	if err := os.Rename(dir, filepath.Join(base, "service", "4")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(base, "service", "4")); !errors.Is(err, ErrInvalid) {
		t.Errorf("Load of a renamed version: %v, want ErrInvalid", err)
	}
}

// FuzzParse: any bytes give a model that predicts without panicking, or an error.
func FuzzParse(f *testing.F) {
	b, _ := json.Marshal(small())
	f.Add(b)
	f.Add([]byte(`{"format":"smartx-linear/1"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		window := make([][]float64, m.Steps)
		for i := range window {
			window[i] = make([]float64, len(m.Features))
		}
		if _, err := m.Predict(window); err != nil {
			t.Fatalf("a valid model refused a valid window: %v", err)
		}
	})
}

// TestParseKeepsTheDecodeError: a caller that reports where a model.json is broken
// needs the decoder's error (its offset), not only ErrInvalid.
func TestParseKeepsTheDecodeError(t *testing.T) {
	_, err := Parse([]byte(`{"format": 1,}`))
	var syn *json.SyntaxError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &syn) || syn.Offset == 0 {
		t.Fatalf("Parse = %v, want ErrInvalid wrapping a *json.SyntaxError with its offset", err)
	}
}
