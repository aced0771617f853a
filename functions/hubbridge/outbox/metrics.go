package outbox

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	batch       prometheus.Histogram
	storeErrors prometheus.Counter
	duplicates  prometheus.Counter
}

// newMetrics registers the outbox metrics on reg (nil: unregistered).
func newMetrics(reg prometheus.Registerer, ob *Outbox) metrics {
	m := metrics{
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hub_store_batch_readings",
			Help:    "Readings per MongoDB write (one group commit of concurrent requests).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hub_store_errors_total",
			Help: "Group commits MongoDB did not acknowledge; their requests were answered 503.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hub_duplicates_total",
			Help: "Readings whose id was stored before (device retries); answered as stored.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.batch, m.storeErrors, m.duplicates,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "hub_backlog",
				Help: "Readings stored in the outbox and not yet acknowledged by Kafka.",
			}, func() float64 { return float64(ob.Backlog()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "hub_outbox_segments",
				Help: "Outbox segment collections in MongoDB (undelivered and retained).",
			}, func() float64 { return float64(ob.Segments()) }),
		)
	}
	return m
}
