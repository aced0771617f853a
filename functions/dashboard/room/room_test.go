package room_test

import (
	"context"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/smartx-team/overcloud/functions/dashboard/room"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// Against a real InfluxDB holding points as the sender and the controller write them:
// the newest value of each field per device, series per device and merged, and a
// measurement of other fields left out.
func TestReader(t *testing.T) {
	in := servertest.Influx(t)
	ctx := context.Background()
	client := influxdb2.NewClient(in.URL, in.Token)
	defer client.Close()
	w := client.WriteAPIBlocking(in.Org, in.Bucket)
	now := time.Now().Truncate(time.Second)
	var pts []*write.Point
	for i := range 10 {
		at := now.Add(time.Duration(i-10) * time.Minute)
		pts = append(pts,
			influxdb2.NewPoint("pi-1", map[string]string{"location": "sector-a"},
				map[string]any{"temperature": 20 + float64(i), "humidity": 40.0, "setpoint": 18.0, "cpu": 10.0, "mem": 20.0, "disk": 30.0,
					"ext_temperature": 5.0 + float64(i), "ext_humidity": 60.0, "weather_stat": int64(6)}, at),
			influxdb2.NewPoint("pi-2", map[string]string{"location": "sector-b"},
				map[string]any{"temperature": 30 - float64(i), "humidity": 50.0, "ext_temperature": 7.0 + float64(i), "ext_humidity": 70.0}, at),
		)
	}
	pts = append(pts,
		influxdb2.NewPoint("pi-1", map[string]string{"location": "sector-a"}, map[string]any{"recommend_temperature": 22.0}, now.Add(-time.Minute)),
		// Another kind of point in the same bucket: not a device.
		influxdb2.NewPoint("smartx_pipeline", nil, map[string]any{"consumer_lag": 3.0}, now.Add(-time.Minute)))
	if err := w.WritePoint(ctx, pts...); err != nil {
		t.Fatal(err)
	}
	r, err := room.New(room.Options{URL: in.URL, Token: in.Token, Org: in.Org, Bucket: in.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	devices, err := r.Latest(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(devices) != 2 || devices[0].Name != "pi-1" || devices[1].Name != "pi-2" {
		t.Fatalf("devices %+v, want pi-1 and pi-2", devices)
	}
	d := devices[0]
	want := map[string]float64{"temperature": 29, "humidity": 40, "setpoint": 18, "cpu": 10, "mem": 20, "disk": 30,
		"ext_temperature": 14, "ext_humidity": 60, "weather_stat": 6, "recommend_temperature": 22}
	for f, v := range want {
		if got, ok := d.Get(f); !ok || got.V != v {
			t.Errorf("pi-1 %s = %+v (%v), want %g", f, got, ok, v)
		}
	}
	if d.Location != "sector-a" || !d.LastSeen.Equal(now.Add(-time.Minute)) {
		t.Errorf("pi-1 location %q, last seen %s; want sector-a, %s", d.Location, d.LastSeen, now.Add(-time.Minute))
	}
	if _, ok := devices[1].Get("cpu"); ok {
		t.Error("pi-2 has a cpu value it never sent")
	}

	series, err := r.Series(ctx, room.SeriesQuery{Fields: []string{"temperature"}, Range: time.Hour, Every: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 2 || series[0].Device != "pi-1" || series[0].Location != "sector-a" || len(series[0].Points) != 10 {
		t.Fatalf("temperature series %+v, want pi-1 and pi-2 with 10 points", series)
	}
	if p := series[1].Points; p[0].V != 30 || p[9].V != 21 || !p[0].T.Before(p[9].T) {
		t.Errorf("pi-2 series %v, want 30 down to 21 in time order", p)
	}
	merged, err := r.Series(ctx, room.SeriesQuery{Fields: []string{"ext_temperature", "ext_humidity"}, Range: time.Hour, Every: time.Hour, Merge: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(merged) != 2 || merged[0].Device != "" {
		t.Fatalf("merged %+v, want one series per field", merged)
	}
	var sum, n float64
	for _, p := range merged[1].Points { // ext_temperature, sorted after ext_humidity
		sum += p.V
		n++
	}
	if merged[1].Field != "ext_temperature" || n == 0 || sum/n < 5 || sum/n > 16 {
		t.Errorf("merged outside temperature %+v, want the mean of both devices' values", merged[1])
	}
	if _, err := r.Series(ctx, room.SeriesQuery{Range: time.Hour, Every: time.Minute}); err == nil {
		t.Error("a series query without fields was run")
	}

	first, err := r.Earliest(ctx, []string{"temperature"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Equal(now.Add(-10 * time.Minute)) {
		t.Errorf("earliest temperature %s, want %s", first, now.Add(-10*time.Minute))
	}
	if first, err := r.Earliest(ctx, []string{"no_such_field"}, time.Hour); err != nil || !first.IsZero() {
		t.Errorf("earliest of nothing = %s, %v; want zero", first, err)
	}

	down, _ := room.New(room.Options{URL: "http://127.0.0.1:1", Bucket: in.Bucket, Timeout: time.Second})
	defer down.Close()
	if _, err := down.Latest(ctx, time.Hour); err == nil {
		t.Error("no error from an InfluxDB that is down")
	}
}
