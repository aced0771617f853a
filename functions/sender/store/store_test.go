package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/sender/weather"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

const t0 = int64(1_763_700_000_000_000_123) // ns precision matters: the origin is the identity

func rd(device, resource string, value float64, origin int64, loc string) reading.Reading {
	return reading.Reading{ID: fmt.Sprintf("%s-%s-%d", device, resource, origin), Device: device, Resource: resource,
		Value: value, Origin: origin, Seq: 1, Location: loc}
}

func TestPoints(t *testing.T) {
	batch := []reading.Reading{
		rd("dev1", "temperature", 24.5, t0, ""),
		rd("dev2", "temperature", 22, t0, "sector-2"),
		rd("dev1", "humidity", 40, t0, ""),
		rd("dev1", "Aircon_temp", 18, t0, ""),
		rd("dev1", "temperature", 24.6, t0+1, ""),
		rd("dev2", "ext_temperature", -40, t0, "sector-2"), // a reading named like weather wins
	}
	w := &weather.Weather{TempC: 8.9, Humidity: 57, State: weather.Clouds}
	pts := Points(batch, "Gwangju", w)
	got := make([]string, len(pts))
	for i, p := range pts {
		got[i] = fmt.Sprintf("%s %v", lineOf(p.Point), p.Readings)
	}
	want := []string{
		"dev1,location=Gwangju Aircon_temp=18,ext_humidity=57,ext_temperature=8.9,humidity=40,temperature=24.5,weather_stat=7i 1763700000000000123 [0 2 3]",
		"dev2,location=sector-2 ext_humidity=57,ext_temperature=-40,temperature=22,weather_stat=7i 1763700000000000123 [1 5]",
		"dev1,location=Gwangju ext_humidity=57,ext_temperature=8.9,temperature=24.6,weather_stat=7i 1763700000000000124 [4]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Points:\n got %q\nwant %q", got, want)
	}
	// Unknown weather state: no weather_stat; no weather: no weather fields at all.
	pts = Points(batch[:1], "Gwangju", &weather.Weather{TempC: 1, Humidity: 2})
	if l := lineOf(pts[0].Point); strings.Contains(l, "weather_stat") || !strings.Contains(l, "ext_temperature=1") {
		t.Errorf("unknown state: %s", l)
	}
	if l := lineOf(Points(batch[:1], "Gwangju", nil)[0].Point); strings.Contains(l, "ext_") {
		t.Errorf("no weather: %s", l)
	}
}

func lineOf(p *write.Point) string {
	p.SortFields()
	return strings.TrimSpace(write.PointToLineProtocol(p, time.Nanosecond))
}

// newStore starts InfluxDB and a store on it.
func newStore(t *testing.T) (*Store, *servers.Influx) {
	t.Helper()
	in := servertest.Influx(t)
	s, err := New(Options{URL: in.URL, Token: in.Token, Org: in.Org, Bucket: in.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, in
}

// row is one stored point: measurement, location and every field, read with Flux.
type row struct {
	measurement, location string
	time                  int64
	fields                map[string]any
}

func readAll(t *testing.T, in *servers.Influx) []row {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := influxdb2.NewClient(in.URL, in.Token)
	defer client.Close()
	res, err := client.QueryAPI(in.Org).Query(ctx, fmt.Sprintf(`from(bucket: %q)
  |> range(start: 2000-01-01T00:00:00Z)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`, in.Bucket))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	var out []row
	for res.Next() {
		rec := res.Record()
		r := row{measurement: rec.Measurement(), time: rec.Time().UnixNano(), fields: map[string]any{}}
		for k, v := range rec.Values() {
			switch {
			case k == "location":
				r.location, _ = v.(string)
			case strings.HasPrefix(k, "_") || k == "result" || k == "table" || v == nil:
			default:
				r.fields[k] = v
			}
		}
		out = append(out, r)
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].measurement != out[j].measurement {
			return out[i].measurement < out[j].measurement
		}
		return out[i].time < out[j].time
	})
	return out
}

func TestWriteReadBackAndOverwrite(t *testing.T) {
	t.Parallel()
	s, in := newStore(t)
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	batch := []reading.Reading{
		rd("dev1", "temperature", 24.5, t0, ""),
		rd("dev1", "humidity", 40, t0, ""),
		rd("dev2", "temperature", 22, t0+5, "sector-2"),
	}
	w := &weather.Weather{TempC: 8.94, Humidity: 57, State: weather.Haze}
	for range 3 { // the first write and two redeliveries
		rejected, err := s.Write(ctx, batch, w)
		if err != nil || len(rejected) != 0 {
			t.Fatalf("Write = %v, %v", rejected, err)
		}
	}
	want := []row{
		{"dev1", "Gwangju", t0, map[string]any{"temperature": 24.5, "humidity": 40.0, "ext_temperature": 8.94, "ext_humidity": 57.0, "weather_stat": int64(9)}},
		{"dev2", "sector-2", t0 + 5, map[string]any{"temperature": 22.0, "ext_temperature": 8.94, "ext_humidity": 57.0, "weather_stat": int64(9)}},
	}
	if got := readAll(t, in); !reflect.DeepEqual(got, want) {
		t.Fatalf("stored:\n got %+v\nwant %+v", got, want)
	}
}

// A field type conflict is InfluxDB refusing one point for good: it comes back as a
// rejection while every other point of the batch is stored.
func TestRejectedPointIsIsolated(t *testing.T) {
	t.Parallel()
	s, in := newStore(t)
	ctx := context.Background()
	client := influxdb2.NewClient(in.URL, in.Token)
	defer client.Close()
	if err := client.WriteAPIBlocking(in.Org, in.Bucket).WriteRecord(ctx, fmt.Sprintf(`bad temperature="hot" %d`, t0)); err != nil {
		t.Fatal(err)
	}
	var batch []reading.Reading
	for i := range 100 {
		batch = append(batch, rd(fmt.Sprintf("dev%d", i%7), "temperature", float64(i), t0+int64(i), ""))
	}
	batch[37] = rd("bad", "temperature", 21, t0+37, "")
	batch = append(batch, rd("bad", "humidity", 50, t0+37, "")) // same point as 37
	rejected, err := s.Write(ctx, batch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != 1 || !reflect.DeepEqual(rejected[0].Readings, []int{37, 100}) ||
		!errors.Is(rejected[0].Err, ErrRejected) || !strings.Contains(rejected[0].Err.Error(), "field type conflict") {
		t.Fatalf("rejected = %+v, want readings [37 100] for a field type conflict", rejected)
	}
	// The cause stays reachable: InfluxDB's own error with its status.
	var he *ihttp.Error
	if !errors.As(rejected[0].Err, &he) || he.StatusCode != http.StatusBadRequest {
		t.Errorf("rejection %v does not keep InfluxDB's error (HTTP 400) as its cause", rejected[0].Err)
	}
	n := 0
	for _, r := range readAll(t, in) {
		if r.measurement != "bad" {
			n++
		}
	}
	if n != 99 {
		t.Fatalf("%d points stored, want the 99 good ones", n)
	}
}

// A missing database is a configuration fault, not bad data: an error to retry, never
// a rejection that would dead-letter every reading.
func TestMissingBucketIsAnError(t *testing.T) {
	t.Parallel()
	in := servertest.Influx(t)
	s, err := New(Options{URL: in.URL, Token: in.Token, Bucket: "nosuchdb/autogen"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rejected, err := s.Write(context.Background(), []reading.Reading{rd("dev1", "temperature", 1, t0, "")}, nil)
	if err == nil || len(rejected) != 0 {
		t.Fatalf("Write to a missing database = %v, %v; want an error", rejected, err)
	}
}
