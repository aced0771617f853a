package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/model"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
	"github.com/smartx-team/overcloud/functions/trainer/internal/roomtest"
	"github.com/smartx-team/overcloud/functions/trainer/learn"
	"github.com/smartx-team/overcloud/functions/trainer/wiring"
)

const pkg = "github.com/smartx-team/overcloud/functions/trainer"

var (
	start = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	until = start.Add(72 * time.Hour)
)

// The trainer in process, as the CronJob runs it, against a real InfluxDB holding
// three days of two simulated sectors with the weather and one without: a model
// version appears, loads, beats the last-value baseline on held-out temperature, and
// the CSV holds the training set; the sector without weather gets a model without the
// outside features; too few samples write nothing and exit 1.
func TestRunAgainstInfluxDB(t *testing.T) {
	t.Parallel()
	in := servertest.Influx(t)
	ctx := context.Background()
	readings := roomtest.Generate(roomtest.Options{Start: start, Duration: 72 * time.Hour, Weather: true})
	noWeather := roomtest.Generate(roomtest.Options{Start: start, Duration: 72 * time.Hour, Devices: 1, Seed: 7})
	for i := range noWeather {
		noWeather[i].Device = "pi-nw"
	}
	if err := roomtest.Write(ctx, in.URL, in.Token, in.Org, in.Bucket, append(readings, noWeather...)); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	csvPath := filepath.Join(t.TempDir(), "training.csv")
	args := func(extra ...string) []string {
		return append([]string{
			"--influx-url", in.URL, "--influx-token", in.Token, "--influx-org", in.Org, "--influx-bucket", in.Bucket,
			"--since", "72h", "--until", until.Format(time.RFC3339), "--model-base", base,
		}, extra...)
	}

	var stdout, stderr bytes.Buffer
	if code := run(ctx, args("--devices", "pi-1,pi-2", "--csv", csvPath), &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d\n%s", code, stderr.String())
	}
	dir := filepath.Join(base, "service", "1")
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Features, learn.OurFeatures) || m.Version != 1 || m.Name != "service" {
		t.Errorf("model %s v%d of %v", m.Name, m.Version, m.Features)
	}
	var met wiring.Metrics
	var win wiring.Window
	readJSON(t, filepath.Join(dir, model.MetricsFile), &met)
	readJSON(t, filepath.Join(dir, model.WindowFile), &win)
	ours, last := met.Of(wiring.Ours).HeldOut, met.Of(wiring.LastValue).HeldOut
	if o, l := ours.Of(model.OutputTemperature), last.Of(model.OutputTemperature); o.MAE >= l.MAE || o.RMSE >= l.RMSE {
		t.Errorf("held-out temperature: ours %+v, last value %+v", o, l)
	}
	t.Logf("table:\n%s", stdout.String())
	if !slices.Equal(win.Devices, []string{"pi-1", "pi-2"}) || win.Bucket != in.Bucket || !win.Until.Equal(until) ||
		!win.Since.Equal(start) || win.Samples < 7000 || win.PerDev["pi-1"] < 4000 {
		t.Errorf("window.json %+v", win)
	}
	checkProgress(t, stderr.String(), "trainer starting", "rows read", "samples built", "training set exported", "fit done", "model written")

	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	features, samples, err := learn.ReadCSV(f)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(features, m.Features) || len(samples) != win.Samples || len(samples[0].Window) != 6 {
		t.Errorf("csv: %v, %d samples of %d steps; window.json says %d", features, len(samples), len(samples[0].Window), win.Samples)
	}

	// The sector whose sender had no weather.
	stderr.Reset()
	if code := run(ctx, args("--devices", "pi-nw"), &bytes.Buffer{}, &stderr); code != 0 {
		t.Fatalf("run without weather = %d\n%s", code, stderr.String())
	}
	m, err = model.Load(filepath.Join(base, "service", "2"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Feature(model.FeatureWeather) >= 0 || m.Feature(model.FeatureExtTemperature) >= 0 || m.Feature(model.FeatureHourSin) < 0 {
		t.Errorf("model without weather has %v", m.Features)
	}

	// Too few samples: nothing written, exit 3 (refused), the reason on stderr.
	stderr.Reset()
	if code := run(ctx, args("--min-samples", "1000000"), &bytes.Buffer{}, &stderr); code != 3 {
		t.Fatalf("run with too few samples = %d", code)
	}
	if !strings.Contains(stderr.String(), "fewer than TRAINER_MIN_SAMPLES=1000000") {
		t.Errorf("stderr does not say why:\n%s", stderr.String())
	}
	if vs, _ := model.Versions(base, "service"); !slices.Equal(vs, []int64{1, 2}) {
		t.Errorf("versions %v after a refusal", vs)
	}
}

// checkProgress wants every line on stderr to be JSON of component trainer, and the
// messages in this order.
func checkProgress(t *testing.T, logs string, msgs ...string) {
	t.Helper()
	var got []string
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var l struct{ Msg, Component string }
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Component != "trainer" {
			t.Errorf("log line %q (%v) is not the trainer's JSON", sc.Text(), err)
			continue
		}
		got = append(got, l.Msg)
	}
	i := 0
	for _, m := range got {
		if i < len(msgs) && m == msgs[i] {
			i++
		}
	}
	if i < len(msgs) {
		t.Errorf("progress lines %q, want %q in this order", got, msgs)
	}
}

// The binary: --help lists every setting, bad settings exit 2 naming the variable,
// a failure exits 1.
func TestBinaryHelpAndExitCodes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := servers.BuildGo(ctx, pkg)
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing-token")
	tests := []struct {
		name string
		args []string
		env  []string
		code int
		want []string
	}{
		{"help", []string{"--help"}, nil, 0, []string{"TRAINER_INFLUX_TOKEN_FILE", "TRAINER_MIN_SAMPLES", "TRAINER_FORCE", "TRAINER_CSV", "Exit status"}},
		{"bad window", nil, []string{"TRAINER_WINDOW=0"}, 2, []string{"TRAINER_WINDOW"}},
		{"bad env number", nil, []string{"TRAINER_HORIZON=ten"}, 2, []string{"TRAINER_HORIZON"}},
		{"bad lambda", []string{"--lambda", "-1"}, nil, 2, []string{"TRAINER_LAMBDA"}},
		{"bad since", []string{"--since", "last week"}, nil, 2, []string{"TRAINER_SINCE"}},
		{"stray argument", []string{"extra"}, nil, 2, []string{"unexpected argument"}},
		{"token file missing", []string{"--influx-token-file", missing, "--model-base", t.TempDir()}, nil, 2, []string{"TRAINER_INFLUX_TOKEN_FILE"}},
		{"no influxdb", []string{"--influx-url", "http://127.0.0.1:1", "--model-base", t.TempDir()}, nil, 1, []string{"influxdb query", "trainer failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = append(os.Environ(), tt.env...)
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit %d, want %d; output:\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
