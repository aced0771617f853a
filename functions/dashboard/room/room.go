// Package room reads the server room from InfluxDB with Flux: the newest value of
// every field per device (the sector grid, the rack table, the set-points reported)
// and time series over a range (the charts). Points are the sender's: measurement =
// device, tag location, one field per resource, plus the weather and the controller's
// recommend_temperature.
package room

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/smartx-team/overcloud/functions/reading"
)

// The fields the dashboard shows.
const (
	Temperature    = "temperature"
	Humidity       = "humidity"
	Setpoint       = "setpoint"
	CPU            = "cpu"
	Mem            = "mem"
	Disk           = "disk"
	ExtTemperature = "ext_temperature"
	ExtHumidity    = "ext_humidity"
	WeatherStat    = "weather_stat"
	Recommended    = "recommend_temperature"
)

// Fields are every field Latest reads.
var Fields = []string{Temperature, Humidity, Setpoint, CPU, Mem, Disk, ExtTemperature, ExtHumidity, WeatherStat, Recommended}

// Options say where InfluxDB is; URL and Bucket are required.
type Options struct {
	URL, Token, Org, Bucket string
	// Timeout bounds one query (default 10s).
	Timeout time.Duration
}

// Reader runs the dashboard's queries. It is safe for concurrent use; Close it.
type Reader struct {
	client influxdb2.Client
	org    string
	bucket string
}

// New returns a reader; it connects on the first query.
func New(o Options) (*Reader, error) {
	if o.URL == "" || o.Bucket == "" {
		return nil, errors.New("room: InfluxDB URL and bucket are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	opts := influxdb2.DefaultOptions().SetHTTPRequestTimeout(uint(max(o.Timeout/time.Second, 1))).SetLogLevel(0)
	return &Reader{client: influxdb2.NewClientWithOptions(strings.TrimRight(o.URL, "/"), o.Token, opts), org: o.Org, bucket: o.Bucket}, nil
}

// Close releases the connections.
func (r *Reader) Close() { r.client.Close() }

// Ping checks that InfluxDB answers.
func (r *Reader) Ping(ctx context.Context) error {
	if _, err := r.client.Ping(ctx); err != nil {
		return fmt.Errorf("influxdb ping: %w", err)
	}
	return nil
}

// query runs q with a query API of its own: influxdb-client-go v2.14's caches its URL
// on first use without a lock, a race between concurrent first queries.
func (r *Reader) query(ctx context.Context, q string) (*api.QueryTableResult, error) {
	res, err := r.client.QueryAPI(r.org).Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("influxdb query: %w", err)
	}
	return res, nil
}

// Value is a field's newest value and when it was measured.
type Value struct {
	V float64
	T time.Time
}

// Device is what the newest points of one device say.
type Device struct {
	Name, Location string
	// Values by field; a field missing here had no point within the look-back.
	Values map[string]Value
	// LastSeen is the newest point of any field.
	LastSeen time.Time
}

// Get returns field's newest value.
func (d Device) Get(field string) (Value, bool) {
	v, ok := d.Values[field]
	return v, ok
}

// fieldFilter is a Flux predicate that keeps fields.
func fieldFilter(fields []string) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = "r._field == " + strconv.Quote(f)
	}
	return strings.Join(parts, " or ")
}

// Latest returns every device with a point of the dashboard's fields within lookback,
// sorted by location, then name.
func (r *Reader) Latest(ctx context.Context, lookback time.Duration) ([]Device, error) {
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: -%s, stop: 1m)
  |> filter(fn: (r) => %s)
  |> last()
  |> keep(columns: ["_measurement", %s, "_field", "_value", "_time"])`,
		strconv.Quote(r.bucket), flux(lookback), fieldFilter(Fields), strconv.Quote(reading.TagLocation))
	res, err := r.query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	byName := map[string]*Device{}
	for res.Next() {
		rec := res.Record()
		v, ok := number(rec.Value())
		if !ok {
			continue
		}
		name := rec.Measurement()
		d := byName[name]
		if d == nil {
			d = &Device{Name: name, Values: map[string]Value{}}
			byName[name] = d
		}
		if loc, ok := rec.ValueByKey(reading.TagLocation).(string); ok && loc != "" {
			d.Location = loc
		}
		t := rec.Time()
		d.Values[rec.Field()] = Value{V: v, T: t}
		if t.After(d.LastSeen) {
			d.LastSeen = t
		}
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("influxdb latest: %w", err)
	}
	out := make([]Device, 0, len(byName))
	for _, d := range byName {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Location != out[j].Location {
			return out[i].Location < out[j].Location
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// Point is one value of a series.
type Point struct {
	T time.Time
	V float64
}

// Series is one field of one device over time, or of all devices merged (Device "").
type Series struct {
	Device, Location, Field string
	Points                  []Point
}

// SeriesQuery asks for fields over the last Range, in windows of Every (the mean of
// each). Merge averages the devices together (the outside weather, the same for the
// whole room).
type SeriesQuery struct {
	Fields []string
	Range  time.Duration
	Every  time.Duration
	Merge  bool
}

// Series runs q and returns its series, sorted by device, then field. Each point is
// stamped with the start of its window, so the window in progress is not in the future.
func (r *Reader) Series(ctx context.Context, q SeriesQuery) ([]Series, error) {
	if len(q.Fields) == 0 || q.Range <= 0 || q.Every <= 0 {
		return nil, errors.New("room: a series query needs fields, a range and a window")
	}
	group := ""
	if q.Merge {
		group = "\n  |> group(columns: [\"_field\"])"
	}
	flx := fmt.Sprintf(`from(bucket: %s)
  |> range(start: -%s)
  |> filter(fn: (r) => %s)%s
  |> aggregateWindow(every: %s, fn: mean, createEmpty: false, timeSrc: "_start")`,
		strconv.Quote(r.bucket), flux(q.Range), fieldFilter(q.Fields), group, flux(q.Every))
	res, err := r.query(ctx, flx)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	type key struct{ device, field string }
	byKey := map[key]*Series{}
	var order []key
	for res.Next() {
		rec := res.Record()
		v, ok := number(rec.Value())
		if !ok {
			continue
		}
		k := key{field: rec.Field()}
		if !q.Merge {
			k.device = rec.Measurement()
		}
		s := byKey[k]
		if s == nil {
			s = &Series{Device: k.device, Field: k.field}
			if loc, ok := rec.ValueByKey(reading.TagLocation).(string); ok && !q.Merge {
				s.Location = loc
			}
			byKey[k] = s
			order = append(order, k)
		}
		s.Points = append(s.Points, Point{T: rec.Time(), V: v})
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("influxdb series: %w", err)
	}
	out := make([]Series, 0, len(order))
	for _, k := range order {
		s := byKey[k]
		sort.Slice(s.Points, func(i, j int) bool { return s.Points[i].T.Before(s.Points[j].T) })
		out = append(out, *s)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Device != out[j].Device {
			return out[i].Device < out[j].Device
		}
		return out[i].Field < out[j].Field
	})
	return out, nil
}

// Earliest returns the time of the oldest point of fields within the last rng (zero
// if there is none), so that a chart of a range longer than the data can be drawn at
// the data's own resolution.
func (r *Reader) Earliest(ctx context.Context, fields []string, rng time.Duration) (time.Time, error) {
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: -%s)
  |> filter(fn: (r) => %s)
  |> first()
  |> group()
  |> sort(columns: ["_time"])
  |> limit(n: 1)`, strconv.Quote(r.bucket), flux(rng), fieldFilter(fields))
	res, err := r.query(ctx, q)
	if err != nil {
		return time.Time{}, err
	}
	defer res.Close()
	var t time.Time
	if res.Next() {
		t = res.Record().Time()
	}
	if err := res.Err(); err != nil {
		return time.Time{}, fmt.Errorf("influxdb earliest: %w", err)
	}
	return t, nil
}

// flux writes d as a Flux duration literal in whole seconds (at least 1s).
func flux(d time.Duration) string {
	return strconv.FormatInt(max(int64(d/time.Second), 1), 10) + "s"
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}
