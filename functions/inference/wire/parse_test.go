package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/model"
)

// baseline is the original system's window shape: 6 steps of 5 features.
var baseline = Shape{Steps: 6, Features: model.BaselineFeatures}

// small is a 2-step window of 2 features, for short cases.
var small = Shape{Steps: 2, Features: []string{"temperature", "setpoint"}}

// windowJSON writes a window of shape s whose value at step i, feature j is
// base + i + j/10.
func windowJSON(s Shape, base float64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range s.Steps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		for j := range s.Features {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprint(&b, base+float64(i)+float64(j)/10)
		}
		b.WriteByte(']')
	}
	b.WriteByte(']')
	return b.String()
}

func window(s Shape, base float64) [][]float64 {
	w := make([][]float64, s.Steps)
	for i := range w {
		w[i] = make([]float64, len(s.Features))
		for j := range w[i] {
			w[i][j] = base + float64(i) + float64(j)/10
		}
	}
	return w
}

func TestParseAccepts(t *testing.T) {
	w0, w1 := windowJSON(baseline, 20), windowJSON(baseline, 30)
	tests := []struct {
		name   string
		body   string
		format Format
		sig    string
		want   [][][]float64
	}{
		{"original sender: columnar, one window", `{"inputs": [` + w0 + `]}`, Columnar, "", [][][]float64{window(baseline, 20)}},
		{"columnar, two windows", `{"inputs":[` + w0 + `,` + w1 + `]}`, Columnar, "", [][][]float64{window(baseline, 20), window(baseline, 30)}},
		{"columnar, named", `{"inputs": {"window": [` + w0 + `, ` + w1 + `]}}`, Columnar, "", [][][]float64{window(baseline, 20), window(baseline, 30)}},
		{"row, plain", `{"instances": [` + w0 + `,` + w1 + `]}`, Row, "", [][][]float64{window(baseline, 20), window(baseline, 30)}},
		{"row, named", `{"instances": [{"window": ` + w0 + `}, {"window":` + w1 + `}]}`, Row, "", [][][]float64{window(baseline, 20), window(baseline, 30)}},
		{"with signature", `{"signature_name": "serving_default", "instances": [` + w0 + `]}`, Row, "serving_default", [][][]float64{window(baseline, 20)}},
		{"signature after, empty", `{"instances": [` + w0 + `], "signature_name": ""}`, Row, "", [][][]float64{window(baseline, 20)}},
		{"unknown keys ignored", `{"x": {"deep": [1, "a", true, null, {"b64": "AA=="}]}, "inputs": [` + w0 + `], "y": -1.5e3}`, Columnar, "", [][][]float64{window(baseline, 20)}},
		{"escaped key", `{"in\u0073tances": [` + w0 + `]}`, Row, "", [][][]float64{window(baseline, 20)}},
		{"white space everywhere", " \n{ \"inputs\" :\t[ " + strings.ReplaceAll(w0, ",", " ,\r\n ") + " ] } \n", Columnar, "", [][][]float64{window(baseline, 20)}},
		{"number forms", `{"inputs": [[[0, -0.5], [1e2, 2.5E-1]]]}`, Columnar, "", [][][]float64{{{0, -0.5}, {100, 0.25}}}},
		{"long numbers", `{"inputs": [[[12345678901234567890123, 0.1000000000000000055511151231257827], [1e-320, -4.9406564584124654e-324]]]}`, Columnar, "",
			[][][]float64{{{12345678901234567890123, 0.1}, {1e-320, -5e-324}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseline
			if len(tt.want[0]) == 2 {
				s = small
			}
			req, err := Parse([]byte(tt.body), s)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if req.Format != tt.format || req.Signature != tt.sig || !reflect.DeepEqual(req.Windows, tt.want) {
				t.Fatalf("Parse = %v %q %v, want %v %q %v", req.Format, req.Signature, req.Windows, tt.format, tt.sig, tt.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	w := windowJSON(baseline, 20)
	tests := []struct {
		name   string
		body   string
		reason Reason
		says   string // part of the message
	}{
		{"empty body", ``, NotJSON, "empty"},
		{"blank body", " \n", NotJSON, "empty"},
		{"not JSON", `instances=1`, NotJSON, "offset 0"},
		{"truncated", `{"inputs": [` + w, NotJSON, "end of the body"},
		{"trailing data", `{"inputs": [` + w + `]} {}`, NotJSON, "after the JSON value"},
		{"trailing comma", `{"inputs": [` + w + `],}`, NotJSON, "object key"},
		{"single quotes", `{'inputs': []}`, NotJSON, "object key"},
		{"leading zero", `{"inputs": [[[01, 1, 1, 1, 1]]]}`, NotJSON, "in a step"},
		{"plus sign", `{"inputs": [[[+1, 1, 1, 1, 1]]]}`, NotJSON, "want a value"},
		{"bare dot", `{"inputs": [[[1., 1, 1, 1, 1]]]}`, NotJSON, "decimal point"},
		{"control char in key", "{\"in\x01\": 1}", NotJSON, "control character"},
		{"bad escape", `{"in\q": 1}`, NotJSON, "bad escape"},
		{"NaN in an unknown key", `{"x": NaN, "inputs": [` + w + `]}`, NotJSON, "want a value"},
		{"array", `[` + w + `]`, BadRequest, "not a JSON object"},
		{"both forms", `{"instances": [` + w + `], "inputs": [` + w + `]}`, BadRequest, "either"},
		{"instances twice", `{"instances": [` + w + `], "instances": [` + w + `]}`, BadRequest, "either"},
		{"instances not a list", `{"instances": {"window": ` + w + `}}`, BadRequest, "must be a list"},
		{"inputs a number", `{"inputs": 3}`, BadRequest, "must be a list"},
		{"signature not a string", `{"signature_name": 1, "inputs": [` + w + `]}`, BadRequest, "must be a string"},
		{"signature twice", `{"signature_name": "", "signature_name": "", "inputs": [` + w + `]}`, BadRequest, "twice"},
		{"window twice", `{"instances": [{"window": ` + w + `, "window": ` + w + `}]}`, BadRequest, "twice"},
		{"too deep", `{"x": ` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `, "inputs": [` + w + `]}`, BadRequest, "nested"},
		{"no key", `{}`, MissingInput, `"instances" or "inputs"`},
		{"only other keys", `{"examples": [{"x": 1}]}`, MissingInput, `"instances" or "inputs"`},
		{"no instance", `{"instances": []}`, MissingInput, "no window"},
		{"no input", `{"inputs": []}`, MissingInput, "no window"},
		{"empty named inputs", `{"inputs": {}}`, MissingInput, `"window"`},
		{"named instance without window", `{"instances": [{}]}`, MissingInput, `"window"`},
		{"named inputs, empty", `{"inputs": {"window": []}}`, MissingInput, "no window"},
		{"a window without batch", `{"inputs": ` + w + `}`, BadShape, "instance 0, step 0 is not a list"},
		{"a number for a window", `{"instances": [1, 2]}`, BadShape, "instance 0 is not a window"},
		{"a step short", `{"inputs": [[[1, 2, 3, 4, 5]]]}`, BadShape, "has 1 steps, want 6 steps"},
		{"a step too many", `{"inputs": [` + strings.TrimSuffix(w, "]") + `,[1,2,3,4,5]]]}`, BadShape, "more than 6 steps"},
		{"no step", `{"inputs": [[]]}`, BadShape, "0 steps"},
		{"a value short", `{"instances": [` + strings.Replace(w, ",20.4]", "]", 1) + `]}`, BadShape, "step 0 has 4 values, want 5 (ext_humidity, ext_temperature, humidity, setpoint, weather)"},
		{"a value too many", `{"instances": [` + strings.Replace(w, ",20.4]", ",20.4,1]", 1) + `]}`, BadShape, "more than 5 values"},
		{"empty step", `{"instances": [[[], [], [], [], [], []]]}`, BadShape, "0 values"},
		{"step not a list", `{"instances": [[1, 2, 3, 4, 5, 6]]}`, BadShape, "step 0 is not a list"},
		{"string value", `{"instances": [[["1", 2, 3, 4, 5]]]}`, BadShape, "ext_humidity is a string"},
		{"null value", `{"instances": [[[1, 2, null, 4, 5]]]}`, BadShape, "humidity is null"},
		{"bool value", `{"instances": [[[1, 2, 3, true, 5]]]}`, BadShape, "setpoint is true"},
		{"nested too far", `{"instances": [[[[1], 2, 3, 4, 5]]]}`, BadShape, "is a list"},
		{"unknown named instance input", `{"instances": [{"windows": ` + w + `}]}`, BadShape, `unknown input "windows"`},
		{"unknown named columnar input", `{"inputs": {"x": [` + w + `]}}`, BadShape, `unknown input "x"`},
		{"named input not a list", `{"inputs": {"window": 1}}`, BadShape, "must be a list of windows"},
		{"mixed, plain first", `{"instances": [` + w + `, {"window": ` + w + `}]}`, BadShape, "instance 1 is an object"},
		{"mixed, named first", `{"instances": [{"window": ` + w + `}, ` + w + `]}`, BadShape, "instance 1 is not an object"},
		{"second instance bad", `{"instances": [` + w + `, [[1]]]}`, BadShape, "instance 1, step 0 has 1 values"},
		{"NaN", `{"instances": [[[1, 2, NaN, 4, 5]]]}`, NotFinite, "humidity is NaN"},
		{"Infinity", `{"inputs": [[[1, Infinity, 3, 4, 5]]]}`, NotFinite, "ext_temperature is Infinity"},
		{"-Infinity", `{"inputs": [[[-Infinity, 2, 3, 4, 5]]]}`, NotFinite, "ext_humidity is -Infinity"},
		{"overflow", `{"inputs": [[[1, 2, 3, 1e400, 5]]]}`, NotFinite, "setpoint is 1e400, beyond the range"},
		{"unknown signature", `{"signature_name": "predict", "inputs": [` + w + `]}`, UnknownSignature, `"predict" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := Parse([]byte(tt.body), baseline)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse = %+v, %v; want an *Error", req, err)
			}
			if e.Reason != tt.reason || !strings.Contains(e.Msg, tt.says) {
				t.Fatalf("Parse: %s %q; want %s saying %q", e.Reason, e.Msg, tt.reason, tt.says)
			}
			if tt.reason == NotJSON && json.Valid([]byte(tt.body)) {
				t.Fatalf("%q is valid JSON but refused as not_json", tt.body)
			}
		})
	}
}

// The windows share one backing array but do not overlap: each row is capped.
func TestParseWindowsDoNotAlias(t *testing.T) {
	req, err := Parse([]byte(`{"inputs": [`+windowJSON(small, 1)+`,`+windowJSON(small, 2)+`]}`), small)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range req.Windows {
		if cap(w) != len(w) {
			t.Errorf("a window has room for %d more steps: an append would write into the next", cap(w)-len(w))
		}
		for _, row := range w {
			if cap(row) != len(row) {
				t.Errorf("a row has room for %d more values: an append would write into the next", cap(row)-len(row))
			}
		}
	}
	if want := [][][]float64{window(small, 1), window(small, 2)}; !reflect.DeepEqual(req.Windows, want) {
		t.Fatalf("windows %v, want %v", req.Windows, want)
	}
}

func TestAppendResponse(t *testing.T) {
	outs := [][]float64{{21.5, 40}, {-0.25, 1e-7}, {1e21, 0}}
	for _, tt := range []struct {
		f    Format
		want string
	}{
		{Row, `{"predictions":[[21.5,40],[-0.25,1e-07],[1e+21,0]]}` + "\n"},
		{Columnar, `{"outputs":[[21.5,40],[-0.25,1e-07],[1e+21,0]]}` + "\n"},
	} {
		got, err := AppendResponse(nil, tt.f, outs)
		if err != nil || string(got) != tt.want {
			t.Errorf("AppendResponse(%v) = %s, %v; want %s", tt.f, got, err, tt.want)
		}
		var back map[string][][]float64
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		for _, v := range back {
			if !reflect.DeepEqual(v, outs) {
				t.Errorf("read back %v, want %v", v, outs)
			}
		}
	}
	_, err := AppendResponse(nil, Row, [][]float64{{1, 2}, {math.Inf(1), 0}})
	var e *Error
	if !errors.As(err, &e) || e.Reason != NotFinite || !strings.Contains(e.Msg, "instance 1") {
		t.Errorf("AppendResponse of +Inf: %v, want not_finite naming instance 1", err)
	}
}

func TestAppendError(t *testing.T) {
	got := AppendError(nil, `bad "quote" and <tag>`)
	var body ErrorBody
	if err := json.Unmarshal(got, &body); err != nil || body.Error != `bad "quote" and <tag>` || !bytes.HasSuffix(got, []byte("\n")) {
		t.Errorf("AppendError = %s (%v)", got, err)
	}
}

// When the model says when it was trained, the metadata does (the controller's
// model-max-age needs it); when it does not, the field is left out.
func TestMetadataTrainedAt(t *testing.T) {
	m := &model.Model{Format: model.Format, Name: "service", Version: 3, Steps: 6, Features: model.BaselineFeatures,
		Outputs: []string{model.OutputTemperature}, Horizon: 5, StepSeconds: 60}
	if b, _ := json.Marshal(NewMetadata("service", m)); strings.Contains(string(b), "trained_at") {
		t.Errorf("trained_at without a training time: %s", b)
	}
	m.TrainedAt = time.Date(2026, 12, 2, 3, 0, 0, 0, time.FixedZone("KST", 9*3600))
	if got := NewMetadata("service", m).Metadata.Smartx.TrainedAt; got != "2026-12-01T18:00:00Z" {
		t.Errorf("trained_at %q, want 2026-12-01T18:00:00Z", got)
	}
}

func TestNewMetadata(t *testing.T) {
	m := &model.Model{Format: model.Format, Name: "service", Version: 3, Steps: 6, Features: model.BaselineFeatures,
		Outputs: []string{model.OutputTemperature, model.OutputHumidity}, Horizon: 5, StepSeconds: 60}
	b, err := json.Marshal(NewMetadata("service", m))
	if err != nil {
		t.Fatal(err)
	}
	// Read it back as a generic TF-Serving client would.
	var md struct {
		ModelSpec struct{ Name, Version string } `json:"model_spec"`
		Metadata  struct {
			SignatureDef struct {
				SignatureDef map[string]struct {
					Inputs, Outputs map[string]struct {
						Dtype       string
						TensorShape struct{ Dim []struct{ Size string } } `json:"tensor_shape"`
					}
					MethodName string `json:"method_name"`
				} `json:"signature_def"`
			} `json:"signature_def"`
			Smartx SmartxMetadata `json:"smartx"`
		}
	}
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	def, ok := md.Metadata.SignatureDef.SignatureDef["serving_default"]
	if md.ModelSpec.Name != "service" || md.ModelSpec.Version != "3" || !ok || def.MethodName != "tensorflow/serving/predict" {
		t.Fatalf("metadata %s", b)
	}
	in, out := def.Inputs["window"], def.Outputs["prediction"]
	if fmt.Sprint(in.TensorShape.Dim) != "[{-1} {6} {5}]" || fmt.Sprint(out.TensorShape.Dim) != "[{-1} {2}]" || in.Dtype != "DT_DOUBLE" {
		t.Fatalf("tensors %+v %+v in %s", in, out, b)
	}
	if !reflect.DeepEqual(md.Metadata.Smartx.Features, model.BaselineFeatures) || md.Metadata.Smartx.Horizon != 5 || md.Metadata.Smartx.StepSeconds != 60 ||
		!reflect.DeepEqual(md.Metadata.Smartx.Outputs, []string{"temperature", "humidity"}) || md.Metadata.Smartx.Steps != 6 {
		t.Fatalf("smartx %+v", md.Metadata.Smartx)
	}
}

// reference reads a request the slow way, with encoding/json, for FuzzParse: the
// windows of an accepted request, nil if it holds no "instances" or "inputs" windows
// that encoding/json can read as numbers.
func reference(b []byte) (Format, [][][]float64) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return 0, nil
	}
	if raw, ok := top["instances"]; ok {
		var plain [][][]float64
		if json.Unmarshal(raw, &plain) == nil {
			return Row, plain
		}
		var named []map[string][][]float64
		if json.Unmarshal(raw, &named) == nil {
			var ws [][][]float64
			for _, n := range named {
				ws = append(ws, n["window"])
			}
			return Row, ws
		}
		return Row, nil
	}
	var plain [][][]float64
	if json.Unmarshal(top["inputs"], &plain) == nil {
		return Columnar, plain
	}
	var named map[string][][][]float64
	if json.Unmarshal(top["inputs"], &named) == nil {
		return Columnar, named["window"]
	}
	return Columnar, nil
}

// FuzzParse: any body is parsed without panic into a request or an *Error; what is
// accepted is valid JSON that encoding/json reads as the same windows, bit for bit,
// of the right shape; what is refused as not_json is not valid JSON.
func FuzzParse(f *testing.F) {
	w := windowJSON(small, 20)
	for _, seed := range []string{
		`{"inputs": [` + w + `]}`,
		`{"inputs": {"window": [` + w + `,` + w + `]}}`,
		`{"instances": [` + w + `]}`,
		`{"instances": [{"window": ` + w + `}]}`,
		`{"signature_name": "serving_default", "instances": [[[1, 2], [3, 4]]], "x": [null, true, "\u00e9\ud83d\ude00"]}`,
		`{"inputs": [[[0.1, -2.5e-3], [1e308, 123456789012345678901234567890]]]}`,
		`{"inputs": [[[NaN, 1], [2, 3]]]}`,
		`{"instances": [[[1, 2], [3]]]}`,
		`{"instances": [], "inputs": []}`,
		`[1, 2]`,
		``,
		`{"inputs": [[[1e-400, -0], [4.9e-324, 0.30000000000000004]]]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := Parse(b, small)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Msg == "" {
				t.Fatalf("error %v (%T) is not an *Error with a message", err, err)
			}
			if e.Reason == NotJSON && json.Valid(b) {
				t.Fatalf("valid JSON refused as not_json: %v", err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		if len(req.Windows) == 0 {
			t.Fatal("accepted a request without windows")
		}
		for _, w := range req.Windows {
			if len(w) != small.Steps {
				t.Fatalf("window of %d steps", len(w))
			}
			for _, row := range w {
				if len(row) != len(small.Features) {
					t.Fatalf("row of %d values", len(row))
				}
				for _, v := range row {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						t.Fatalf("accepted %v", v)
					}
				}
			}
		}
		format, want := reference(b)
		if format != req.Format || len(want) != len(req.Windows) {
			t.Fatalf("encoding/json reads %v %v, Parse %v %v", format, want, req.Format, req.Windows)
		}
		for i := range want {
			for s := range want[i] {
				for j := range want[i][s] {
					if math.Float64bits(want[i][s][j]) != math.Float64bits(req.Windows[i][s][j]) {
						t.Fatalf("window %d, step %d, value %d: Parse %v, encoding/json %v", i, s, j, req.Windows[i][s][j], want[i][s][j])
					}
				}
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	body := []byte(`{"inputs": [` + windowJSON(baseline, 20.25) + `]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(body, baseline); err != nil {
			b.Fatal(err)
		}
	}
}
