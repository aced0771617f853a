// Package history reads a room's history from InfluxDB for the trainer: the points
// the sender wrote (measurement = device, tag location, one field per reading, time =
// the reading's origin; see package sender/store) resampled with Flux to one row per
// step and device, as learn.Rows.
//
// Each field is averaged over each step (aggregateWindow with mean), except setpoint,
// which takes the step's last value: the set-point in force at the step's end, not
// a blend of two. A row's time is its step's start; steps without any point have no
// row. weather_stat becomes the feature weather. Points of one device under several
// location tags are averaged together. The query goes through the v2 query API, so
// InfluxDB 1.8 (with flux-enabled) and 2.x both answer it.
package history

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

	"github.com/smartx-team/overcloud/functions/model"
	"github.com/smartx-team/overcloud/functions/trainer/learn"
)

// Fields maps the fields read to the features they become.
var Fields = map[string]string{
	"temperature":     model.FeatureTemperature,
	"humidity":        model.FeatureHumidity,
	"setpoint":        model.FeatureSetpoint,
	"cpu":             model.FeatureCPU,
	"ext_temperature": model.FeatureExtTemperature,
	"ext_humidity":    model.FeatureExtHumidity,
	"weather_stat":    model.FeatureWeather,
}

// Options say where to read; URL and Bucket are required.
type Options struct {
	// URL is InfluxDB's base URL, e.g. http://influxdb:8086.
	URL string
	// Token authorizes reads ("user:password" for InfluxDB 1.8; empty if auth is off).
	Token string
	// Org is the organization (ignored by InfluxDB 1.8).
	Org string
	// Bucket is the bucket, "database/retention-policy" on InfluxDB 1.8.
	Bucket string
	// Timeout bounds the query's HTTP request (default 5m: a week of a few devices
	// takes seconds, but a loaded server may be slow).
	Timeout time.Duration
}

// Reader reads one bucket. It is safe for concurrent use; Close it.
type Reader struct {
	client influxdb2.Client
	query  api.QueryAPI
	bucket string
}

// New returns a reader; it does not connect until the first query.
func New(o Options) (*Reader, error) {
	if o.URL == "" || o.Bucket == "" {
		return nil, errors.New("history: URL and Bucket are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	opts := influxdb2.DefaultOptions().
		SetHTTPRequestTimeout(uint((o.Timeout + time.Second - 1) / time.Second)).
		SetLogLevel(0)
	c := influxdb2.NewClientWithOptions(strings.TrimRight(o.URL, "/"), o.Token, opts)
	return &Reader{client: c, query: c.QueryAPI(o.Org), bucket: o.Bucket}, nil
}

// Close releases the client's connections.
func (r *Reader) Close() { r.client.Close() }

// Query selects what Rows reads.
type Query struct {
	// Devices are the measurements to read; none means every measurement that has a
	// temperature field in the range.
	Devices []string
	// Start (inclusive) and Stop (exclusive) bound the points' times.
	Start, Stop time.Time
	// Step is the resampling step (at least 1s).
	Step time.Duration
}

// Rows runs the query and returns one row per device and step, sorted by device and
// time. Only devices with a temperature in some step are returned.
func (r *Reader) Rows(ctx context.Context, q Query) ([]learn.Row, error) {
	flux, err := Flux(r.bucket, q)
	if err != nil {
		return nil, err
	}
	res, err := r.query.Query(ctx, flux)
	if err != nil {
		return nil, fmt.Errorf("influxdb query: %w", err)
	}
	defer func() { _ = res.Close() }()
	type key struct {
		dev string
		at  int64
	}
	index := map[key]int{}
	var rows []learn.Row
	withTemp := map[string]bool{}
	for res.Next() {
		rec := res.Record()
		dev := rec.Measurement()
		at := rec.Time()
		k := key{dev, at.UnixNano()}
		i, ok := index[k]
		if !ok {
			i = len(rows)
			index[k] = i
			rows = append(rows, learn.Row{Device: dev, Time: at.UTC(), Values: map[string]float64{}})
		}
		for field, feature := range Fields {
			if v, ok := number(rec.ValueByKey(field)); ok {
				rows[i].Values[feature] = v
				if feature == model.FeatureTemperature {
					withTemp[dev] = true
				}
			}
		}
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("influxdb query result: %w", err)
	}
	out := rows[:0]
	for _, row := range rows {
		if withTemp[row.Device] {
			out = append(out, row)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Device != out[j].Device {
			return out[i].Device < out[j].Device
		}
		return out[i].Time.Before(out[j].Time)
	})
	return out, nil
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}

// Flux is the query Rows runs for q on bucket.
func Flux(bucket string, q Query) (string, error) {
	switch {
	case bucket == "":
		return "", errors.New("history: no bucket")
	case q.Step < time.Second:
		return "", fmt.Errorf("history: step %s, want at least 1s", q.Step)
	case !q.Stop.After(q.Start):
		return "", fmt.Errorf("history: range %s to %s is empty", q.Start.Format(time.RFC3339), q.Stop.Format(time.RFC3339))
	}
	// aggregateWindow's windows are aligned to the epoch, but the first one starts at
	// the range's start: a start between two steps would put the first row off the
	// grid (a --since given as a duration). The range starts on the grid instead.
	q.Start = q.Start.Truncate(q.Step)
	var fields []string
	for f := range Fields {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	match := func(col string, values []string) string {
		var or []string
		for _, v := range values {
			or = append(or, "r."+col+" == "+String(v))
		}
		return "(" + strings.Join(or, " or ") + ")"
	}
	filter := match("_field", fields)
	if len(q.Devices) > 0 {
		filter = match("_measurement", q.Devices) + " and " + filter
	}
	every := strconv.FormatInt(int64(q.Step), 10) + "ns"
	var b strings.Builder
	fmt.Fprintf(&b, "data = from(bucket: %s)\n", String(bucket))
	fmt.Fprintf(&b, "  |> range(start: %s, stop: %s)\n", q.Start.UTC().Format(time.RFC3339Nano), q.Stop.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(&b, "  |> filter(fn: (r) => %s)\n", filter)
	b.WriteString("  |> group(columns: [\"_measurement\", \"_field\"])\n")
	fmt.Fprintf(&b, "means = data\n  |> filter(fn: (r) => r._field != \"setpoint\")\n  |> aggregateWindow(every: %s, fn: mean, createEmpty: false, timeSrc: \"_start\")\n", every)
	fmt.Fprintf(&b, "lasts = data\n  |> filter(fn: (r) => r._field == \"setpoint\")\n  |> aggregateWindow(every: %s, fn: last, createEmpty: false, timeSrc: \"_start\")\n", every)
	b.WriteString("union(tables: [means, lasts])\n")
	b.WriteString("  |> pivot(rowKey: [\"_time\"], columnKey: [\"_field\"], valueColumn: \"_value\")\n")
	return b.String(), nil
}

// String quotes s as a Flux string literal: backslash, double quote and the "${" of
// interpolation escaped, everything else as it is (Flux strings are UTF-8 and may hold
// any character, newlines too).
func String(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			b.WriteString(`\$`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
