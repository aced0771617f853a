// Package store writes readings to InfluxDB (v2 write API, so InfluxDB 1.8 and 2.x
// both take it) as points whose identity is derived from the readings alone, so that
// writing the same readings again overwrites instead of duplicating.
//
// Schema, as the original system wrote it (measurement per device, tag location):
//
//	measurement  reading.Device
//	tag          location = reading.Location, or the configured default (Gwangju)
//	time         reading.Origin, nanoseconds
//	field        <reading.Resource> = reading.Value (float)
//	field        ext_temperature (float, C), ext_humidity (float, %),
//	             weather_stat (integer 1-9, see package weather) when the weather is known
//
// Readings of one event (same device, location and origin) merge into one point, like
// the original's row "dev1,location=Gwangju temperature=..,humidity=..,ext_temperature=..".
// A reading whose resource is named like a weather field wins over the weather value;
// two readings of the same resource on one point: the later in the batch wins, as
// InfluxDB itself would resolve them.
//
// Rejected points: InfluxDB answers 400 (e.g. a field type conflict: "temperature"
// once written as a string), 413 or 422 for content it will never take. Write then
// splits the batch in halves until it has the points refused one by one, writes all the
// others, and returns the refused ones as Rejections for the caller to dead-letter. So
// one bad point cannot block a partition. Every other failure (connection, 5xx, 429,
// 401/403/404 which are configuration faults) is returned as an error: the caller
// retries the whole batch, which is harmless because writes are idempotent.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/sender/weather"
)

// Field names of the weather on each point.
const (
	FieldExtTemperature = "ext_temperature"
	FieldExtHumidity    = "ext_humidity"
	FieldWeatherStat    = "weather_stat"
	// TagLocation is the one tag of every point.
	TagLocation = reading.TagLocation
	// DefaultLocation is the location tag of readings that carry none.
	DefaultLocation = "Gwangju"
)

// ErrRejected is wrapped by a Rejection's error: InfluxDB refused the point itself.
var ErrRejected = errors.New("rejected by influxdb")

// Options say where to write; URL and Bucket are required.
type Options struct {
	// URL is InfluxDB's base URL, e.g. http://influxdb:8086.
	URL string
	// Token authorizes writes ("user:password" for InfluxDB 1.8; empty if auth is off).
	Token string
	// Org is the organization (ignored by InfluxDB 1.8).
	Org string
	// Bucket is the bucket, "database/retention-policy" on InfluxDB 1.8.
	Bucket string
	// DefaultLocation tags readings without a location (default DefaultLocation).
	DefaultLocation string
	// Timeout bounds one HTTP request (default 30s).
	Timeout time.Duration
}

// Store writes points to one bucket. It is safe for concurrent use; Close it.
type Store struct {
	client influxdb2.Client
	write  api.WriteAPIBlocking
	loc    string
}

// New returns a store; it does not connect until the first request.
func New(o Options) (*Store, error) {
	if o.URL == "" || o.Bucket == "" {
		return nil, errors.New("store: URL and Bucket are required")
	}
	if o.DefaultLocation == "" {
		o.DefaultLocation = DefaultLocation
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	opts := influxdb2.DefaultOptions().
		SetPrecision(time.Nanosecond).
		SetHTTPRequestTimeout(uint(o.Timeout / time.Second)).
		SetLogLevel(0) // errors only; the blocking write API returns them to us anyway
	client := influxdb2.NewClientWithOptions(strings.TrimRight(o.URL, "/"), o.Token, opts)
	return &Store{client: client, write: client.WriteAPIBlocking(o.Org, o.Bucket), loc: o.DefaultLocation}, nil
}

// Ping checks that InfluxDB answers /ping.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.client.Ping(ctx); err != nil {
		return fmt.Errorf("influxdb ping: %w", err)
	}
	return nil
}

// Close releases the client's connections.
func (s *Store) Close() { s.client.Close() }

// WritePoints writes points as they are, in one request: the sender's own stats (see
// package stats), which go to the readings' bucket so that Grafana finds them there.
func (s *Store) WritePoints(ctx context.Context, pts ...*write.Point) error {
	if err := s.write.WritePoint(ctx, pts...); err != nil {
		return fmt.Errorf("write %d points to influxdb: %w", len(pts), err)
	}
	return nil
}

// Rejection is a point InfluxDB refused, and the readings (indexes into the batch
// given to Write) merged into it.
type Rejection struct {
	Readings []int
	// Err wraps ErrRejected and says why.
	Err error
}

// Write writes the batch as points, with the weather on each if w is not nil. It
// returns when every point is stored or refused (see the package doc); a non-nil
// error means the batch must be written again, nothing is known to be stored.
func (s *Store) Write(ctx context.Context, batch []reading.Reading, w *weather.Weather) ([]Rejection, error) {
	pts := Points(batch, s.loc, w)
	var rejected []Rejection
	if err := s.writeSplit(ctx, pts, &rejected); err != nil {
		return nil, err
	}
	return rejected, nil
}

// writeSplit writes pts; on a refusal it writes each half on its own, down to single
// points, which are then the ones refused.
func (s *Store) writeSplit(ctx context.Context, pts []Point, rejected *[]Rejection) error {
	if len(pts) == 0 {
		return nil
	}
	ps := make([]*write.Point, len(pts))
	for i, p := range pts {
		ps[i] = p.Point
	}
	err := s.write.WritePoint(ctx, ps...)
	if err == nil {
		return nil
	}
	if !refused(err) || ctx.Err() != nil {
		return fmt.Errorf("write %d points to influxdb: %w", len(pts), err)
	}
	if len(pts) == 1 {
		*rejected = append(*rejected, Rejection{Readings: pts[0].Readings, Err: fmt.Errorf("%w: %w", ErrRejected, err)})
		return nil
	}
	mid := len(pts) / 2
	if err := s.writeSplit(ctx, pts[:mid], rejected); err != nil {
		return err
	}
	return s.writeSplit(ctx, pts[mid:], rejected)
}

// refused reports whether InfluxDB refused the content, not the request: trying the
// same points again would fail the same way. A line-protocol encoding error (not an
// HTTP error at all) is such a refusal too.
func refused(err error) bool {
	var he *ihttp.Error
	if !errors.As(err, &he) {
		return true
	}
	switch he.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// Point is one InfluxDB point and the readings (indexes into the batch) merged into it.
type Point struct {
	*write.Point
	Readings []int
}

// pointKey is a point's identity: measurement, tag set and timestamp.
type pointKey struct {
	device, location string
	origin           int64
}

// Points turns a batch of readings into points, in order of first appearance: one per
// device, location and origin, with every resource of that event as a field and the
// weather (if w is not nil) added where no reading has a field of the same name.
func Points(batch []reading.Reading, defaultLocation string, w *weather.Weather) []Point {
	var pts []Point
	index := make(map[pointKey]int, len(batch))
	for i, r := range batch {
		loc := r.Location
		if loc == "" {
			loc = defaultLocation
		}
		k := pointKey{r.Device, loc, r.Origin}
		j, ok := index[k]
		if !ok {
			j = len(pts)
			index[k] = j
			p := write.NewPointWithMeasurement(r.Device).AddTag(TagLocation, loc).SetTime(time.Unix(0, r.Origin))
			pts = append(pts, Point{Point: p})
		}
		pts[j].AddField(r.Resource, r.Value)
		pts[j].Readings = append(pts[j].Readings, i)
	}
	if w != nil {
		for _, p := range pts {
			addWeather(p.Point, *w)
		}
	}
	return pts
}

func addWeather(p *write.Point, w weather.Weather) {
	has := map[string]bool{}
	for _, f := range p.FieldList() {
		has[f.Key] = true
	}
	add := func(k string, v any) {
		if !has[k] {
			p.AddField(k, v)
		}
	}
	add(FieldExtTemperature, w.TempC)
	add(FieldExtHumidity, w.Humidity)
	if w.State != weather.Unknown {
		add(FieldWeatherStat, int64(w.State))
	}
}
