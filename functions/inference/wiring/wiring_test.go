package wiring

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartx-team/overcloud/functions/inference/internal/inferencetest"
	"github.com/smartx-team/overcloud/functions/inference/wire"
	"github.com/smartx-team/overcloud/functions/testbed/leakcheck"
	"github.com/smartx-team/overcloud/functions/testbed/promscrape"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

func TestMain(m *testing.M) { leakcheck.Main(m, inferencetest.Packages...) }

const name = inferencetest.Name

func testConfig(base string) Config {
	c := Defaults()
	c.ModelBase, c.Listen, c.AdminListen, c.Poll = base, "127.0.0.1:0", "127.0.0.1:0", 100*time.Millisecond
	return c
}

func TestNewRefusesAMissingBase(t *testing.T) {
	_, err := New(testConfig(filepath.Join(t.TempDir(), "missing")), nil, nil)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "INFERENCE_MODEL_BASE") {
		t.Fatalf("New with a missing base: %v, want ErrConfig naming INFERENCE_MODEL_BASE", err)
	}
}

// running is inference run in-process until the test ends.
type running struct {
	*Inference
	url string
	reg *prometheus.Registry
}

func start(t *testing.T, cfg Config) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	inf, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inf.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not stop")
		}
		http.DefaultClient.CloseIdleConnections()
	})
	return &running{Inference: inf, url: "http://" + inf.Addr(), reg: reg}
}

func post(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// The whole server, polling its base: a new version serves without a restart, a
// broken newer one is refused, counted and shown, and the previous keeps serving.
func TestHotReloadByPolling(t *testing.T) {
	base := t.TempDir()
	inferencetest.Write(t, base, inferencetest.Baseline(name, 1))
	r := start(t, testConfig(base))
	if err := r.Ready(context.Background()); err != nil {
		t.Fatalf("not ready with a model: %v", err)
	}
	w := inferencetest.Window(inferencetest.Baseline(name, 1), 21)
	// The original sender's request.
	body := `{"inputs": [` + inferencetest.JSON(w) + `]}`
	outputs := func() [][]float64 {
		code, b := post(t, r.url+"/v1/models/service:predict", body)
		var got struct{ Outputs [][]float64 }
		if err := json.Unmarshal(b, &got); err != nil || code != 200 {
			t.Fatalf("%d %s %v", code, b, err)
		}
		return got.Outputs
	}
	want1 := inferencetest.Predict(t, inferencetest.Baseline(name, 1), w)
	want2 := inferencetest.Predict(t, inferencetest.Baseline(name, 2), w)
	if got := outputs(); !reflect.DeepEqual(got, want1) {
		t.Fatalf("version 1 answers %v, want %v", got, want1)
	}

	inferencetest.Write(t, base, inferencetest.Baseline(name, 2))
	servertest.WaitFor(t, "version 2 to serve", func() bool { return reflect.DeepEqual(outputs(), want2) })

	inferencetest.WriteBroken(t, base, name, 3, `{"format": "smartx-linear/1", "name": "service", "version": 3, "steps": 6}`)
	servertest.WaitFor(t, "the broken version 3 to be refused", func() bool {
		fams, err := promscrape.Gather(r.reg)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := fams.Value("inference_model_load_failures_total", "model", name)
		return n == 1
	})
	if got := outputs(); !reflect.DeepEqual(got, want2) {
		t.Fatalf("after the broken version 3: %v, want version 2's %v", got, want2)
	}
	resp, err := http.Get(r.url + "/v1/models/service/versions/3")
	if err != nil {
		t.Fatal(err)
	}
	var st wire.ModelStatus
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || len(st.ModelVersionStatus) != 1 || st.ModelVersionStatus[0].State != "END" ||
		st.ModelVersionStatus[0].Status.ErrorCode != "INVALID_ARGUMENT" {
		t.Fatalf("status of version 3: %+v %v", st, err)
	}
	fams, err := promscrape.Gather(r.reg)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := fams.Value("inference_model_version", "model", name); v != 2 {
		t.Errorf("inference_model_version = %v, want 2", v)
	}
}

// With an empty base it starts, is not ready, and becomes ready when a model arrives.
func TestReadyOnceAModelArrives(t *testing.T) {
	base := t.TempDir()
	r := start(t, testConfig(base))
	if r.Ready(context.Background()) == nil {
		t.Fatal("ready without a model")
	}
	if code, b := post(t, r.url+"/v1/models/service:predict", `{"inputs": []}`); code != 404 {
		t.Fatalf("predict without a model: %d %s", code, b)
	}
	inferencetest.Write(t, base, inferencetest.Baseline(name, 1))
	servertest.WaitFor(t, "ready", func() bool { return r.Ready(context.Background()) == nil })
}

// A port clash fails at New, not at the first request.
func TestNewFailsOnAPortClash(t *testing.T) {
	base := t.TempDir()
	r := start(t, testConfig(base))
	cfg := testConfig(base)
	cfg.Listen = r.Addr()
	if _, err := New(cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("New on a port in use: %v", err)
	}
}
