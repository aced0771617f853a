package influx_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/smartx-team/overcloud/functions/controller/influx"
	"github.com/smartx-team/overcloud/functions/controller/internal/controllertest"
	"github.com/smartx-team/overcloud/functions/model"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// start is a minute boundary; the data runs from it, "now" is 3.5 minutes later.
var (
	start = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	now   = start.Add(3*time.Minute + 30*time.Second)
)

func newClient(t *testing.T, in *servers.Influx) *influx.Client {
	t.Helper()
	c, err := influx.New(influx.Options{URL: in.URL, Token: in.Token, Org: in.Org, Bucket: in.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func temp(m int) float64 { return 20 + float64(m) }

// Against a real InfluxDB holding what the sender writes: the latest readings, the
// window resampled to the model's step (filled across a gap, merged across locations,
// with computed features), too short a window refused, and the recommendation written
// where the original wrote it.
func TestInflux(t *testing.T) {
	in := servertest.Influx(t)
	c := newClient(t, in)
	ctx := context.Background()

	// pi-1: 4 minutes, set-point 24, then 25 in the last minute.
	s1 := controllertest.Minutes(start, 4, 24, temp)
	for i := range s1 {
		if s1[i].At.Sub(start) >= 3*time.Minute {
			s1[i].Setpoint = 25
		}
	}
	controllertest.WriteSamples(t, in, "pi-1", "sector-a", s1...)
	// pi-2: the same, but nothing in minute 2, and its location renamed after minute 0.
	var s2a, s2b []controllertest.Sample
	for _, s := range controllertest.Minutes(start, 4, 24, temp) {
		switch m := int(s.At.Sub(start) / time.Minute); {
		case m == 0:
			s2a = append(s2a, s)
		case m != 2:
			s2b = append(s2b, s)
		}
	}
	controllertest.WriteSamples(t, in, "pi-2", "sector-b", s2a...)
	controllertest.WriteSamples(t, in, "pi-2", "sector-b2", s2b...)
	// pi-3: only the last minute.
	controllertest.WriteSamples(t, in, "pi-3", "sector-c", controllertest.Minutes(start.Add(3*time.Minute), 1, 24, temp)...)

	t.Run("latest", func(t *testing.T) {
		l, err := c.Latest(ctx, "pi-1", now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		last := start.Add(3*time.Minute + 50*time.Second) // ahead of now, within the minute allowed
		if !l.Reading.Equal(last) || l.Location != "sector-a" || !l.HasSetpoint || l.Setpoint != 25 || !l.SetpointAt.Equal(last) {
			t.Errorf("Latest = %+v", l)
		}
		if l, err := c.Latest(ctx, "pi-9", now, time.Hour); err != nil || !l.Reading.IsZero() || l.HasSetpoint {
			t.Errorf("Latest of an unknown device = %+v, %v", l, err)
		}
		if l, err := c.Latest(ctx, "pi-1", now.Add(3*time.Hour), time.Hour); err != nil || !l.Reading.IsZero() {
			t.Errorf("Latest beyond the look-back = %+v, %v", l, err)
		}
	})

	spec := influx.Spec{
		Features: []string{model.FeatureExtHumidity, model.FeatureExtTemperature, model.FeatureHumidity,
			model.FeatureSetpoint, model.FeatureWeather, model.FeatureTemperature, model.FeatureHourSin, model.FeatureHourCos},
		Steps: 3, Step: time.Minute,
	}
	row := func(m int, sp float64, at time.Time) []float64 {
		h := 2 * math.Pi * (float64(at.Hour()) + float64(at.Minute())/60 + float64(at.Second())/3600) / 24
		return []float64{60, 10, 50 - float64(m), sp, 6, temp(m), math.Sin(h), math.Cos(h)}
	}
	for _, tt := range []struct {
		name   string
		device string
		rows   [][]float64
		times  []time.Time
	}{
		{
			// Windows end at 10:02, 10:03 and now (10:03:30, the one in progress, which
			// holds minute 3's first three samples).
			name: "resampled", device: "pi-1",
			rows:  [][]float64{row(1, 24, start.Add(2*time.Minute)), row(2, 24, start.Add(3*time.Minute)), row(3, 25, now)},
			times: []time.Time{start.Add(2 * time.Minute), start.Add(3 * time.Minute), now},
		},
		{
			name: "gap filled, locations merged", device: "pi-2",
			rows:  [][]float64{row(1, 24, start.Add(2*time.Minute)), row(1, 24, start.Add(3*time.Minute)), row(3, 24, now)},
			times: []time.Time{start.Add(2 * time.Minute), start.Add(3 * time.Minute), now},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rows, times, err := c.Window(ctx, tt.device, spec, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(tt.rows) || len(times) != len(tt.times) {
				t.Fatalf("%d rows, %d times: %v", len(rows), len(times), rows)
			}
			for i := range rows {
				if !times[i].Equal(tt.times[i]) {
					t.Errorf("row %d at %v, want %v", i, times[i], tt.times[i])
				}
				for j := range rows[i] {
					if math.Abs(rows[i][j]-tt.rows[i][j]) > 1e-9 {
						t.Errorf("row %d, %s = %v, want %v", i, spec.Features[j], rows[i][j], tt.rows[i][j])
					}
				}
			}
		})
	}

	t.Run("short", func(t *testing.T) {
		for _, dev := range []string{"pi-3", "pi-9"} {
			if _, _, err := c.Window(ctx, dev, spec, now); !errors.Is(err, influx.ErrShortWindow) {
				t.Errorf("%s: Window = %v, want ErrShortWindow", dev, err)
			}
		}
		one := spec
		one.Steps = 1
		if rows, _, err := c.Window(ctx, "pi-3", one, now); err != nil || len(rows) != 1 || rows[0][5] != 20 {
			t.Errorf("one step of pi-3: %v %v", rows, err)
		}
	})

	t.Run("recommendation", func(t *testing.T) {
		at := now.Add(time.Second)
		if err := c.WriteRecommendation(ctx, "pi-1", "sector-a", 26, at); err != nil {
			t.Fatal(err)
		}
		got := query(t, in, fmt.Sprintf(`from(bucket: %q) |> range(start: 2026-01-01T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "pi-1" and r._field == "recommend_temperature")`, in.Bucket))
		if len(got) != 1 || got[0].value != 26 || got[0].location != "sector-a" || !got[0].at.Equal(at) {
			t.Errorf("stored %+v", got)
		}
		if err := c.WriteRecommendation(ctx, "pi-1", "sector-a", math.NaN(), at); err == nil {
			t.Error("NaN written")
		}
	})

	t.Run("ping and errors", func(t *testing.T) {
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Window(ctx, "pi-1", influx.Spec{Steps: 0}, now); err == nil {
			t.Error("an empty spec was read")
		}
		// A device name that would break out of the Flux string is only a name.
		if l, err := c.Latest(ctx, `pi-1" or r._measurement != "`, now, time.Hour); err != nil || !l.Reading.IsZero() {
			t.Errorf("quoted name: %+v %v", l, err)
		}
		bad := newClient(t, &servers.Influx{URL: "http://127.0.0.1:1", Bucket: in.Bucket})
		if _, err := bad.Latest(ctx, "pi-1", now, time.Hour); err == nil {
			t.Error("no error from a closed port")
		}
	})
}

func TestFieldOf(t *testing.T) {
	for f, want := range map[string]string{"weather": "weather_stat", "hour_sin": "", "hour_cos": "", "cpu": "cpu", "ext_temperature": "ext_temperature"} {
		if got := influx.FieldOf(f); got != want {
			t.Errorf("FieldOf(%q) = %q, want %q", f, got, want)
		}
	}
}

type point struct {
	at       time.Time
	value    float64
	location string
}

func query(t *testing.T, in *servers.Influx, q string) []point {
	t.Helper()
	client := influxdb2.NewClient(in.URL, in.Token)
	defer client.Close()
	res, err := client.QueryAPI(in.Org).Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var out []point
	for res.Next() {
		r := res.Record()
		v, _ := r.Value().(float64)
		loc, _ := r.ValueByKey("location").(string)
		out = append(out, point{at: r.Time(), value: v, location: loc})
	}
	if res.Err() != nil {
		t.Fatal(res.Err())
	}
	return out
}
