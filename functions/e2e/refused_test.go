package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/model"
	"github.com/smartx-team/overcloud/functions/testbed/localrun"
)

// When the trainer refuses its model (here: it asks for more samples than any short
// run gives), CommissionedLoop runs the step test again, the set-points reversed, and
// trains again on all of it; after the last round it gives up with ErrModelRefused,
// with no model written and neither inference nor the controller started.
func TestCommissionedLoopRetriesARefusedModel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ws, err := localrun.StartWeatherStation("refuse-key", 30, 60)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	dir := t.TempDir()
	path, err := localrun.Start(ctx, localrun.Options{Dir: dir, WeatherURL: ws.URL, WeatherKey: "refuse-key"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := path.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if _, _, err := path.StartPi(ctx, localrun.Pi{Device: "pi-1", Location: "sector-1", Interval: time.Second,
		Args: []string{"--sim-speed", "60", "--setpoint-initial", "18"}}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var said []string
	say := func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		said = append(said, fmt.Sprintf(f, a...))
	}
	loop, err := path.CommissionedLoop(ctx, localrun.LoopOptions{Devices: []string{"pi-1"}, MinSamples: 1_000_000},
		[]float64{18, 24}, 3*time.Second, 2, say)
	if !errors.Is(err, localrun.ErrModelRefused) || loop != nil {
		t.Fatalf("CommissionedLoop = %v, %v; want ErrModelRefused", loop, err)
	}
	// Why depends on how much history reached InfluxDB in time: too few samples, or
	// none at all on a busy machine; either way the trainer's reason is in the error.
	if !regexp.MustCompile(`model not written: (\d+ samples, fewer than TRAINER_MIN_SAMPLES=1000000|no training samples)`).MatchString(err.Error()) {
		t.Errorf("the error does not say why: %v", err)
	}
	text := strings.Join(said, "\n")
	var order []string
	for _, m := range regexp.MustCompile(`commissioning: set-point (\d+) C`).FindAllStringSubmatch(text, -1) {
		order = append(order, m[1])
	}
	if got, want := strings.Join(order, ","), "18,24,24,18"; got != want {
		t.Errorf("set-points commissioned %s, want %s:\n%s", got, want, text)
	}
	if !strings.Contains(text, "commissioning once more (round 2 of 2)") {
		t.Errorf("no word of a second round:\n%s", text)
	}
	log, err := os.ReadFile(path.LogPath("trainer"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), `"msg":"trainer failed","component":"trainer","err":"model not written`); n != 2 {
		t.Errorf("the trainer refused %d times, want 2:\n%s", n, log)
	}
	if vs, _ := model.Versions(filepath.Join(dir, "models"), "service"); len(vs) != 0 {
		t.Errorf("model versions %v written after refusals", vs)
	}
}
