package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/model"
	"github.com/smartx-team/overcloud/functions/testbed/localrun"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// The closed loop on the real path, on an accelerated clock: two Pis of the firmware
// (--simulate, the thermal model at 60 times real time, so a second is a simulated
// minute) start at the original's 18 C and report through the hub, Kafka and the
// sender into InfluxDB. A commissioning step test (set-points from 18 to 26 C through
// the hub's core-command endpoint) gives the history the trainer learns the room
// from; inference serves the model; the controller then runs every 3 s (3 simulated
// minutes), and sends its set-points back to the Pis through the hub. The set-point
// rises from 18 C, and the room stays within the limit. Last, every Grafana panel's
// query runs on what the loop stored (see checkGrafanaPanels).
func TestClosedLoop(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	const limit = 27.0
	ws, err := localrun.StartWeatherStation("loop-key", 30, 60)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	path, err := localrun.Start(ctx, localrun.Options{Dir: t.TempDir(), WeatherURL: ws.URL, WeatherKey: "loop-key"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := path.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	pis := []string{"pi-1", "pi-2"}
	for i, pi := range pis {
		if _, _, err := path.StartPi(ctx, localrun.Pi{
			Device: pi, Location: fmt.Sprintf("sector-%d", i+1), Interval: time.Second,
			Args: []string{"--sim-speed", "60", "--setpoint-initial", "18"},
		}); err != nil {
			t.Fatal(err)
		}
	}

	// Each set-point held 12 s (12 simulated minutes, about three time constants of
	// the room): long enough for windows of 4 steps and a horizon of 5.
	loop, err := path.CommissionedLoop(ctx, localrun.LoopOptions{Devices: pis, Limit: limit},
		[]float64{18, 22, 26, 20, 24, 18, 25, 21, 23, 19, 18}, 12*time.Second, 2, func(f string, a ...any) { t.Logf(f, a...) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("trainer:\n%s", loop.TrainerOutput)
	m, err := model.Load(filepath.Join(loop.ModelBase, "service", "1"))
	if err != nil {
		t.Fatalf("the trainer wrote no usable model: %v", err)
	}
	controlled := time.Now()

	var state struct {
		Devices []struct {
			Device  string   `json:"device"`
			Current *float64 `json:"current_setpoint"`
		} `json:"devices"`
	}
	servertest.WaitFor(t, "the controller to raise every set-point to 21 C or more", func() bool {
		if code := getJSON(t, loop.ControllerURL+"/api/v1/state", &state); code != http.StatusOK {
			return false
		}
		for _, d := range state.Devices {
			if d.Current == nil || *d.Current < 21 {
				return false
			}
		}
		return len(state.Devices) == len(pis)
	})
	time.Sleep(20 * time.Second)

	since := controlled.UTC().Format(time.RFC3339Nano)
	for _, pi := range pis {
		hottest := influxMax(ctx, t, path, pi, "temperature", since)
		if hottest > limit+0.3 { // the simulated DHT22's noise is 0.1 C (sigma)
			t.Errorf("%s: %.1f C under the controller, above the %.0f C limit", pi, hottest, limit)
		}
		highest := influxMax(ctx, t, path, pi, "setpoint", since)
		if highest <= 18 {
			t.Errorf("%s: set-point never rose above 18 C (highest %v)", pi, highest)
		}
		recommended, err := path.CountValues(ctx, fmt.Sprintf(`r._measurement == %q and r._field == "recommend_temperature"`, pi))
		if err != nil || recommended == 0 {
			t.Errorf("%s: no recommend_temperature in InfluxDB (%v)", pi, err)
		}
		t.Logf("%s: under the controller the set-point reached %.0f C, the room at most %.1f C", pi, highest, hottest)
	}
	var audit struct {
		Entries []struct {
			Actor, Device string
			Applied       bool
		}
	}
	if code := getJSON(t, loop.ControllerURL+"/api/v1/audit?limit=1000", &audit); code != http.StatusOK || len(audit.Entries) == 0 {
		t.Errorf("audit: HTTP %d, %d entries", code, len(audit.Entries))
	}
	for _, e := range audit.Entries {
		if e.Actor != "controller" || !e.Applied {
			t.Errorf("audit entry %+v: want the controller's, applied", e)
		}
	}
	t.Logf("model v%d (%d features), %d audited changes", m.Version, len(m.Features), len(audit.Entries))

	// The whole loop has filled InfluxDB as in production (readings with the weather,
	// set-points, recommendations, the sender's stats): every Grafana panel must show
	// something.
	checkGrafanaPanels(ctx, t, path)
}

// influxMax is the largest value of device's field since (RFC 3339).
func influxMax(ctx context.Context, t *testing.T, path *localrun.Path, device, field, since string) float64 {
	t.Helper()
	q := fmt.Sprintf(`from(bucket: %q) |> range(start: %s)
  |> filter(fn: (r) => r._measurement == %q and r._field == %q) |> group() |> max()`, path.Influx.Bucket, since, device, field)
	v, err := path.QueryFloat(ctx, q)
	if err != nil {
		t.Fatalf("max %s of %s: %v", field, device, err)
	}
	return v
}
