package learn

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/smartx-team/overcloud/functions/model"
)

// DefaultLambda is the ridge penalty Fit uses unless told otherwise: on standardized
// inputs and per sample (see FitOptions.Lambda), small enough to leave a well
// determined relation as it is and large enough to tame the near-copies a window
// holds (six steps of a slowly moving temperature).
const DefaultLambda = 1e-3

// DefaultModelName is the name models are written under, as the original's TF-Serving
// model was called.
const DefaultModelName = "service"

// ErrNoSamples is returned by Fit for an empty training set.
var ErrNoSamples = errors.New("learn: no samples")

// FitOptions set up Fit.
type FitOptions struct {
	// Lambda is the ridge penalty: Fit minimizes, for each output,
	// (1/n) sum (y - b - w.z)^2 + Lambda |w|^2 over the standardized inputs z
	// (default DefaultLambda; it must be positive).
	Lambda float64
	// Horizon and Step are what the samples were built with (required; they go into
	// the model).
	Horizon int
	Step    time.Duration
	// Name and Version of the model (default DefaultModelName and 1).
	Name    string
	Version int64
}

// Fit fits a model of the given window features (the columns of every sample's
// window rows) to the samples' Targets: each input standardized to mean 0 and
// standard deviation 1 over the samples (an input that does not vary keeps scale 1
// and gets weight 0), then ridge regression, solved by a Cholesky factorization of
// (Z'Z/n + Lambda I). The model predicts Outputs.
func Fit(samples []Sample, features []string, o FitOptions) (*model.Model, error) {
	if o.Lambda == 0 {
		o.Lambda = DefaultLambda
	}
	if o.Name == "" {
		o.Name = DefaultModelName
	}
	if o.Version == 0 {
		o.Version = 1
	}
	switch {
	case len(samples) == 0:
		return nil, ErrNoSamples
	case !(o.Lambda > 0) || math.IsInf(o.Lambda, 0):
		return nil, fmt.Errorf("learn: lambda %v, want a positive number", o.Lambda)
	case o.Horizon < 1 || o.Step <= 0:
		return nil, fmt.Errorf("learn: horizon %d and step %s must be positive", o.Horizon, o.Step)
	}
	steps := len(samples[0].Window)
	x, y, err := matrices(samples, steps, len(features))
	if err != nil {
		return nil, err
	}
	n, p := x.Dims()
	m := &model.Model{
		Format: model.Format, Name: o.Name, Version: o.Version, Steps: steps,
		Features: slices.Clone(features), Outputs: slices.Clone(Outputs),
		Horizon: o.Horizon, StepSeconds: o.Step.Seconds(),
		Mean: make([]float64, p), Scale: make([]float64, p),
		Weights: make([][]float64, len(Outputs)), Bias: make([]float64, len(Outputs)),
	}
	// Standardize the columns of x in place into z.
	for j := range p {
		col := mat.Col(nil, j, x)
		mean, sd := meanStd(col)
		if !(sd > 1e-12*math.Max(1, math.Abs(mean))) {
			sd = 1
		}
		m.Mean[j], m.Scale[j] = mean, sd
		for i := range col {
			col[i] = (col[i] - mean) / sd
		}
		x.SetCol(j, col)
	}
	z := x
	// Center the targets; the bias is their mean.
	for k := range len(Outputs) {
		col := mat.Col(nil, k, y)
		mean, _ := meanStd(col)
		m.Bias[k] = mean
		for i := range col {
			col[i] -= mean
		}
		y.SetCol(k, col)
	}
	var a mat.SymDense
	a.SymOuterK(1/float64(n), z.T())
	for j := range p {
		a.SetSym(j, j, a.At(j, j)+o.Lambda)
	}
	var chol mat.Cholesky
	if ok := chol.Factorize(&a); !ok {
		return nil, errors.New("learn: the normal equations are not positive definite")
	}
	var b mat.Dense
	b.Mul(z.T(), y)
	b.Scale(1/float64(n), &b)
	var w mat.Dense
	if err := chol.SolveTo(&w, &b); err != nil {
		return nil, fmt.Errorf("learn: solve: %w", err)
	}
	for k := range len(Outputs) {
		m.Weights[k] = mat.Col(nil, k, &w)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("learn: fitted model: %w", err)
	}
	return m, nil
}

// matrices flattens the samples' windows into x (n x steps*nf) and their targets
// into y (n x len(Outputs)).
func matrices(samples []Sample, steps, nf int) (x, y *mat.Dense, err error) {
	p := steps * nf
	xs := make([]float64, 0, len(samples)*p)
	ys := make([]float64, 0, len(samples)*len(Outputs))
	for i, s := range samples {
		if err := s.check(steps, nf); err != nil {
			return nil, nil, fmt.Errorf("learn: sample %d (%s %s): %w", i, s.Device, s.Time.Format(time.RFC3339), err)
		}
		for _, row := range s.Window {
			xs = append(xs, row...)
		}
		ys = append(ys, s.Target...)
	}
	if p == 0 {
		return nil, nil, errors.New("learn: no features")
	}
	return mat.NewDense(len(samples), p, xs), mat.NewDense(len(samples), len(Outputs), ys), nil
}

func (s Sample) check(steps, nf int) error {
	if len(s.Window) != steps {
		return fmt.Errorf("%d steps, want %d", len(s.Window), steps)
	}
	for j, row := range s.Window {
		if len(row) != nf {
			return fmt.Errorf("step %d has %d values, want %d", j, len(row), nf)
		}
		if slices.ContainsFunc(row, notFinite) {
			return fmt.Errorf("step %d has a value that is not finite", j)
		}
	}
	if len(s.Target) != len(Outputs) || slices.ContainsFunc(s.Target, notFinite) {
		return fmt.Errorf("target %v, want %d finite values", s.Target, len(Outputs))
	}
	return nil
}

func notFinite(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }

func meanStd(v []float64) (mean, sd float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(v)))
}

// Error is one output's mean absolute and root mean square error.
type Error struct {
	MAE  float64 `json:"mae"`
	RMSE float64 `json:"rmse"`
}

// Errors are the errors of a predictor over a set of samples, by output name.
type Errors struct {
	Samples int              `json:"samples"`
	Outputs map[string]Error `json:"outputs"`
}

// Of is the error of the named output (zero if there is none).
func (e Errors) Of(output string) Error { return e.Outputs[output] }

// errorsOf accumulates |pred - target| over the samples, per output of Outputs.
func errorsOf(samples []Sample, predict func(Sample) ([]float64, error)) (Errors, error) {
	abs := make([]float64, len(Outputs))
	sq := make([]float64, len(Outputs))
	for _, s := range samples {
		p, err := predict(s)
		if err != nil {
			return Errors{}, err
		}
		for k := range Outputs {
			d := p[k] - s.Target[k]
			abs[k] += math.Abs(d)
			sq[k] += d * d
		}
	}
	e := Errors{Samples: len(samples), Outputs: map[string]Error{}}
	for k, name := range Outputs {
		if n := float64(len(samples)); n > 0 {
			e.Outputs[name] = Error{MAE: abs[k] / n, RMSE: math.Sqrt(sq[k] / n)}
		}
	}
	return e, nil
}

// Evaluate is m's error over the samples, whose windows must have m's features.
func Evaluate(m *model.Model, samples []Sample) (Errors, error) {
	idx := make([]int, len(Outputs))
	for k, name := range Outputs {
		idx[k] = slices.Index(m.Outputs, name)
		if idx[k] < 0 {
			return Errors{}, fmt.Errorf("learn: model has no output %s", name)
		}
	}
	return errorsOf(samples, func(s Sample) ([]float64, error) {
		out, err := m.Predict(s.Window)
		if err != nil {
			return nil, fmt.Errorf("learn: %s %s: %w", s.Device, s.Time.Format(time.RFC3339), err)
		}
		p := make([]float64, len(idx))
		for k, i := range idx {
			p[k] = out[i]
		}
		return p, nil
	})
}

// LastValue is the error of the naive baseline that predicts no change: each output
// Horizon steps ahead is what it is now (Sample.Current).
func LastValue(samples []Sample) Errors {
	e, _ := errorsOf(samples, func(s Sample) ([]float64, error) { return s.Current, nil })
	return e
}
