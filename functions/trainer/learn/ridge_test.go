package learn

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/model"
)

// linear makes n samples of windows of steps rows of len(coef[0])/steps features,
// drawn at random, with targets bias + coef . flattened window + noise.
func linear(rng *rand.Rand, n, steps int, features []string, bias []float64, coef [][]float64, noise float64) []Sample {
	out := make([]Sample, n)
	for i := range out {
		w := make([][]float64, steps)
		var flat []float64
		for j := range w {
			w[j] = make([]float64, len(features))
			for f := range w[j] {
				// Features on different scales and offsets, so standardization matters.
				w[j][f] = float64(10*f) + float64(f+1)*rng.NormFloat64()
			}
			flat = append(flat, w[j]...)
		}
		y := make([]float64, len(bias))
		for k := range y {
			y[k] = bias[k] + noise*rng.NormFloat64()
			for c, v := range flat {
				y[k] += coef[k][c] * v
			}
		}
		out[i] = Sample{Device: "d", Time: time.Unix(int64(i)*60, 0), Window: w, Target: y, Current: []float64{0, 0}}
	}
	return out
}

// The learner recovers a known linear relation: the coefficients in the inputs' own
// units (Weights/Scale), the bias, and its predictions on fresh windows. Tolerances:
// 1e-6 absolute without noise (the penalty is 1e-10), 0.02 with noise of sigma 0.1
// on 4000 samples (the standard error of each coefficient is about 0.002).
func TestFitRecoversLinearRelation(t *testing.T) {
	features := []string{model.FeatureSetpoint, "a", "b"}
	const steps = 3
	p := steps * len(features)
	coef := [][]float64{make([]float64, p), make([]float64, p)}
	for c := range p {
		coef[0][c] = float64(c%4) - 1.5
		coef[1][c] = 0.25 * float64(c%3)
	}
	bias := []float64{21, 48}
	tests := []struct {
		name   string
		noise  float64
		lambda float64
		n      int
		tol    float64
	}{
		{"exact", 0, 1e-10, 500, 1e-6},
		{"noisy", 0.1, 1e-6, 4000, 0.02},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			train := linear(rng, tt.n, steps, features, bias, coef, tt.noise)
			m, err := Fit(train, features, FitOptions{Lambda: tt.lambda, Horizon: 10, Step: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if m.Steps != steps || m.Horizon != 10 || m.StepSeconds != 60 || m.Name != DefaultModelName || m.Version != 1 {
				t.Fatalf("model shape %+v", m)
			}
			for k := range Outputs {
				b := m.Bias[k]
				for c := range p {
					got := m.Weights[k][c] / m.Scale[c]
					b -= got * m.Mean[c]
					if math.Abs(got-coef[k][c]) > tt.tol {
						t.Errorf("output %d input %d: coefficient %.6f, want %.6f within %g", k, c, got, coef[k][c], tt.tol)
					}
				}
				if math.Abs(b-bias[k]) > 20*tt.tol { // the intercept sums p errors over offsets up to 20
					t.Errorf("output %d: intercept %.6f, want %.6f", k, b, bias[k])
				}
			}
			test := linear(rng, 200, steps, features, bias, coef, 0)
			e, err := Evaluate(m, test)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range Outputs {
				if e.Of(o).RMSE > 5*tt.tol {
					t.Errorf("%s: held-out RMSE %g, want below %g", o, e.Of(o).RMSE, 5*tt.tol)
				}
			}
		})
	}
}

// A constant input (weather absent, filled with 0) gets scale 1 and weight 0, and the
// model stays valid.
func TestFitConstantInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	features := []string{model.FeatureSetpoint, model.FeatureWeather}
	coef := [][]float64{{0, 0, 1, 0}, {0, 0, -1, 0}}
	s := linear(rng, 300, 2, features, []float64{0, 0}, coef, 0)
	for _, x := range s {
		for _, row := range x.Window {
			row[1] = 0
		}
	}
	m, err := Fit(s, features, FitOptions{Horizon: 1, Step: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []int{1, 3} {
		if m.Scale[c] != 1 || m.Weights[0][c] != 0 || m.Weights[1][c] != 0 {
			t.Errorf("constant input %d: scale %v, weights %v %v", c, m.Scale[c], m.Weights[0][c], m.Weights[1][c])
		}
	}
}

func TestFitRefuses(t *testing.T) {
	good := func() []Sample {
		return linear(rand.New(rand.NewPCG(5, 6)), 20, 2, []string{model.FeatureSetpoint}, []float64{0, 0}, [][]float64{{1, 1}, {1, 1}}, 0)
	}
	opts := FitOptions{Horizon: 1, Step: time.Minute}
	tests := []struct {
		name     string
		samples  func() []Sample
		features []string
		opts     FitOptions
	}{
		{"no samples", func() []Sample { return nil }, []string{model.FeatureSetpoint}, opts},
		{"negative lambda", good, []string{model.FeatureSetpoint}, FitOptions{Lambda: -1, Horizon: 1, Step: time.Minute}},
		{"no horizon", good, []string{model.FeatureSetpoint}, FitOptions{Step: time.Minute}},
		{"wrong feature count", good, []string{model.FeatureSetpoint, "x"}, opts},
		{"no setpoint feature", good, []string{"x"}, opts},
		{"NaN in a window", func() []Sample { s := good(); s[3].Window[1][0] = math.NaN(); return s }, []string{model.FeatureSetpoint}, opts},
		{"ragged window", func() []Sample { s := good(); s[2].Window = s[2].Window[:1]; return s }, []string{model.FeatureSetpoint}, opts},
		{"short target", func() []Sample { s := good(); s[0].Target = s[0].Target[:1]; return s }, []string{model.FeatureSetpoint}, opts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := Fit(tt.samples(), tt.features, tt.opts); err == nil {
				t.Fatalf("Fit = %+v, want an error", m)
			}
		})
	}
	if _, err := Fit(nil, []string{model.FeatureSetpoint}, opts); !errors.Is(err, ErrNoSamples) {
		t.Errorf("Fit(nil) = %v, want ErrNoSamples", err)
	}
}

func TestEvaluateAndLastValue(t *testing.T) {
	m := &model.Model{
		Format: model.Format, Name: "service", Version: 1, Steps: 1,
		Features: []string{model.FeatureSetpoint}, Outputs: []string{model.OutputHumidity, model.OutputTemperature},
		Horizon: 1, StepSeconds: 60, Mean: []float64{0}, Scale: []float64{1},
		Weights: [][]float64{{0}, {1}}, Bias: []float64{50, 0}, // humidity 50, temperature = setpoint
	}
	samples := []Sample{
		{Window: [][]float64{{20}}, Target: []float64{21, 50}, Current: []float64{20, 52}},
		{Window: [][]float64{{24}}, Target: []float64{21, 46}, Current: []float64{21, 46}},
	}
	e, err := Evaluate(m, samples)
	if err != nil {
		t.Fatal(err)
	}
	// temperature errors -1 and 3; humidity 0 and 4 (outputs matched by name)
	want := map[string]Error{
		model.OutputTemperature: {MAE: 2, RMSE: math.Sqrt(5)},
		model.OutputHumidity:    {MAE: 2, RMSE: math.Sqrt(8)},
	}
	for o, w := range want {
		if g := e.Of(o); math.Abs(g.MAE-w.MAE) > 1e-12 || math.Abs(g.RMSE-w.RMSE) > 1e-12 {
			t.Errorf("%s: %+v, want %+v", o, g, w)
		}
	}
	lv := LastValue(samples)
	if g := lv.Of(model.OutputTemperature); g.MAE != 0.5 || math.Abs(g.RMSE-math.Sqrt(0.5)) > 1e-12 || lv.Samples != 2 {
		t.Errorf("last value: %+v", lv)
	}
	if g := lv.Of(model.OutputHumidity); g.MAE != 1 {
		t.Errorf("last value humidity: %+v", g)
	}
	samples[0].Window = [][]float64{{1, 2}}
	if _, err := Evaluate(m, samples); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("Evaluate with a wrong window = %v, want ErrInvalid", err)
	}
}
