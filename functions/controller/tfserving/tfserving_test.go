package tfserving_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/controller/internal/controllertest"
	"github.com/smartx-team/overcloud/functions/controller/tfserving"
)

func client(t *testing.T, url string) *tfserving.Client {
	t.Helper()
	c, err := tfserving.New(tfserving.Options{URL: url, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func window(temp, rh, sp float64) [][]float64 {
	return [][]float64{{temp, rh, 24}, {temp, rh, 24}, {temp, rh, sp}}
}

// Against a server answering TF-Serving's shapes with a real model's numbers, the
// client reads the signature and gets one prediction per instance, in order, equal to
// the model's own.
func TestMetadataAndPredict(t *testing.T) {
	m := controllertest.Model()
	srv := controllertest.NewInference(t, m)
	trained := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	srv.SetTrainedAt(trained)
	c := client(t, srv.URL)
	ctx := context.Background()

	sig, err := c.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sig.Name != "service" || sig.Version != 3 || sig.Steps != 3 || sig.Horizon != 5 || sig.Step != time.Minute ||
		strings.Join(sig.Features, ",") != "temperature,humidity,setpoint" || strings.Join(sig.Outputs, ",") != "temperature,humidity" ||
		!sig.TrainedAt.Equal(trained) {
		t.Fatalf("signature %+v", sig)
	}
	instances := [][][]float64{window(24, 50, 24), window(24, 50, 25), window(27, 50, 25)}
	got, err := c.Predict(ctx, sig, instances)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d predictions", len(got))
	}
	for i, inst := range instances {
		want, _ := m.Predict(inst)
		if math.Abs(got[i][0]-want[0]) > 1e-9 || math.Abs(got[i][1]-want[1]) > 1e-9 {
			t.Errorf("prediction %d = %v, want the model's %v", i, got[i], want)
		}
	}
	if math.Abs(got[1][0]-26) > 1e-9 || math.Abs(got[1][1]-50) > 1e-9 {
		t.Errorf("at 25 C with the room at 24: %v, want [26 50]", got[1])
	}

	// An instance of the wrong shape is not sent at all.
	if _, err := c.Predict(ctx, sig, [][][]float64{{{1, 2}}}); err == nil {
		t.Error("an instance of the wrong shape was sent")
	}
	if _, err := c.Predict(ctx, sig, [][][]float64{window(math.NaN(), 50, 24)}); err == nil {
		t.Error("an instance holding NaN was sent")
	}
	srv.SetModel(nil)
	if _, err := c.Metadata(ctx); !errors.Is(err, tfserving.ErrNoModel) {
		t.Errorf("no model: %v", err)
	}
	// The version is pinned: a newer version served now is not the one the window
	// was built for.
	newer := controllertest.Model()
	newer.Version = 4
	srv.SetModel(newer)
	if _, err := c.Predict(ctx, sig, instances); !errors.Is(err, tfserving.ErrNoModel) {
		t.Errorf("predict on a version no longer served: %v, want ErrNoModel", err)
	}
}

// Every way the server can fail maps to the error the policy names.
func TestErrors(t *testing.T) {
	srv := controllertest.NewInference(t, controllertest.Model())
	c := client(t, srv.URL)
	ctx := context.Background()
	sig, err := c.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inst := [][][]float64{window(24, 50, 24)}
	for _, tt := range []struct {
		name   string
		status int
		body   string
		want   error
		msg    string
	}{
		{"5xx", 503, `{"error": "overloaded"}`, tfserving.ErrUnavailable, "overloaded"},
		{"429", 429, ``, tfserving.ErrUnavailable, ""},
		{"404", 404, `{"error": "Servable not found"}`, tfserving.ErrNoModel, "Servable not found"},
		{"400", 400, `{"error": "Input to reshape is a tensor with 8 values"}`, tfserving.ErrRejected, "reshape"},
		{"not JSON", 200, `<html>`, tfserving.ErrMalformed, ""},
		{"column format", 200, `{"outputs": [[1, 2]]}`, tfserving.ErrMalformed, ""},
		{"too many", 200, `{"predictions": [[1, 2], [3, 4]]}`, tfserving.ErrMalformed, "2 predictions for 1"},
		{"too few values", 200, `{"predictions": [[1]]}`, tfserving.ErrMalformed, "1 values for 2 outputs"},
		{"a string", 200, `{"predictions": [["hot", 2]]}`, tfserving.ErrMalformed, "not a number"},
		{"error in a 200", 200, `{"error": "boom"}`, tfserving.ErrMalformed, "boom"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv.SetHook(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPost {
					return false
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
				return true
			})
			_, err := c.Predict(ctx, sig, inst)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Predict = %v, want %v with %q", err, tt.want, tt.msg)
			}
		})
	}
	srv.SetHook(nil)
	srv.Close()
	if _, err := c.Metadata(ctx); !errors.Is(err, tfserving.ErrUnavailable) {
		t.Errorf("server down: %v", err)
	}
}

func TestParsePredictions(t *testing.T) {
	outs := []string{"temperature", "humidity"}
	for _, tt := range []struct {
		name string
		body string
		outs []string
		want [][]float64 // NaN compares equal to NaN here
		err  bool
	}{
		{"lists", `{"predictions": [[25.5, 50], [26, 48.5]]}`, outs, [][]float64{{25.5, 50}, {26, 48.5}}, false},
		{"NaN and infinities as TF-Serving writes them", `{"predictions": [[NaN, 50], [Infinity, -Infinity]]}`, outs,
			[][]float64{{math.NaN(), 50}, {math.Inf(1), math.Inf(-1)}}, false},
		{"a NaN inside a string is text", `{"predictions": [[1, 2], [3, 4]], "note": "NaN Infinity \"NaN\""}`, outs,
			[][]float64{{1, 2}, {3, 4}}, false},
		{"named outputs", `{"predictions": [{"humidity": 50, "temperature": 25}, {"temperature": [26], "humidity": [49]}]}`, outs,
			[][]float64{{25, 50}, {26, 49}}, false},
		{"one output as scalars", `{"predictions": [25, 26]}`, []string{"temperature"}, [][]float64{{25}, {26}}, false},
		{"exponents", `{"predictions": [[2.5e1, 5E1], [1e400, 0]]}`, outs, [][]float64{{25, 50}, {math.Inf(1), 0}}, false},
		{"scalar for two outputs", `{"predictions": [25, 26]}`, outs, nil, true},
		{"named output missing", `{"predictions": [{"temperature": 25}, {"temperature": 26}]}`, outs, nil, true},
		{"null", `{"predictions": null}`, outs, nil, true},
		{"missing", `{}`, outs, nil, true},
		{"object", `{"predictions": {"a": 1}}`, outs, nil, true},
		{"truncated", `{"predictions": [[25, 50], [26`, outs, nil, true},
		{"bool", `{"predictions": [[true, 50], [26, 1]]}`, outs, nil, true},
		{"nan lower case", `{"predictions": [[nan, 50], [26, 1]]}`, outs, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tfserving.ParsePredictions([]byte(tt.body), 2, tt.outs)
			if tt.err {
				if !errors.Is(err, tfserving.ErrMalformed) {
					t.Errorf("= %v, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				for j := range tt.want[i] {
					w, g := tt.want[i][j], got[i][j]
					if !(w == g || (math.IsNaN(w) && math.IsNaN(g))) {
						t.Errorf("[%d][%d] = %v, want %v", i, j, g, w)
					}
				}
			}
		})
	}
}

func TestParseMetadata(t *testing.T) {
	good := `{"model_spec": {"name": "service", "version": "7"}, "metadata": {"signature_def": {},
		"smartx": {"features": ["humidity", "setpoint"], "steps": 6, "outputs": ["temperature", "humidity"], "horizon": 2, "step_seconds": 600}}}`
	sig, err := tfserving.ParseMetadata([]byte(good))
	if err != nil || sig.Version != 7 || sig.Steps != 6 || sig.Step != 10*time.Minute || !sig.TrainedAt.IsZero() {
		t.Fatalf("ParseMetadata = %+v, %v", sig, err)
	}
	numeric := strings.Replace(good, `"version": "7"`, `"version": 7`, 1)
	if sig, err := tfserving.ParseMetadata([]byte(numeric)); err != nil || sig.Version != 7 {
		t.Errorf("numeric version: %+v %v", sig, err)
	}
	for _, tt := range []struct {
		name string
		old  string
		new  string
		want error
	}{
		{"not JSON", `{"model_spec"`, `[`, tfserving.ErrMalformed},
		{"bad version", `"7"`, `"seven"`, tfserving.ErrMalformed},
		{"no smartx entry", `"smartx"`, `"other"`, tfserving.ErrBadSignature},
		{"no setpoint feature", `["humidity", "setpoint"]`, `["humidity", "cpu"]`, tfserving.ErrBadSignature},
		{"no temperature output", `["temperature", "humidity"]`, `["humidity"]`, tfserving.ErrBadSignature},
		{"repeated feature", `["humidity", "setpoint"]`, `["setpoint", "setpoint"]`, tfserving.ErrBadSignature},
		{"zero steps", `"steps": 6`, `"steps": 0`, tfserving.ErrBadSignature},
		{"zero step", `"step_seconds": 600`, `"step_seconds": 0`, tfserving.ErrBadSignature},
		{"no horizon", `"horizon": 2`, `"horizon": 0`, tfserving.ErrBadSignature},
		{"no name", `"name": "service"`, `"name": ""`, tfserving.ErrBadSignature},
		{"wrong type", `"steps": 6`, `"steps": "6"`, tfserving.ErrBadSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.Replace(good, tt.old, tt.new, 1)
			if body == good {
				t.Fatal("test does not change the body")
			}
			if _, err := tfserving.ParseMetadata([]byte(body)); !errors.Is(err, tt.want) {
				t.Errorf("= %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewChecksOptions(t *testing.T) {
	for _, o := range []tfserving.Options{{URL: ""}, {URL: "ftp://x"}, {URL: "http://x", Model: "a/b"}} {
		if _, err := tfserving.New(o); err == nil {
			t.Errorf("New(%+v) took it", o)
		}
	}
	c, err := tfserving.New(tfserving.Options{URL: "http://x/"})
	if err != nil || c.Model() != "service" {
		t.Errorf("defaults: %v %v", c, err)
	}
}

// The parsers of the server's answers never panic, and whatever they return is
// consistent with what was asked.
func FuzzParsePredictions(f *testing.F) {
	for _, s := range []string{
		`{"predictions": [[25.5, 50], [26, 48.5]]}`,
		`{"predictions": [[NaN, 50], [Infinity, -Infinity]]}`,
		`{"predictions": [{"temperature": 25, "humidity": [50]}, 3]}`,
		`{"predictions": [25, "NaN"], "x": "\"NaN\\"}`,
		`{"error": "x"}`,
		`[-Infinit`,
	} {
		f.Add([]byte(s), 2)
	}
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 100 {
			return
		}
		outs := []string{"temperature", "humidity"}
		rows, err := tfserving.ParsePredictions(b, n, outs)
		if err != nil {
			if !errors.Is(err, tfserving.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(rows) != n {
			t.Fatalf("%d rows for %d", len(rows), n)
		}
		for _, r := range rows {
			if len(r) != len(outs) {
				t.Fatalf("row %v", r)
			}
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte(`{"model_spec": {"name": "service", "version": "7"}, "metadata": {"smartx": {"features": ["setpoint"], "steps": 6, "outputs": ["temperature"], "horizon": 2, "step_seconds": 600, "trained_at": "2026-11-20T03:00:00Z"}}}`))
	f.Add([]byte(`{"model_spec": {"version": 1e99}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sig, err := tfserving.ParseMetadata(b)
		if err != nil {
			if !errors.Is(err, tfserving.ErrMalformed) && !errors.Is(err, tfserving.ErrBadSignature) {
				t.Fatalf("error %v wraps neither", err)
			}
			return
		}
		if err := sig.Validate(); err != nil {
			t.Fatalf("returned an invalid signature: %v", err)
		}
	})
}

// TestParseErrorsKeepTheDecodeError: the decoder's error names the field of the
// signature that has the wrong type, or the place where the answer stops being JSON;
// an operator reading the controller's log needs it beside the sentinel.
func TestParseErrorsKeepTheDecodeError(t *testing.T) {
	meta := `{"model_spec": {"name": "service", "version": "7"}, "metadata": {
		"smartx": {"features": ["setpoint"], "steps": "6", "outputs": ["temperature"], "horizon": 2, "step_seconds": 600}}}`
	_, err := tfserving.ParseMetadata([]byte(meta))
	var typ *json.UnmarshalTypeError
	if !errors.Is(err, tfserving.ErrBadSignature) || !errors.As(err, &typ) || typ.Field != "steps" {
		t.Errorf("ParseMetadata with a string steps = %v, want ErrBadSignature wrapping a type error of steps", err)
	}
	_, err = tfserving.ParsePredictions([]byte(`{"predictions": [1,}`), 1, []string{"temperature"})
	var syn *json.SyntaxError
	if !errors.Is(err, tfserving.ErrMalformed) || !errors.As(err, &syn) {
		t.Errorf("ParsePredictions of broken JSON = %v, want ErrMalformed wrapping a *json.SyntaxError", err)
	}
}
