// Package stats writes the sender's own figures to InfluxDB, next to the readings, so
// that Grafana, whose only data source is InfluxDB (there is no Prometheus server in
// the stack), can chart the pipeline's throughput and lag from the figures the sender
// itself counts, not from guesses made on the readings.
//
// Every interval a Reporter writes one point:
//
//	measurement  smartx_pipeline
//	tag          instance = the sender's host name (a pod's name), so replicas add up
//	time         when the point was taken (the sender's clock)
//	field        consumer_lag (integer): messages on the readings topic not yet
//	             committed by the consumer group, all partitions (the figure of
//	             sender_consumer_lag_sum); absent when Kafka did not answer
//	field        consumed, written, dead_letters, write_errors (integers): counted
//	             since this instance's previous stored point
//	field        written_per_s (float): written divided by the seconds since that point
//	field        latency_s (float): mean time from a reading's origin on the device to
//	             its write, over the readings written since that point; absent when none
//
// The counts are deltas, not totals since start, so a restart needs no counter-reset
// logic and a sum over any time range is exact. A point that cannot be written is not
// lost: the next one covers both intervals. On shutdown a last point covers the time
// since the previous one.
//
// The fields are named unlike any device field (temperature, humidity, setpoint, cpu,
// mem, disk, the weather, recommend_temperature), so readers that select the device
// fields (the trainer, the controller, the dashboards) never take this measurement for
// a device.
package stats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
)

// Measurement is the measurement of the stats points.
const Measurement = "smartx_pipeline"

// Tag and field names of a stats point.
const (
	TagInstance           = "instance"
	FieldConsumerLag      = "consumer_lag"
	FieldConsumed         = "consumed"
	FieldWritten          = "written"
	FieldDeadLetters      = "dead_letters"
	FieldWriteErrors      = "write_errors"
	FieldWrittenPerSecond = "written_per_s"
	FieldLatency          = "latency_s"
)

// Totals are counts since the sender started; the Reporter turns them into deltas.
type Totals struct {
	Consumed, Written, DeadLetters, WriteErrors int64
	// OriginToStoredSeconds is the sum over the written readings of the seconds from
	// origin to write.
	OriginToStoredSeconds float64
}

// Writer stores points: a *store.Store.
type Writer interface {
	WritePoints(ctx context.Context, pts ...*write.Point) error
}

// Options configure a Reporter. Interval, Totals and Writer are required.
type Options struct {
	// Interval between two points.
	Interval time.Duration
	// Instance tags the points (default "sender").
	Instance string
	// Totals reads the counts so far; it must be safe to call concurrently with
	// whatever updates them.
	Totals func() Totals
	// Lag returns the consumer group's lag; nil or an error leaves the field out.
	Lag func(context.Context) (int64, error)
	// Writer stores the points.
	Writer Writer
	// Timeout bounds one report, the lag query and the write together (default
	// Interval, at most 10s), so a slow Kafka or InfluxDB cannot pile reports up.
	Timeout time.Duration
	// Logger (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now); tests set it.
	Now func() time.Time
}

// Reporter writes the stats points. Run it once.
type Reporter struct {
	o Options
	// last is what the previous stored point counted up to, and when it was taken.
	last   Totals
	lastAt time.Time
}

// New checks o and returns a reporter whose first interval starts now.
func New(o Options) (*Reporter, error) {
	if o.Interval <= 0 || o.Totals == nil || o.Writer == nil {
		return nil, errors.New("stats: Interval, Totals and Writer are required")
	}
	if o.Instance == "" {
		o.Instance = "sender"
	}
	if o.Timeout <= 0 {
		o.Timeout = min(o.Interval, 10*time.Second)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Reporter{o: o, last: o.Totals(), lastAt: o.Now()}, nil
}

// lastTimeout bounds the point written at shutdown, which the sender's exit waits for:
// with InfluxDB down it must not eat the pod's termination grace period.
const lastTimeout = 5 * time.Second

// Run writes a point every interval until ctx ends, then a last one (within
// lastTimeout) for the time since the previous point. Failures are logged, never
// fatal: the sender's work is the readings, and the next point makes up for a lost one.
func (r *Reporter) Run(ctx context.Context) {
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = r.Report(ctx)
		case <-ctx.Done():
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lastTimeout)
			_ = r.Report(lctx)
			cancel()
			return
		}
	}
}

// Report takes and writes one point now. It returns the error of the write (nil when
// stored); on an error the next point counts from the same start.
func (r *Reporter) Report(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	cur, at := r.o.Totals(), r.o.Now()
	lag, lagOK := int64(0), false
	if r.o.Lag != nil {
		var err error
		if lag, err = r.o.Lag(ctx); err != nil {
			r.o.Logger.Debug("stats: consumer lag unknown", "err", err)
		} else {
			lagOK = true
		}
	}
	p := Point(r.o.Instance, r.last, cur, r.lastAt, at, lag, lagOK)
	if err := r.o.Writer.WritePoints(ctx, p); err != nil {
		r.o.Logger.Warn("stats: point not written; the next one covers this interval too", "err", err)
		return fmt.Errorf("stats: %w", err)
	}
	r.last, r.lastAt = cur, at
	return nil
}

// Point is the stats point taken at now for the counts from prev (at since) to cur.
// lag is left out unless lagOK, and latency when nothing was written.
func Point(instance string, prev, cur Totals, since, now time.Time, lag int64, lagOK bool) *write.Point {
	written := cur.Written - prev.Written
	p := write.NewPointWithMeasurement(Measurement).AddTag(TagInstance, instance).SetTime(now).
		AddField(FieldConsumed, cur.Consumed-prev.Consumed).
		AddField(FieldWritten, written).
		AddField(FieldDeadLetters, cur.DeadLetters-prev.DeadLetters).
		AddField(FieldWriteErrors, cur.WriteErrors-prev.WriteErrors)
	// The rate stays a float even at zero: a field's type is fixed in InfluxDB.
	rate := 0.0
	if secs := now.Sub(since).Seconds(); secs > 0 {
		rate = float64(written) / secs
	}
	p.AddField(FieldWrittenPerSecond, rate)
	if written > 0 {
		p.AddField(FieldLatency, (cur.OriginToStoredSeconds-prev.OriginToStoredSeconds)/float64(written))
	}
	if lagOK {
		p.AddField(FieldConsumerLag, lag)
	}
	return p
}
