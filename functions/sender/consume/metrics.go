package consume

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the consumer's sender_* series.
type metrics struct {
	consumed       prometheus.Counter
	written        prometheus.Counter
	deadLettered   *prometheus.CounterVec
	writeErrors    prometheus.Counter
	commitErrors   prometheus.Counter
	batchSize      prometheus.Histogram
	writeSeconds   prometheus.Histogram
	originToStored prometheus.Histogram
}

// OriginToStoredBuckets are the buckets of sender_origin_to_stored_seconds: 1 ms to
// 60 s, about three per factor of ten, so p50 and p99 read well at either end.
var OriginToStoredBuckets = []float64{
	0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60,
}

// Totals are the consumer's counts since it was built: the figures of
// sender_consumed_total, sender_written_total, sender_dead_lettered_total (all reasons),
// sender_write_errors_total and the sum of sender_origin_to_stored_seconds. They are
// kept apart from the metrics so that the sender's stats point (package stats) reads
// them without a Prometheus scrape.
type Totals struct {
	Consumed, Written, DeadLetters, WriteErrors int64
	// OriginToStoredSeconds is the sum, over the written readings, of the seconds from
	// each reading's origin to its write: divided by Written, the mean latency. A
	// float, as the histogram's sum: a Pi whose clock is years off would overflow a
	// time.Duration within a few readings.
	OriginToStoredSeconds float64
}

// totals are the live counts behind Totals, updated once per batch where the metrics
// are; a mutex, since the latency sum is a float.
type totals struct {
	mu sync.Mutex
	t  Totals
}

func (t *totals) add(d Totals) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.t.Consumed += d.Consumed
	t.t.Written += d.Written
	t.t.DeadLetters += d.DeadLetters
	t.t.WriteErrors += d.WriteErrors
	t.t.OriginToStoredSeconds += d.OriginToStoredSeconds
}

func (t *totals) snapshot() Totals {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.t
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		consumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sender_consumed_total", Help: "Messages fetched from Kafka.",
		}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sender_written_total", Help: "Readings written to InfluxDB (a redelivered reading counts again).",
		}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sender_dead_lettered_total", Help: "Messages sent to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sender_write_errors_total", Help: "Failed InfluxDB write attempts (each is retried).",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sender_commit_errors_total", Help: "Failed Kafka offset commits.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sender_batch_size", Help: "Messages per batch.",
			Buckets: []float64{1, 10, 50, 100, 500, 1000, 2000, 5000, 10000, 50000},
		}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sender_write_seconds", Help: "Duration of successful InfluxDB batch writes.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		originToStored: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sender_origin_to_stored_seconds",
			Help:    "From a reading's origin time on the device to its successful write to InfluxDB.",
			Buckets: OriginToStoredBuckets,
		}),
	}
	for _, c := range []prometheus.Collector{m.consumed, m.written, m.deadLettered, m.writeErrors, m.commitErrors, m.batchSize, m.writeSeconds, m.originToStored} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, r := range Reasons {
		m.deadLettered.WithLabelValues(r)
	}
	return m, nil
}
