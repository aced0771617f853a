package history

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/smartx-team/overcloud/functions/model"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// writePoints writes points as the sender would, through the v2 write API.
func writePoints(t *testing.T, in *servers.Influx, pts ...*write.Point) {
	t.Helper()
	c := influxdb2.NewClient(in.URL, in.Token)
	defer c.Close()
	if err := c.WriteAPIBlocking(in.Org, in.Bucket).WritePoint(context.Background(), pts...); err != nil {
		t.Fatal(err)
	}
}

func point(dev, loc string, at time.Time, fields map[string]any) *write.Point {
	return influxdb2.NewPoint(dev, map[string]string{"location": loc}, fields, at)
}

// Rows against a real InfluxDB 1.8: means per step, the set-point's last value, the
// weather code as a number, locations merged, steps without points absent, devices
// without temperature left out, and device names that need quoting in Flux.
func TestRowsFromInfluxDB(t *testing.T) {
	in := servertest.Influx(t)
	const odd = `pi "3" ${x}` // InfluxDB 1.8 drops a measurement with " \ " in it
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	writePoints(t, in,
		point("pi-1", "Gwangju", at(0), map[string]any{"temperature": 20.0, "humidity": 40.0, "setpoint": 24.0, "cpu": 10.0, "ext_temperature": 5.0, "ext_humidity": 70.0, "weather_stat": int64(6)}),
		point("pi-1", "Gwangju", at(20), map[string]any{"temperature": 21.0, "humidity": 42.0, "setpoint": 24.0, "weather_stat": int64(6)}),
		point("pi-1", "Seoul", at(40), map[string]any{"temperature": 22.0, "humidity": 44.0, "setpoint": 18.0, "mem": 50.0}),
		// step 1 has no point; step 2 has one
		point("pi-1", "Gwangju", at(130), map[string]any{"temperature": 19.5, "humidity": 41.0, "setpoint": 18.0}),
		point(odd, "Gwangju", at(10), map[string]any{"temperature": 30.0, "humidity": 30.0, "setpoint": 20.0}),
		point("rack-power", "Gwangju", at(10), map[string]any{"cpu": 99.0}),    // no temperature: not a device
		point("pi-1", "Gwangju", at(600), map[string]any{"temperature": 99.0}), // outside the range
	)
	r, err := New(Options{URL: in.URL, Token: in.Token, Org: in.Org, Bucket: in.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	rows, err := r.Rows(ctx, Query{Start: t0, Stop: t0.Add(5 * time.Minute), Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, row := range rows {
		got = append(got, row.Device+"@"+row.Time.Format("15:04:05"))
	}
	if want := []string{odd + "@12:00:00", "pi-1@12:00:00", "pi-1@12:02:00"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("rows %q, want %q", got, want)
	}
	want := map[string]float64{
		model.FeatureTemperature: 21, model.FeatureHumidity: 42, model.FeatureSetpoint: 18, model.FeatureCPU: 10,
		model.FeatureExtTemperature: 5, model.FeatureExtHumidity: 70, model.FeatureWeather: 6,
	}
	if len(rows[1].Values) != len(want) {
		t.Errorf("row values %v, want %v", rows[1].Values, want)
	}
	for k, v := range want {
		if g, ok := rows[1].Values[k]; !ok || math.Abs(g-v) > 1e-9 {
			t.Errorf("%s = %v (%v), want %v", k, g, ok, v)
		}
	}
	if v := rows[2].Values; v[model.FeatureTemperature] != 19.5 || len(v) != 3 {
		t.Errorf("second step %v", v)
	}

	// A start between two steps (--since as a duration) still gives rows on the grid.
	rows, err = r.Rows(ctx, Query{Devices: []string{"pi-1"}, Start: t0.Add(30*time.Second + 182*time.Millisecond), Stop: t0.Add(5 * time.Minute), Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if row.Time.Sub(t0)%time.Minute != 0 {
			t.Errorf("row at %s, off the one-minute grid", row.Time.Format(time.RFC3339Nano))
		}
	}
	if len(rows) != 2 {
		t.Errorf("%d rows from a start between steps, want 2", len(rows))
	}

	// Chosen devices only, the quoted name included.
	rows, err = r.Rows(ctx, Query{Devices: []string{odd, "pi-9"}, Start: t0, Stop: t0.Add(5 * time.Minute), Step: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Device != odd || !rows[0].Time.Equal(t0) || rows[0].Values[model.FeatureTemperature] != 30 {
		t.Fatalf("rows of %q: %+v", odd, rows)
	}

	// A server that is not there.
	bad, _ := New(Options{URL: "http://127.0.0.1:1", Bucket: "b", Timeout: time.Second})
	defer bad.Close()
	if _, err := bad.Rows(ctx, Query{Start: t0, Stop: t0.Add(time.Minute), Step: time.Minute}); err == nil || !strings.Contains(err.Error(), "influxdb query") {
		t.Errorf("Rows without a server = %v", err)
	}
}

func TestFluxRefuses(t *testing.T) {
	for _, tt := range []struct {
		name   string
		bucket string
		q      Query
	}{
		{"no bucket", "", Query{Start: t0, Stop: t0.Add(time.Hour), Step: time.Minute}},
		{"short step", "b", Query{Start: t0, Stop: t0.Add(time.Hour), Step: time.Millisecond}},
		{"empty range", "b", Query{Start: t0, Stop: t0, Step: time.Minute}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if q, err := Flux(tt.bucket, tt.q); err == nil {
				t.Fatalf("Flux = %s", q)
			}
		})
	}
	if _, err := New(Options{URL: "http://x"}); err == nil {
		t.Error("New without a bucket")
	}
}

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"pi-1":        `"pi-1"`,
		`a"b\c`:       `"a\"b\\c"`,
		"cost ${x} $": `"cost \${x} $"`,
		"héllo\n":     "\"héllo\n\"",
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %s, want %s", in, got, want)
		}
	}
}
