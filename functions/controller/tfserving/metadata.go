package tfserving

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/smartx-team/overcloud/functions/model"
)

// MetadataField is the entry of the metadata answer's "metadata" map that holds our
// signature (see the package doc).
const MetadataField = "smartx"

// Signature is what the controller needs to know of a model: which window to build
// and what comes back. See functions/model for what each field means.
type Signature struct {
	// Name and Version of the model (Version 0: unknown, predictions are then asked of
	// the newest version).
	Name    string
	Version int64
	// Features name the values of one row of the window, Steps its rows.
	Features []string
	Steps    int
	// Outputs name the values of one prediction, Horizon steps of Step ahead.
	Outputs []string
	Horizon int
	Step    time.Duration
	// TrainedAt is when the model was trained (zero: not stated).
	TrainedAt time.Time
}

// Feature is the index of a feature in a row, -1 if the model has none of it.
func (s Signature) Feature(name string) int { return index(s.Features, name) }

// Output is the index of an output in a prediction, -1 if the model has none of it.
func (s Signature) Output(name string) int { return index(s.Outputs, name) }

func index(list []string, name string) int {
	for i, v := range list {
		if v == name {
			return i
		}
	}
	return -1
}

// Validate checks that the controller can use the signature: a setpoint feature to
// vary and a temperature output to judge, names unique, sizes sane.
func (s Signature) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadSignature, fmt.Sprintf(format, args...))
	}
	switch {
	case s.Name == "":
		return bad("no model name")
	case s.Version < 0:
		return bad("version %d", s.Version)
	case s.Steps < 1 || s.Steps > 1000:
		return bad("steps %d, want 1 to 1000", s.Steps)
	case len(s.Features) == 0 || len(s.Features) > 100:
		return bad("%d features, want 1 to 100", len(s.Features))
	case len(s.Outputs) == 0 || len(s.Outputs) > 100:
		return bad("%d outputs, want 1 to 100", len(s.Outputs))
	case s.Horizon < 1 || s.Horizon > 10000:
		return bad("horizon %d, want 1 to 10000", s.Horizon)
	case s.Step < time.Second || s.Step > 24*time.Hour:
		return bad("step %v, want 1s to 24h", s.Step)
	}
	for _, list := range [][]string{s.Features, s.Outputs} {
		seen := map[string]bool{}
		for _, n := range list {
			if n == "" || len(n) > 64 || seen[n] {
				return bad("name %q empty, too long or repeated", n)
			}
			seen[n] = true
		}
	}
	if s.Feature(model.FeatureSetpoint) < 0 {
		return bad("no %q feature: the model cannot answer for a set-point", model.FeatureSetpoint)
	}
	if s.Output(model.OutputTemperature) < 0 {
		return bad("no %q output", model.OutputTemperature)
	}
	return nil
}

// checkInstance checks one window against the signature.
func (s Signature) checkInstance(inst [][]float64) error {
	if len(inst) != s.Steps {
		return fmt.Errorf("%d rows, want %d", len(inst), s.Steps)
	}
	for r, row := range inst {
		if len(row) != len(s.Features) {
			return fmt.Errorf("row %d has %d values, want %d", r, len(row), len(s.Features))
		}
		for f, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("row %d: %s is %v", r, s.Features[f], v)
			}
		}
	}
	return nil
}

// metadataJSON is the one place the metadata answer's shape is known (see the package
// doc); everything else of the answer is ignored.
type metadataJSON struct {
	ModelSpec struct {
		Name    string          `json:"name"`
		Version json.RawMessage `json:"version"`
	} `json:"model_spec"`
	Metadata map[string]json.RawMessage `json:"metadata"`
}

// signatureJSON is the MetadataField entry.
type signatureJSON struct {
	Features    []string   `json:"features"`
	Steps       int        `json:"steps"`
	Outputs     []string   `json:"outputs"`
	Horizon     int        `json:"horizon"`
	StepSeconds float64    `json:"step_seconds"`
	TrainedAt   *time.Time `json:"trained_at"`
}

// ParseMetadata reads a metadata answer (see the package doc). It wraps ErrMalformed
// for what is not TF-Serving's shape, ErrBadSignature for a missing or unusable
// signature.
func ParseMetadata(b []byte) (Signature, error) {
	var m metadataJSON
	if err := json.Unmarshal(b, &m); err != nil {
		return Signature{}, fmt.Errorf("%w: metadata: %w", ErrMalformed, err)
	}
	version, err := parseVersion(m.ModelSpec.Version)
	if err != nil {
		return Signature{}, fmt.Errorf("%w: metadata: model_spec.version: %w", ErrMalformed, err)
	}
	raw, ok := m.Metadata[MetadataField]
	if !ok {
		return Signature{}, fmt.Errorf("%w: metadata has no %q entry", ErrBadSignature, MetadataField)
	}
	var sj signatureJSON
	if err := json.Unmarshal(raw, &sj); err != nil {
		return Signature{}, fmt.Errorf("%w: metadata.%s: %w", ErrBadSignature, MetadataField, err)
	}
	if !(sj.StepSeconds > 0) || sj.StepSeconds > 86400 {
		return Signature{}, fmt.Errorf("%w: step_seconds %v, want more than 0, at most 86400", ErrBadSignature, sj.StepSeconds)
	}
	s := Signature{
		Name: m.ModelSpec.Name, Version: version,
		Features: sj.Features, Steps: sj.Steps, Outputs: sj.Outputs, Horizon: sj.Horizon,
		Step: time.Duration(sj.StepSeconds * float64(time.Second)),
	}
	if sj.TrainedAt != nil {
		s.TrainedAt = *sj.TrainedAt
	}
	if err := s.Validate(); err != nil {
		return Signature{}, err
	}
	return s, nil
}

// parseVersion reads an int64 written as a string (proto3 JSON) or a number; absent or
// null is 0.
func parseVersion(raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a version", s)
	}
	return v, nil
}
