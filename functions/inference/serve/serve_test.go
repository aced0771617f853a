package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/smartx-team/overcloud/functions/testbed/leakcheck"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smartx-team/overcloud/functions/inference/internal/inferencetest"
	"github.com/smartx-team/overcloud/functions/inference/registry"
	"github.com/smartx-team/overcloud/functions/inference/wire"
	"github.com/smartx-team/overcloud/functions/internal/service"
	"github.com/smartx-team/overcloud/functions/model"
)

func TestMain(m *testing.M) { leakcheck.Main(m, inferencetest.Packages...) }

var _ Models = (*registry.Registry)(nil)

const name = inferencetest.Name

// server is the API on a free port of 127.0.0.1 over a registry of base.
type server struct {
	url  string
	base string
	reg  *registry.Registry
	prom *prometheus.Registry
	h    *Handler
}

// startServer serves the models under base (written before) until the test ends.
func startServer(t testing.TB, base string, opts Options) *server {
	t.Helper()
	s := &server{base: base, prom: prometheus.NewRegistry()}
	var err error
	if s.reg, err = registry.New(registry.Options{Base: base, Registerer: s.prom}); err != nil {
		t.Fatal(err)
	}
	opts.Registerer = s.prom
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if s.h, err = New(s.reg, opts); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.url = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Serve(ctx, NewServer(s.h), ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		http.DefaultClient.CloseIdleConnections()
	})
	return s
}

// baseWith writes the given versions of the baseline model into a new base.
func baseWith(t testing.TB, versions ...int64) string {
	t.Helper()
	base := t.TempDir()
	for _, v := range versions {
		inferencetest.Write(t, base, inferencetest.Baseline(name, v))
	}
	return base
}

// do sends a request and returns the status, headers and body.
func do(t testing.TB, method, url, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func TestPredictForms(t *testing.T) {
	s := startServer(t, baseWith(t, 1, 2), Options{})
	v1, v2 := inferencetest.Baseline(name, 1), inferencetest.Baseline(name, 2)
	w0, w1 := inferencetest.Window(v2, 20), inferencetest.Window(v2, 31.25)
	j0, j1 := inferencetest.JSON(w0), inferencetest.JSON(w1)
	tests := []struct {
		name string
		path string
		body string
		key  string // of the response
		want [][]float64
	}{
		// The original sender's request: one window of 6 steps of 5 values, columnar.
		{"original sender", "/v1/models/service:predict", `{"inputs": [` + j0 + `]}`, "outputs", inferencetest.Predict(t, v2, w0)},
		{"columnar, two", "/v1/models/service:predict", `{"inputs": [` + j0 + `, ` + j1 + `]}`, "outputs", inferencetest.Predict(t, v2, w0, w1)},
		{"columnar, named", "/v1/models/service:predict", `{"inputs": {"window": [` + j0 + `, ` + j1 + `]}}`, "outputs", inferencetest.Predict(t, v2, w0, w1)},
		{"row", "/v1/models/service:predict", `{"instances": [` + j0 + `, ` + j1 + `]}`, "predictions", inferencetest.Predict(t, v2, w0, w1)},
		{"row, named", "/v1/models/service:predict", `{"instances": [{"window": ` + j1 + `}, {"window": ` + j0 + `}]}`, "predictions", inferencetest.Predict(t, v2, w1, w0)},
		{"signature", "/v1/models/service:predict", `{"signature_name": "serving_default", "instances": [` + j0 + `]}`, "predictions", inferencetest.Predict(t, v2, w0)},
		{"latest by number", "/v1/models/service/versions/2:predict", `{"instances": [` + j0 + `]}`, "predictions", inferencetest.Predict(t, v2, w0)},
		{"older version", "/v1/models/service/versions/1:predict", `{"instances": [` + j0 + `]}`, "predictions", inferencetest.Predict(t, v1, w0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, hdr, body := do(t, http.MethodPost, s.url+tt.path, tt.body)
			if code != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, %s: %s", code, hdr.Get("Content-Type"), body)
			}
			var got map[string][][]float64
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[tt.key], tt.want) {
				t.Fatalf("response %s, want %q: %v", body, tt.key, tt.want)
			}
			if len(tt.want[0]) != len(v2.Outputs) {
				t.Fatalf("an output row has %d values, want one per output", len(tt.want[0]))
			}
		})
	}
	// The two versions answer differently, so the cases above tell them apart.
	if reflect.DeepEqual(inferencetest.Predict(t, v1, w0), inferencetest.Predict(t, v2, w0)) {
		t.Fatal("versions 1 and 2 predict alike")
	}
	if n := testutil.ToFloat64(s.h.predictions.WithLabelValues(name)); n != 12 {
		t.Errorf("inference_predictions_total{model=service} = %v, want 12", n)
	}
}

func TestErrors(t *testing.T) {
	base := baseWith(t, 1)
	inferencetest.WriteBroken(t, base, name, 2, "{")
	s := startServer(t, base, Options{MaxBodyBytes: 4096})
	m := inferencetest.Baseline(name, 1)
	wj := inferencetest.JSON(inferencetest.Window(m, 20))
	good := `{"inputs": [` + wj + `]}`
	withNaN := strings.Replace(good, "20,", "NaN,", 1)
	huge := `{"inputs": [` + strings.Repeat(inferencetest.JSON(inferencetest.Window(m, 20))+",", 40) + inferencetest.JSON(inferencetest.Window(m, 20)) + `]}`
	if len(huge) <= 4096 {
		t.Fatalf("the large body is %d bytes", len(huge))
	}
	const predict = "/v1/models/service:predict"
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		reason string
		says   string
	}{
		{"not JSON", "POST", predict, `inputs=1`, 400, "not_json", "JSON parse error"},
		{"empty body", "POST", predict, ``, 400, "not_json", "empty"},
		{"NaN", "POST", predict, withNaN, 400, "not_finite", "ext_humidity is NaN"},
		{"wrong shape", "POST", predict, `{"inputs": [[[1, 2, 3]]]}`, 400, "bad_shape", "step 0 has 3 values, want 5"},
		{"missing instances", "POST", predict, `{"signature_name": "serving_default"}`, 400, "missing_input", `missing "instances" or "inputs"`},
		{"both forms", "POST", predict, `{"instances": [` + wj + `], "inputs": [` + wj + `]}`, 400, "bad_request", `either "instances"`},
		{"no window", "POST", predict, `{"instances": []}`, 400, "missing_input", "no window"},
		{"not an object", "POST", predict, `[1]`, 400, "bad_request", "not a JSON object"},
		{"unknown signature", "POST", predict, strings.Replace(good, "{", `{"signature_name": "classify", `, 1), 400, "unknown_signature", `"classify" not found`},
		{"classify", "POST", "/v1/models/service:classify", good, 400, "unsupported_api", "no classify signature"},
		{"unknown model", "POST", "/v1/models/half:predict", good, 404, "unknown_model", "Servable not found for request: Latest(half)"},
		{"unknown version", "POST", "/v1/models/service/versions/7:predict", good, 404, "unknown_version", "Specific(service, 7)"},
		{"broken version", "POST", "/v1/models/service/versions/2:predict", good, 404, "unknown_version", "failed to load"},
		{"version not a number", "POST", "/v1/models/service/versions/two:predict", good, 404, "unknown_version", "positive integer"},
		{"version zero", "GET", "/v1/models/service/versions/0", ``, 404, "unknown_version", "positive integer"},
		{"label", "POST", "/v1/models/service/labels/stable:predict", good, 404, "label", `label "stable"`},
		{"label status", "GET", "/v1/models/service/labels/canary", ``, 404, "label", "assigns no labels"},
		{"unknown status", "GET", "/v1/models/half", ``, 404, "unknown_model", "Could not find any versions of model half"},
		{"unknown version status", "GET", "/v1/models/service/versions/7", ``, 404, "unknown_version", "version 7"},
		{"unknown metadata", "GET", "/v1/models/half/metadata", ``, 404, "unknown_model", "Latest(half)"},
		{"broken version metadata", "GET", "/v1/models/service/versions/2/metadata", ``, 404, "unknown_version", "failed to load"},
		{"unknown verb", "POST", "/v1/models/service:explain", good, 404, "not_found", "Malformed request: POST /v1/models/service:explain"},
		{"unknown path", "GET", "/v2/models/service", ``, 404, "not_found", "Malformed request"},
		{"no name", "GET", "/v1/models/", ``, 404, "not_found", "Malformed request"},
		{"extra segment", "GET", "/v1/models/service/metadata/x", ``, 404, "not_found", "Malformed request"},
		{"GET predict", "GET", predict, ``, 405, "method_not_allowed", "use POST"},
		{"POST status", "POST", "/v1/models/service", good, 405, "method_not_allowed", "use GET"},
		{"PUT metadata", "PUT", "/v1/models/service/metadata", good, 405, "method_not_allowed", "use GET"},
		{"too large", "POST", predict, huge, 413, "too_large", "larger than 4096 bytes"},
		{"too large, chunked", "POST", predict, huge, 413, "too_large", "larger than 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := testutil.ToFloat64(s.h.rejected.WithLabelValues(tt.reason))
			chunked := strings.HasSuffix(tt.name, ", chunked") // send the body without a Content-Length
			allow := ""
			if tt.status == http.StatusMethodNotAllowed {
				allow = "GET"
				if strings.HasSuffix(tt.path, ":predict") {
					allow = "POST"
				}
			}
			var body io.Reader = strings.NewReader(tt.body)
			if chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			req, err := http.NewRequest(tt.method, s.url+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if chunked && req.ContentLength != 0 {
				t.Fatalf("sent with a Content-Length of %d", req.ContentLength)
			}
			var e map[string]any
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("body %q is not JSON: %v", b, err)
			}
			msg, _ := e["error"].(string)
			if resp.StatusCode != tt.status || len(e) != 1 || !strings.Contains(msg, tt.says) {
				t.Fatalf("%d %s; want %d and {\"error\": \"...%s...\"}", resp.StatusCode, b, tt.status, tt.says)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if got := resp.Header.Get("Allow"); got != allow {
				t.Errorf("Allow %q, want %q", got, allow)
			}
			if after := testutil.ToFloat64(s.h.rejected.WithLabelValues(tt.reason)); after != before+1 {
				t.Errorf("inference_requests_rejected_total{reason=%s} went from %v to %v, want +1", tt.reason, before, after)
			}
		})
	}
	if n := testutil.ToFloat64(s.h.predictions.WithLabelValues(name)); n != 0 {
		t.Errorf("%v predictions counted for refused requests", n)
	}
	// The server still answers after all of that.
	if code, _, b := do(t, "POST", s.url+predict, good); code != 200 {
		t.Fatalf("a good request after the bad ones: %d %s", code, b)
	}
}

// An overflowing prediction (inputs far out of range) is refused, not written as
// invalid JSON.
func TestPredictionOverflow(t *testing.T) {
	base := t.TempDir()
	m := inferencetest.Baseline(name, 1)
	for o := range m.Weights {
		for i := range m.Weights[o] {
			m.Weights[o][i] = 1e300
		}
	}
	inferencetest.Write(t, base, m)
	s := startServer(t, base, Options{})
	w := inferencetest.Window(m, 1e10)
	if out, err := m.Predict(w); err != nil || !math.IsInf(out[0], 1) {
		t.Fatalf("the window does not overflow: %v %v", out, err)
	}
	code, _, b := do(t, "POST", s.url+"/v1/models/service:predict", `{"instances": [`+inferencetest.JSON(w)+`]}`)
	if code != 400 || !strings.Contains(string(b), "prediction is +Inf") {
		t.Fatalf("%d %s, want 400 naming the overflow", code, b)
	}
	if n := testutil.ToFloat64(s.h.rejected.WithLabelValues("not_finite")); n != 1 {
		t.Errorf("not_finite rejections %v, want 1", n)
	}
}

func TestStatus(t *testing.T) {
	base := baseWith(t, 1, 2)
	inferencetest.WriteBroken(t, base, name, 3, `{"format": "tf"}`)
	if err := os.MkdirAll(filepath.Join(base, name, "4"), 0o755); err != nil { // no model.json
		t.Fatal(err)
	}
	s := startServer(t, base, Options{})
	ok := wire.Status{ErrorCode: "OK"}
	tests := []struct {
		path string
		want []wire.VersionStatus
	}{
		{"/v1/models/service", []wire.VersionStatus{
			{Version: "4", State: "END", Status: wire.Status{ErrorCode: "NOT_FOUND"}},
			{Version: "3", State: "END", Status: wire.Status{ErrorCode: "INVALID_ARGUMENT"}},
			{Version: "2", State: "AVAILABLE", Status: ok},
			{Version: "1", State: "AVAILABLE", Status: ok},
		}},
		{"/v1/models/service/versions/1", []wire.VersionStatus{{Version: "1", State: "AVAILABLE", Status: ok}}},
		{"/v1/models/service/versions/3", []wire.VersionStatus{{Version: "3", State: "END", Status: wire.Status{ErrorCode: "INVALID_ARGUMENT"}}}},
	}
	for _, tt := range tests {
		code, _, b := do(t, "GET", s.url+tt.path, "")
		var got wire.ModelStatus
		if err := json.Unmarshal(b, &got); err != nil || code != 200 {
			t.Fatalf("GET %s: %d %s %v", tt.path, code, b, err)
		}
		for i := range got.ModelVersionStatus {
			st := &got.ModelVersionStatus[i].Status
			if st.ErrorCode != "OK" && st.ErrorMessage == "" {
				t.Errorf("GET %s: version %s failed without a message", tt.path, got.ModelVersionStatus[i].Version)
			}
			if st.ErrorCode == "INVALID_ARGUMENT" && !strings.Contains(st.ErrorMessage, `format "tf"`) {
				t.Errorf("GET %s: message %q does not say why", tt.path, st.ErrorMessage)
			}
			st.ErrorMessage = ""
		}
		if !reflect.DeepEqual(got.ModelVersionStatus, tt.want) {
			t.Errorf("GET %s = %+v, want %+v", tt.path, got.ModelVersionStatus, tt.want)
		}
	}
	// The exact shape of TF-Serving's answer for a model serving version 3:
	s2 := startServer(t, baseWith(t, 3), Options{})
	_, _, b := do(t, "GET", s2.url+"/v1/models/service", "")
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"model_version_status": []any{map[string]any{
		"version": "3", "state": "AVAILABLE", "status": map[string]any{"error_code": "OK", "error_message": ""},
	}}}
	if !reflect.DeepEqual(generic, want) {
		t.Errorf("status %s, want %v", b, want)
	}
}

func TestMetadata(t *testing.T) {
	s := startServer(t, baseWith(t, 1, 2), Options{})
	for _, tt := range []struct {
		path    string
		version int64
	}{
		{"/v1/models/service/metadata", 2},
		{"/v1/models/service/versions/1/metadata", 1},
	} {
		code, _, b := do(t, "GET", s.url+tt.path, "")
		var got wire.Metadata
		if err := json.Unmarshal(b, &got); err != nil || code != 200 {
			t.Fatalf("GET %s: %d %s %v", tt.path, code, b, err)
		}
		m := inferencetest.Baseline(name, tt.version)
		if want := wire.NewMetadata(name, m); !reflect.DeepEqual(got, want) {
			t.Errorf("GET %s = %+v, want %+v", tt.path, got, want)
		}
		def := got.Metadata.SignatureDef.SignatureDef["serving_default"]
		dims := def.Inputs["window"].TensorShape.Dim
		if got.ModelSpec.Version != fmt.Sprint(tt.version) || len(dims) != 3 || dims[0].Size != "-1" || dims[1].Size != "6" || dims[2].Size != "5" {
			t.Errorf("GET %s: spec %+v, input dims %+v; want version %d, [-1 6 5]", tt.path, got.ModelSpec, dims, tt.version)
		}
		if !reflect.DeepEqual(got.Metadata.Smartx.Features, model.BaselineFeatures) || got.Metadata.Smartx.Horizon != m.Horizon ||
			got.Metadata.Smartx.StepSeconds != m.StepSeconds || !reflect.DeepEqual(got.Metadata.Smartx.Outputs, m.Outputs) {
			t.Errorf("GET %s: smartx %+v", tt.path, got.Metadata.Smartx)
		}
	}
}

// A new version serves after the registry's next scan, without a restart; a broken
// newer one is refused and the previous keeps serving.
func TestHotReload(t *testing.T) {
	s := startServer(t, baseWith(t, 1), Options{})
	w := inferencetest.Window(inferencetest.Baseline(name, 1), 22)
	body := `{"instances": [` + inferencetest.JSON(w) + `]}`
	predict := func() [][]float64 {
		t.Helper()
		code, _, b := do(t, "POST", s.url+"/v1/models/service:predict", body)
		var got struct{ Predictions [][]float64 }
		if err := json.Unmarshal(b, &got); err != nil || code != 200 {
			t.Fatalf("%d %s %v", code, b, err)
		}
		return got.Predictions
	}
	if got, want := predict(), inferencetest.Predict(t, inferencetest.Baseline(name, 1), w); !reflect.DeepEqual(got, want) {
		t.Fatalf("version 1: %v, want %v", got, want)
	}
	inferencetest.Write(t, s.base, inferencetest.Baseline(name, 2))
	if err := s.reg.Scan(); err != nil {
		t.Fatal(err)
	}
	if got, want := predict(), inferencetest.Predict(t, inferencetest.Baseline(name, 2), w); !reflect.DeepEqual(got, want) {
		t.Fatalf("after version 2 arrived: %v, want %v", got, want)
	}
	inferencetest.WriteBroken(t, s.base, name, 3, `{"format": "smartx-linear/1", "name": "service", "version": 3}`)
	if err := s.reg.Scan(); err != nil {
		t.Fatal(err)
	}
	if got, want := predict(), inferencetest.Predict(t, inferencetest.Baseline(name, 2), w); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a broken version 3: %v, want version 2's %v", got, want)
	}
}

// The histogram counts each request by API and status code.
func TestDurationHistogram(t *testing.T) {
	s := startServer(t, baseWith(t, 1), Options{})
	do(t, "GET", s.url+"/v1/models/service", "")
	do(t, "GET", s.url+"/v1/models/service/metadata", "")
	do(t, "POST", s.url+"/v1/models/service:predict", "{}")
	do(t, "GET", s.url+"/nowhere", "")
	do(t, "GET", s.url+"/nowhere", "")
	fams, err := s.prom.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, f := range fams {
		if f.GetName() != "inference_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["api"]+" "+labels["code"]] = m.GetHistogram().GetSampleCount()
		}
	}
	want := map[string]uint64{"status 200": 1, "metadata 200": 1, "predict 400": 1, "other 404": 2}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("request counts by api and code %v, want %v", got, want)
	}
}

// FuzzPredict: no body makes the handler fail other than with a 400 and an error body;
// what it answers 200 is Model.Predict's answer.
func FuzzPredict(f *testing.F) {
	base := baseWith(f, 1)
	reg, err := registry.New(registry.Options{Base: base})
	if err != nil {
		f.Fatal(err)
	}
	h, err := New(reg, Options{})
	if err != nil {
		f.Fatal(err)
	}
	m := inferencetest.Baseline(name, 1)
	w := inferencetest.JSON(inferencetest.Window(m, 20))
	for _, seed := range []string{`{"inputs": [` + w + `]}`, `{"instances": [{"window": ` + w + `}]}`, `{"inputs": [[[1e308, 1e308, 1e308, 1e308, 1e308]]]}`, `{`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := newRecorder()
		req, _ := http.NewRequest("POST", "/v1/models/service:predict", bytes.NewReader(body))
		h.ServeHTTP(rec, req)
		switch rec.code {
		case 200:
			parsed, err := wire.Parse(body, wire.ShapeOf(m))
			if err != nil {
				t.Fatalf("200 for a body Parse refuses: %v", err)
			}
			want := inferencetest.Predict(t, m, parsed.Windows...)
			var got map[string][][]float64
			if err := json.Unmarshal(rec.body.Bytes(), &got); err != nil || len(got) != 1 {
				t.Fatalf("200 body %s: %v", rec.body.Bytes(), err)
			}
			for _, v := range got {
				if !reflect.DeepEqual(v, want) {
					t.Fatalf("answered %v, Model.Predict says %v", v, want)
				}
			}
		case 400:
			var e wire.ErrorBody
			if err := json.Unmarshal(rec.body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("400 body %s: %v", rec.body.Bytes(), err)
			}
		default:
			t.Fatalf("status %d: %s", rec.code, rec.body.Bytes())
		}
	})
}

// recorder is a minimal ResponseWriter for in-process requests.
type recorder struct {
	hdr  http.Header
	code int
	body bytes.Buffer
}

func newRecorder() *recorder { return &recorder{hdr: http.Header{}} }

func (r *recorder) Header() http.Header { return r.hdr }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(b)
}

// reset readies r for the next request, keeping its memory.
func (r *recorder) reset() {
	clear(r.hdr)
	r.code = 0
	r.body.Reset()
}
