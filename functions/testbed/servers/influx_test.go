package servers_test

import (
	"context"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// TestInflux writes with the InfluxDB 2 client, reads back with Flux, checks that a
// point written twice (same measurement, tags and time) is stored once, and that the
// data survives a restart.
func TestInflux(t *testing.T) {
	t.Parallel()
	in := servertest.Influx(t)
	if in.Bucket != servers.InfluxBucket {
		t.Fatalf("Bucket = %q", in.Bucket)
	}
	ctx := ctxFor(t, 50*time.Second)
	client := influxdb2.NewClientWithOptions(in.URL, in.Token, influxdb2.DefaultOptions().SetHTTPRequestTimeout(20))
	t.Cleanup(client.Close)
	write := client.WriteAPIBlocking(in.Org, in.Bucket)

	t0 := time.Unix(1_700_000_000, 0)
	for i, v := range []float64{21.5, 22.0, 22.5} {
		p := influxdb2.NewPoint("pi-1",
			map[string]string{"resource": "temperature", "location": "sector-a"},
			map[string]any{"value": v}, t0.Add(time.Duration(i)*time.Second))
		if err := write.WritePoint(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// The same identity again with another value: a redelivery must overwrite.
	dup := influxdb2.NewPoint("pi-1",
		map[string]string{"resource": "temperature", "location": "sector-a"},
		map[string]any{"value": 30.0}, t0)
	if err := write.WritePoint(ctx, dup); err != nil {
		t.Fatal(err)
	}
	want := map[int64]float64{t0.UnixNano(): 30.0, t0.Add(time.Second).UnixNano(): 22.0, t0.Add(2 * time.Second).UnixNano(): 22.5}
	checkPoints(ctx, t, client, in, want)

	// With authentication off, 1.8 lets an empty token in as well.
	anon := influxdb2.NewClient(in.URL, "")
	t.Cleanup(anon.Close)
	checkPoints(ctx, t, anon, in, want)

	restart(t, in.Proc)
	checkPoints(ctx, t, client, in, want)
	stop(t, in.Proc)
}

// checkPoints reads every pi-1 point with Flux and compares it with want.
func checkPoints(ctx context.Context, t *testing.T, client influxdb2.Client, in *servers.Influx, want map[int64]float64) {
	t.Helper()
	res, err := client.QueryAPI(in.Org).Query(ctx, pointsQuery(in.Bucket, "pi-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Close() }()
	got := map[int64]float64{}
	n := 0
	for res.Next() {
		r := res.Record()
		v, ok := r.Value().(float64)
		if !ok || r.Field() != "value" || r.ValueByKey("resource") != "temperature" {
			t.Fatalf("unexpected record %v", r)
		}
		got[r.Time().UnixNano()] = v
		n++
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(want) || len(got) != len(want) {
		t.Fatalf("got %d points %v, want %d %v", n, got, len(want), want)
	}
	for ts, v := range want {
		if got[ts] != v {
			t.Errorf("at %s got %v, want %v", time.Unix(0, ts).UTC(), got[ts], v)
		}
	}
}
