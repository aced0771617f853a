// Package controllertest holds the controller tests' stand-ins for the two outside HTTP
// APIs at their narrowest boundary: a model server answering TF-Serving's documented
// REST shapes with the numbers of a real functions/model.Model, and EdgeX
// core-command's set-command endpoint. Only tests import it.
package controllertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	dtoCommon "github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/common"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/smartx-team/overcloud/functions/model"
	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/sender/store"
	"github.com/smartx-team/overcloud/functions/sender/weather"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
)

// Model is a valid model of a sector: three steps of temperature, humidity and
// set-point, one minute each, predicting five steps ahead
//
//	temperature = -1.2 + 0.3 * (last temperature) + 0.8 * (last set-point)
//	humidity    = 100 - 2 * (last set-point)
//
// so with the room at 24 C the highest set-point at or below a ceiling of 26 C is 25
// (26.0 C, 50 % RH), and with the room at 27 C it is 23.
func Model() *model.Model {
	const n = 9 // 3 steps x 3 features; the last row is 6..8
	w := func(pairs ...float64) []float64 {
		v := make([]float64, n)
		for i := 0; i < len(pairs); i += 2 {
			v[int(pairs[i])] = pairs[i+1]
		}
		return v
	}
	ones := make([]float64, n)
	for i := range ones {
		ones[i] = 1
	}
	return &model.Model{
		Format: model.Format, Name: "service", Version: 3, Steps: 3,
		Features: []string{model.FeatureTemperature, model.FeatureHumidity, model.FeatureSetpoint},
		Outputs:  []string{model.OutputTemperature, model.OutputHumidity},
		Horizon:  5, StepSeconds: 60,
		Mean: make([]float64, n), Scale: ones,
		Weights: [][]float64{w(6, 0.3, 8, 0.8), w(8, -2)},
		Bias:    []float64{-1.2, 100},
	}
}

// Inference is a model server speaking TF-Serving's REST API for one model:
//
//	GET  /v1/models/{name}/metadata
//	POST /v1/models/{name}[/versions/{v}]:predict
//
// The metadata carries the controller's "smartx" entry; predictions come from the
// model's Predict. A Hook may answer instead, to fake failures.
type Inference struct {
	*httptest.Server

	mu        sync.Mutex
	model     *model.Model
	trainedAt time.Time
	hook      func(w http.ResponseWriter, r *http.Request) bool
	predicts  int
	instances [][][]float64
}

// NewInference starts the server for m (closed when the test ends).
func NewInference(t testing.TB, m *model.Model) *Inference {
	t.Helper()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	f := &Inference{model: m}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// SetModel replaces the model served (nil: no model, 404).
func (f *Inference) SetModel(m *model.Model) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.model = m
}

// SetTrainedAt sets the trained_at of the metadata (zero: left out).
func (f *Inference) SetTrainedAt(at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trainedAt = at
}

// SetHook makes h see every request first; it returns true when it answered.
func (f *Inference) SetHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

// Predicts is the number of predict requests answered with predictions.
func (f *Inference) Predicts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.predicts
}

// LastInstances are the instances of the last predict request answered.
func (f *Inference) LastInstances() [][][]float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.instances
}

func (f *Inference) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	m, trainedAt, hook := f.model, f.trainedAt, f.hook
	f.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/models/")
	if !ok || m == nil {
		tfError(w, http.StatusNotFound, "Servable not found for request: "+r.URL.Path)
		return
	}
	switch {
	case r.Method == http.MethodGet && rest == m.Name+"/metadata":
		writeJSON(w, http.StatusOK, Metadata(m, trainedAt))
	case r.Method == http.MethodPost && strings.HasSuffix(rest, ":predict"):
		name, version, _ := strings.Cut(strings.TrimSuffix(rest, ":predict"), "/versions/")
		if name != m.Name || (version != "" && version != strconv.FormatInt(m.Version, 10)) {
			tfError(w, http.StatusNotFound, "Servable not found for request: Specific("+name+", "+version+")")
			return
		}
		f.predict(w, r, m)
	default:
		tfError(w, http.StatusNotFound, "Malformed request: "+r.Method+" "+r.URL.Path)
	}
}

func (f *Inference) predict(w http.ResponseWriter, r *http.Request, m *model.Model) {
	var req struct {
		Instances [][][]float64 `json:"instances"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 8<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || len(req.Instances) == 0 {
		tfError(w, http.StatusBadRequest, fmt.Sprintf("JSON Parse error: %v", err))
		return
	}
	preds := make([][]float64, len(req.Instances))
	for i, inst := range req.Instances {
		out, err := m.Predict(inst)
		if err != nil {
			tfError(w, http.StatusBadRequest, err.Error())
			return
		}
		preds[i] = out
	}
	f.mu.Lock()
	f.predicts++
	f.instances = req.Instances
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"predictions": preds})
}

// Metadata is TF-Serving's metadata answer for m with the controller's "smartx" entry
// (trained_at left out when zero).
func Metadata(m *model.Model, trainedAt time.Time) map[string]any {
	sig := map[string]any{
		"features": m.Features, "steps": m.Steps, "outputs": m.Outputs,
		"horizon": m.Horizon, "step_seconds": m.StepSeconds,
	}
	if !trainedAt.IsZero() {
		sig["trained_at"] = trainedAt.UTC().Format(time.RFC3339)
	}
	dim := func(sizes ...int) map[string]any {
		var d []map[string]string
		for _, s := range sizes {
			d = append(d, map[string]string{"size": strconv.Itoa(s), "name": ""})
		}
		return map[string]any{"dim": d, "unknown_rank": false}
	}
	return map[string]any{
		"model_spec": map[string]any{"name": m.Name, "signature_name": "", "version": strconv.FormatInt(m.Version, 10)},
		"metadata": map[string]any{
			"signature_def": map[string]any{"signature_def": map[string]any{"serving_default": map[string]any{
				"inputs":      map[string]any{"window": map[string]any{"dtype": "DT_FLOAT", "tensor_shape": dim(-1, m.Steps, len(m.Features)), "name": "window:0"}},
				"outputs":     map[string]any{"outputs": map[string]any{"dtype": "DT_FLOAT", "tensor_shape": dim(-1, len(m.Outputs)), "name": "outputs:0"}},
				"method_name": "tensorflow/serving/predict",
			}}},
			"smartx": sig,
		},
	}
}

func tfError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Command is one set command core-command received.
type Command struct {
	Device string
	// Setpoint is the value as sent, a string as EdgeX carries values.
	Setpoint string
	// Auth is the Authorization header.
	Auth string
}

// CoreCommand is EdgeX core-command's set-command endpoint for the set-point,
//
//	PUT /api/v3/device/name/{device}/setpoint   {"setpoint": "23"}
//
// answering EdgeX's BaseResponse: 200 for a known device, 404 for an unknown one, or
// the status given by Fail.
type CoreCommand struct {
	*httptest.Server

	mu       sync.Mutex
	devices  map[string]bool
	fail     map[string]int
	commands []Command
}

// NewCoreCommand starts it for the devices (closed when the test ends).
func NewCoreCommand(t testing.TB, devices ...string) *CoreCommand {
	t.Helper()
	c := &CoreCommand{devices: map[string]bool{}, fail: map[string]int{}}
	for _, d := range devices {
		c.devices[d] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT "+common.ApiDeviceRoute+"/name/{device}/{command}", c.put)
	c.Server = httptest.NewServer(mux)
	t.Cleanup(c.Close)
	return c
}

// Fail makes commands for device answer status (0: succeed again).
func (c *CoreCommand) Fail(device string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail[device] = status
}

// Commands are the commands accepted so far, in order.
func (c *CoreCommand) Commands() []Command {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Command(nil), c.commands...)
}

func (c *CoreCommand) put(w http.ResponseWriter, r *http.Request) {
	device, command := r.PathValue("device"), r.PathValue("command")
	reply := func(code int, msg string) {
		w.Header().Set("Content-Type", common.ContentTypeJSON)
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(dtoCommon.NewBaseResponse("", msg, code))
	}
	c.mu.Lock()
	known, status := c.devices[device], c.fail[device]
	c.mu.Unlock()
	if !known {
		reply(http.StatusNotFound, "device "+device+" not found")
		return
	}
	if command != "setpoint" {
		reply(http.StatusNotFound, "command "+command+" not found")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != common.ContentTypeJSON {
		reply(http.StatusBadRequest, "content type "+ct)
		return
	}
	// A set command's body maps resource names to values, every value a string.
	var body map[string]string
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<10))
	if err := dec.Decode(&body); err != nil || len(body) != 1 || body["setpoint"] == "" {
		reply(http.StatusBadRequest, fmt.Sprintf("want {\"setpoint\": \"<value>\"}: %v", err))
		return
	}
	if status != 0 {
		reply(status, "device service unavailable")
		return
	}
	c.mu.Lock()
	c.commands = append(c.commands, Command{Device: device, Setpoint: body["setpoint"], Auth: r.Header.Get("Authorization")})
	c.mu.Unlock()
	reply(http.StatusOK, "")
}

// Sample is one event of a Pi: its readings at one time, with the outside weather the
// sender adds (nil: none).
type Sample struct {
	At                              time.Time
	Temperature, Humidity, Setpoint float64
	Weather                         *weather.Weather
}

// WriteSamples stores the samples of device at location in InfluxDB through the
// sender's own store, so the points are exactly those the sender writes.
func WriteSamples(t testing.TB, in *servers.Influx, device, location string, samples ...Sample) {
	t.Helper()
	st, err := store.New(store.Options{URL: in.URL, Token: in.Token, Org: in.Org, Bucket: in.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, s := range samples {
		var batch []reading.Reading
		for j, r := range []struct {
			res string
			v   float64
		}{{"temperature", s.Temperature}, {"humidity", s.Humidity}, {"setpoint", s.Setpoint}} {
			batch = append(batch, reading.Reading{
				ID: fmt.Sprintf("%s-%d-%d", device, i, j), Device: device, Resource: r.res, Value: r.v,
				Origin: s.At.UnixNano(), Seq: uint64(3*i + j + 1), Location: location,
			})
		}
		rejected, err := st.Write(ctx, batch, s.Weather)
		if err != nil || len(rejected) > 0 {
			t.Fatalf("write samples: %v %v", rejected, err)
		}
	}
}

// Minutes are samples every 10 s from start for n minutes, each minute m (from 0) with
// temperature temp(m), humidity 50 - m, the given set-point and clear weather of 10 C
// and 60 % outside.
func Minutes(start time.Time, n int, setpoint float64, temp func(m int) float64) []Sample {
	var out []Sample
	for m := range n {
		for s := 0; s < 60; s += 10 {
			out = append(out, Sample{
				At:          start.Add(time.Duration(m)*time.Minute + time.Duration(s)*time.Second),
				Temperature: temp(m), Humidity: 50 - float64(m), Setpoint: setpoint,
				Weather: &weather.Weather{TempC: 10, Humidity: 60, State: weather.Clear},
			})
		}
	}
	return out
}

// Point is a recommendation stored in InfluxDB.
type Point struct {
	At       time.Time
	Value    float64
	Location string
}

// Recommendations reads the recommend_temperature points of device, oldest first.
func Recommendations(t testing.TB, in *servers.Influx, device string) []Point {
	t.Helper()
	client := influxdb2.NewClient(in.URL, in.Token)
	defer client.Close()
	q := fmt.Sprintf(`from(bucket: %q) |> range(start: 2000-01-01T00:00:00Z)
  |> filter(fn: (r) => r._measurement == %q and r._field == "recommend_temperature")
  |> group() |> sort(columns: ["_time"])`, in.Bucket, device)
	res, err := client.QueryAPI(in.Org).Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var out []Point
	for res.Next() {
		r := res.Record()
		v, _ := r.Value().(float64)
		loc, _ := r.ValueByKey(reading.TagLocation).(string)
		out = append(out, Point{At: r.Time(), Value: v, Location: loc})
	}
	if res.Err() != nil {
		t.Fatal(res.Err())
	}
	return out
}

// Clock is a settable clock for the controller's Now.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
