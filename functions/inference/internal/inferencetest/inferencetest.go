// Package inferencetest holds what the tests of inference share: models of the
// original's baseline shape written as the trainer writes them, requests in
// TF-Serving's forms, and the packages whose goroutines the tests check are stopped (Packages).
// Only tests import it.
package inferencetest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/smartx-team/overcloud/functions/model"
)

// Name is the model name of the original system: its sender asked
// /v1/models/service:predict.
const Name = "service"

// Baseline returns a valid model of the original's window, 6 steps of
// model.BaselineFeatures, predicting temperature and humidity. Its coefficients
// depend on version, so that two versions answer differently.
func Baseline(name string, version int64) *model.Model {
	const steps = 6
	features := model.BaselineFeatures
	n := steps * len(features)
	m := &model.Model{
		Format: model.Format, Name: name, Version: version, Steps: steps,
		Features: features, Outputs: []string{model.OutputTemperature, model.OutputHumidity},
		Horizon: 5, StepSeconds: 60,
		Mean: make([]float64, n), Scale: make([]float64, n),
		Weights: [][]float64{make([]float64, n), make([]float64, n)},
		Bias:    []float64{22 + float64(version), 45 - float64(version)},
	}
	for i := range n {
		m.Mean[i] = 20 + float64(i%len(features))
		m.Scale[i] = 1 + float64(i%3)
		m.Weights[0][i] = 0.01 * float64((i*7)%11-5)
		m.Weights[1][i] = 0.02 * float64((i*5)%7-3) * float64(version)
	}
	return m
}

// Write stores m under base as the trainer does (model.Write) and returns its
// version directory.
func Write(t testing.TB, base string, m *model.Model) string {
	t.Helper()
	dir, err := model.Write(base, m, map[string]any{model.MetricsFile: map[string]float64{"rmse": 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// WriteBroken makes version of name under base a directory whose model.json is body
// (which need not be a valid model), and returns the directory.
func WriteBroken(t testing.TB, base, name string, version int64, body string) string {
	t.Helper()
	dir := filepath.Join(base, name, fmt.Sprint(version))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, model.ModelFile), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Window returns a window of m's shape: step s, feature f is base + s/2 + f.
func Window(m *model.Model, base float64) [][]float64 {
	w := make([][]float64, m.Steps)
	for s := range w {
		w[s] = make([]float64, len(m.Features))
		for f := range w[s] {
			w[s][f] = base + float64(s)/2 + float64(f)
		}
	}
	return w
}

// JSON writes v, a window or a list of them, as JSON numbers.
func JSON(v any) string {
	var b bytes.Buffer
	var write func(v any)
	write = func(v any) {
		switch v := v.(type) {
		case float64:
			fmt.Fprint(&b, v)
		case []float64:
			b.WriteByte('[')
			for i, x := range v {
				if i > 0 {
					b.WriteByte(',')
				}
				write(x)
			}
			b.WriteByte(']')
		case [][]float64:
			b.WriteByte('[')
			for i, x := range v {
				if i > 0 {
					b.WriteByte(',')
				}
				write(x)
			}
			b.WriteByte(']')
		case [][][]float64:
			b.WriteByte('[')
			for i, x := range v {
				if i > 0 {
					b.WriteByte(',')
				}
				write(x)
			}
			b.WriteByte(']')
		default:
			panic(fmt.Sprintf("inferencetest.JSON: %T", v))
		}
	}
	write(v)
	return b.String()
}

// Predict is what m answers for windows, failing the test on an error.
func Predict(t testing.TB, m *model.Model, windows ...[][]float64) [][]float64 {
	t.Helper()
	out := make([][]float64, len(windows))
	for i, w := range windows {
		var err error
		if out[i], err = m.Predict(w); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// Packages are the prefixes whose goroutines leakcheck.Main checks: inference's, and
// the shared service package it runs its servers with (service.Serve, service.Run).
var Packages = []string{
	"github.com/smartx-team/overcloud/functions/inference/",
	"github.com/smartx-team/overcloud/functions/internal/service.",
}
