package loop

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartx-team/overcloud/functions/controller/policy"
)

// metrics are the controller's, all named controller_*.
type metrics struct {
	decisions      *prometheus.CounterVec
	fallbacks      *prometheus.CounterVec
	staleTotal     prometheus.Counter
	applyErrors    *prometheus.CounterVec
	overrideEvents *prometheus.CounterVec
	recommended    *prometheus.GaugeVec
	setpoint       *prometheus.GaugeVec
	margin         *prometheus.GaugeVec
	storeErrors    *prometheus.CounterVec
	tickSeconds    prometheus.Histogram
	lastTick       prometheus.Gauge
}

// newMetrics registers the metrics on reg (nil: unregistered), every label value that
// is known in advance starting at zero.
func newMetrics(reg prometheus.Registerer, c *Controller) (*metrics, error) {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_decisions_total",
			Help: "Decisions per sector and tick, by outcome (change, hold, hysteresis, rate_limited, override, stale, fallback).",
		}, []string{"outcome"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_fallbacks_total",
			Help: "Decisions that fell back to the last safe set-point, by reason (inference_down, no_model, nan, out_of_range, stale_model, ...).",
		}, []string{"reason"}),
		staleTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "controller_stale_transitions_total",
			Help: "Times a sector's sensor went stale and automation stopped for it.",
		}),
		applyErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_apply_errors_total",
			Help: "Set-points core-command did not take, automatic and manual, by device.",
		}, []string{"device"}),
		overrideEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_override_events_total",
			Help: "Manual overrides started, cancelled and run out.",
		}, []string{"event"}),
		recommended: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "controller_recommended_setpoint_celsius",
			Help: "The last recommended set-point per device.",
		}, []string{"device"}),
		setpoint: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "controller_setpoint_celsius",
			Help: "The set-point in force per device, as last known.",
		}, []string{"device"}),
		margin: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "controller_margin_celsius",
			Help: "The margin kept below the limit at the last decision per device: set, or learned from its forecast errors (learned=\"true\").",
		}, []string{"device", "learned"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_store_errors_total",
			Help: "Failed reads and writes of InfluxDB and MongoDB (audit, overrides).",
		}, []string{"store"}),
		tickSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "controller_tick_seconds",
			Help:    "Time of one tick for every sector.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		lastTick: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "controller_last_tick_timestamp_seconds",
			Help: "When the last tick ran, Unix time.",
		}),
	}
	for _, o := range policy.Outcomes {
		m.decisions.WithLabelValues(string(o))
	}
	for _, f := range policy.Faults {
		m.fallbacks.WithLabelValues(string(f))
	}
	for _, e := range []string{"start", "cancel", "expire"} {
		m.overrideEvents.WithLabelValues(e)
	}
	for _, s := range []string{"influx", "mongo"} {
		m.storeErrors.WithLabelValues(s)
	}
	for _, d := range c.order {
		m.applyErrors.WithLabelValues(d)
	}
	if reg == nil {
		return m, nil
	}
	count := func(pred func(DeviceState) bool) func() float64 {
		return func() float64 {
			c.mu.RLock()
			defer c.mu.RUnlock()
			n := 0
			for _, v := range c.views {
				if pred(v) {
					n++
				}
			}
			return float64(n)
		}
	}
	for _, col := range []prometheus.Collector{
		m.decisions, m.fallbacks, m.staleTotal, m.applyErrors, m.overrideEvents,
		m.recommended, m.setpoint, m.margin, m.storeErrors, m.tickSeconds, m.lastTick,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "controller_stale_sectors",
			Help: "Sectors whose sensor is stale now (automation stopped for them).",
		}, count(func(v DeviceState) bool { return v.StaleSensor })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "controller_overrides",
			Help: "Manual overrides in force now.",
		}, count(func(v DeviceState) bool { return v.Override != nil })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "controller_fallback_sectors",
			Help: "Sectors in fallback now.",
		}, count(func(v DeviceState) bool { return v.Mode == policy.ModeFallback })),
	} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}
