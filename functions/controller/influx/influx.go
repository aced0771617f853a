// Package influx is the controller's side of InfluxDB (v2 API, so InfluxDB 1.8 and 2.x
// both serve it): the latest readings and the model's window of one device, read with
// Flux, and the recommendation written back as the original did.
//
// The schema is the sender's (functions/sender/store): measurement = device name, tag
// location, one field per resource (temperature, humidity, setpoint, cpu, mem, disk)
// and the weather (ext_temperature, ext_humidity, weather_stat).
//
// # The window
//
// Window resamples the device's fields to the model's step with aggregateWindow (mean,
// windows aligned to multiples of the step since the epoch, each row stamped with its
// window's end) over Steps+1 windows ending now, the last of them the one in progress.
// A window without a value of a field takes the field's value of the window before
// (readings come every few seconds, a step is a minute or more, so a gap is a lost
// reading, not a change). Rows before a field's first value are dropped, and the last
// Steps rows returned, oldest first; fewer than Steps is ErrShortWindow. Locations are
// merged: a device is in one place.
//
// Feature names map to fields by FieldOf (weather is weather_stat); hour_sin and
// hour_cos are computed from each row's time, in UTC, and are no field.
package influx

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/smartx-team/overcloud/functions/model"
	"github.com/smartx-team/overcloud/functions/reading"
)

// Field names of ours in the device's measurement.
const (
	FieldTemperature = "temperature"
	FieldHumidity    = "humidity"
	FieldSetpoint    = "setpoint"
	FieldWeatherStat = "weather_stat"
	// FieldRecommendation is where the recommendation goes, the original's name.
	FieldRecommendation = "recommend_temperature"
	// TagLocation is the one tag of every point: the sender's, which stores the
	// readings under the contract's name.
	TagLocation = reading.TagLocation
)

// FieldOf is the field that holds a feature: the feature's own name, but weather_stat
// for weather. Computed features (hour_sin, hour_cos) have none ("").
func FieldOf(feature string) string {
	switch feature {
	case model.FeatureWeather:
		return FieldWeatherStat
	case model.FeatureHourSin, model.FeatureHourCos:
		return ""
	}
	return feature
}

// ErrShortWindow: the device has not enough data for the model's window.
var ErrShortWindow = errors.New("window too short")

// Options say where InfluxDB is; URL and Bucket are required.
type Options struct {
	// URL is InfluxDB's base URL, e.g. http://influxdb:8086.
	URL string
	// Token authorizes ("user:password" for InfluxDB 1.8; empty if auth is off).
	Token string
	// Org is the organization (ignored by InfluxDB 1.8).
	Org string
	// Bucket is the bucket, "database/retention-policy" on InfluxDB 1.8.
	Bucket string
	// Timeout bounds one request (default 10s).
	Timeout time.Duration
}

// Client reads windows and writes recommendations. It is safe for concurrent use;
// Close it.
type Client struct {
	client influxdb2.Client
	org    string
	write  api.WriteAPIBlocking
	bucket string
}

// New returns a client; it does not connect until the first request.
func New(o Options) (*Client, error) {
	if o.URL == "" || o.Bucket == "" {
		return nil, errors.New("influx: URL and Bucket are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	opts := influxdb2.DefaultOptions().
		SetPrecision(time.Millisecond).
		SetHTTPRequestTimeout(uint(max(o.Timeout/time.Second, 1))).
		SetLogLevel(0)
	c := influxdb2.NewClientWithOptions(strings.TrimRight(o.URL, "/"), o.Token, opts)
	return &Client{client: c, org: o.Org, write: c.WriteAPIBlocking(o.Org, o.Bucket), bucket: o.Bucket}, nil
}

// query runs a Flux query. A query API of its own per query: influxdb-client-go
// v2.14's caches its URL on first use without a lock, a data race between concurrent
// first queries (seen with -race); a new one costs an allocation.
func (c *Client) query(ctx context.Context, q string) (*api.QueryTableResult, error) {
	return c.client.QueryAPI(c.org).Query(ctx, q)
}

// Close releases the client's connections.
func (c *Client) Close() { c.client.Close() }

// Ping checks that InfluxDB answers /ping.
func (c *Client) Ping(ctx context.Context) error {
	if _, err := c.client.Ping(ctx); err != nil {
		return fmt.Errorf("influxdb ping: %w", err)
	}
	return nil
}

// Latest is what the newest readings of a device say.
type Latest struct {
	// Reading is the time of the newest temperature or humidity reading (zero: none
	// within the look-back), Location its location tag.
	Reading  time.Time
	Location string
	// Setpoint is the newest set-point the Pi reported (HasSetpoint), at SetpointAt.
	Setpoint    float64
	SetpointAt  time.Time
	HasSetpoint bool
}

// Latest reads the device's newest readings from lookback before now until a minute
// after now (a Pi's clock may run a little ahead).
func (c *Client) Latest(ctx context.Context, device string, now time.Time, lookback time.Duration) (Latest, error) {
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %s and (r._field == %s or r._field == %s or r._field == %s))
  |> last()`,
		str(c.bucket), ts(now.Add(-lookback)), ts(now.Add(time.Minute)), str(device),
		str(FieldTemperature), str(FieldHumidity), str(FieldSetpoint))
	res, err := c.query(ctx, q)
	if err != nil {
		return Latest{}, fmt.Errorf("influx: latest of %s: %w", device, err)
	}
	defer func() { _ = res.Close() }()
	var l Latest
	for res.Next() {
		r := res.Record()
		v, ok := number(r.Value())
		if !ok {
			continue
		}
		at := r.Time()
		switch r.Field() {
		case FieldSetpoint:
			if at.After(l.SetpointAt) {
				l.Setpoint, l.SetpointAt, l.HasSetpoint = v, at, true
			}
		default:
			if at.After(l.Reading) {
				l.Reading = at
				l.Location, _ = r.ValueByKey(TagLocation).(string)
			}
		}
	}
	if err := res.Err(); err != nil {
		return Latest{}, fmt.Errorf("influx: latest of %s: %w", device, err)
	}
	return l, nil
}

// Spec is the window a model wants.
type Spec struct {
	Features []string
	Steps    int
	Step     time.Duration
}

// Window reads the device's window for spec ending at now (see the package doc): Steps
// rows of len(Features) finite values, oldest first, and the time of each row.
func (c *Client) Window(ctx context.Context, device string, spec Spec, now time.Time) ([][]float64, []time.Time, error) {
	if spec.Steps < 1 || spec.Step < time.Second || len(spec.Features) == 0 {
		return nil, nil, fmt.Errorf("influx: window spec %+v", spec)
	}
	var fields []string
	for _, f := range spec.Features {
		if fl := FieldOf(f); fl != "" && !slices.Contains(fields, fl) {
			fields = append(fields, fl)
		}
	}
	var rows [][]float64
	var times []time.Time
	if len(fields) > 0 {
		var err error
		if rows, times, err = c.resampled(ctx, device, fields, spec, now); err != nil {
			return nil, nil, err
		}
	} else {
		for i := spec.Steps - 1; i >= 0; i-- {
			times = append(times, now.Add(-time.Duration(i)*spec.Step))
			rows = append(rows, nil)
		}
	}
	if len(rows) < spec.Steps {
		return nil, nil, fmt.Errorf("influx: %s: %w: %d of %d steps of %v with every one of %s",
			device, ErrShortWindow, len(rows), spec.Steps, spec.Step, strings.Join(fields, ", "))
	}
	rows, times = rows[len(rows)-spec.Steps:], times[len(times)-spec.Steps:]
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = make([]float64, len(spec.Features))
		for j, f := range spec.Features {
			switch f {
			case model.FeatureHourSin, model.FeatureHourCos:
				out[i][j] = hourFeature(f, times[i])
			default:
				out[i][j] = r[slices.Index(fields, FieldOf(f))]
			}
		}
	}
	return out, times, nil
}

// resampled returns the rows of the fields, filled forward, from the first row that
// has every field.
func (c *Client) resampled(ctx context.Context, device string, fields []string, spec Spec, now time.Time) ([][]float64, []time.Time, error) {
	start := now.Truncate(spec.Step).Add(-time.Duration(spec.Steps) * spec.Step)
	var match []string
	for _, f := range fields {
		match = append(match, "r._field == "+str(f))
	}
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %s and (%s))
  |> group(columns: ["_start", "_stop", "_field"])
  |> aggregateWindow(every: %ds, fn: mean, createEmpty: true)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`,
		str(c.bucket), ts(start), ts(now), str(device), strings.Join(match, " or "), int64(spec.Step/time.Second))
	res, err := c.query(ctx, q)
	if err != nil {
		return nil, nil, fmt.Errorf("influx: window of %s: %w", device, err)
	}
	defer func() { _ = res.Close() }()
	type row struct {
		at   time.Time
		vals []float64 // NaN: no value
	}
	byTime := map[time.Time]*row{}
	for res.Next() {
		r := res.Record()
		at := r.Time()
		rw := byTime[at]
		if rw == nil {
			rw = &row{at: at, vals: make([]float64, len(fields))}
			for i := range rw.vals {
				rw.vals[i] = math.NaN()
			}
			byTime[at] = rw
		}
		for i, f := range fields {
			if v, ok := number(r.ValueByKey(f)); ok {
				rw.vals[i] = v
			}
		}
	}
	if err := res.Err(); err != nil {
		return nil, nil, fmt.Errorf("influx: window of %s: %w", device, err)
	}
	sorted := make([]*row, 0, len(byTime))
	for _, rw := range byTime {
		sorted = append(sorted, rw)
	}
	slices.SortFunc(sorted, func(a, b *row) int { return a.at.Compare(b.at) })
	// Fill forward, then drop what precedes a complete row.
	var rows [][]float64
	var times []time.Time
	for i, rw := range sorted {
		if i > 0 {
			for j, v := range rw.vals {
				if math.IsNaN(v) {
					rw.vals[j] = sorted[i-1].vals[j]
				}
			}
		}
		if len(rows) == 0 && slices.ContainsFunc(rw.vals, math.IsNaN) {
			continue
		}
		rows = append(rows, rw.vals)
		times = append(times, rw.at)
	}
	return rows, times, nil
}

// hourFeature is hour_sin or hour_cos of t's time of day in UTC.
func hourFeature(f string, t time.Time) float64 {
	t = t.UTC()
	h := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
	a := 2 * math.Pi * h / 24
	if f == model.FeatureHourSin {
		return math.Sin(a)
	}
	return math.Cos(a)
}

// WriteRecommendation stores the recommended set-point as recommend_temperature on the
// device's measurement, tagged with its location, at time at.
func (c *Client) WriteRecommendation(ctx context.Context, device, location string, setpoint float64, at time.Time) error {
	if math.IsNaN(setpoint) || math.IsInf(setpoint, 0) {
		return fmt.Errorf("influx: recommendation %v", setpoint)
	}
	p := write.NewPointWithMeasurement(device).AddTag(TagLocation, location).
		AddField(FieldRecommendation, setpoint).SetTime(at)
	if err := c.write.WritePoint(ctx, p); err != nil {
		return fmt.Errorf("influx: write the recommendation of %s: %w", device, err)
	}
	return nil
}

// number reads a Flux value as a finite float64.
func number(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		f = float64(x)
	case uint64:
		f = float64(x)
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

// str is a Flux string literal.
func str(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "${", `\${`)
	return `"` + r.Replace(s) + `"`
}

// ts is a Flux time literal.
func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
