package pipeline

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsOf serves reg as a function's /metrics does.
func metricsOf(t *testing.T, reg *prometheus.Registry) string {
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

// The figures the dashboard shows, from the same metric names the hub and the sender
// export (registered here with client_golang, served by promhttp): backlog, lag, the
// write rate between two scrapes, dead letters, the last error, and unknown while a
// target is down.
func TestWatcher(t *testing.T) {
	hubReg, senderReg := prometheus.NewRegistry(), prometheus.NewRegistry()
	backlog := prometheus.NewGauge(prometheus.GaugeOpts{Name: "hub_backlog"})
	received := prometheus.NewCounter(prometheus.CounterOpts{Name: "hub_received_total"})
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hub_rejected_total"}, []string{"reason"})
	hubReg.MustRegister(backlog, received, rejected)
	lag := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sender_consumer_lag_sum"})
	written := prometheus.NewCounter(prometheus.CounterOpts{Name: "sender_written_total"})
	dead := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sender_dead_lettered_total"}, []string{"reason"})
	writeErrs := prometheus.NewCounter(prometheus.CounterOpts{Name: "sender_write_errors_total"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sender_write_seconds"})
	senderReg.MustRegister(lag, written, dead, writeErrs, latency)
	rejected.WithLabelValues("invalid").Add(0)
	dead.WithLabelValues("malformed").Add(2)
	backlog.Set(42)
	lag.Set(7)
	written.Add(100)
	latency.Observe(0.1)

	senderSrv := httptest.NewServer(promhttp.HandlerFor(senderReg, promhttp.HandlerOpts{}))
	defer senderSrv.Close()
	w := New([]Target{{Name: "hub", URL: metricsOf(t, hubReg)}, {Name: "sender", URL: senderSrv.URL + "/metrics"}}, time.Second, nil)
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	w.now = func() time.Time { return clock }
	ctx := context.Background()

	h := w.Health()
	if h.HubBacklog != nil || len(h.Targets) != 2 || h.Targets[0].Err != "not scraped yet" {
		t.Fatalf("before a scrape: %+v, want unknown figures", h)
	}
	w.ScrapeAll(ctx)
	h = w.Health()
	for name, tt := range map[string]struct {
		got  *float64
		want float64
	}{"backlog": {h.HubBacklog, 42}, "lag": {h.ConsumerLag, 7}, "dead": {h.DeadLetters, 2}, "rejected": {h.HubRejected, 0}} {
		if tt.got == nil || *tt.got != tt.want {
			t.Errorf("%s = %v, want %g", name, tt.got, tt.want)
		}
	}
	if h.WriteRate != nil || h.LastError != nil {
		t.Errorf("after one scrape: rate %v, last error %+v; want neither", h.WriteRate, h.LastError)
	}

	clock = clock.Add(10 * time.Second)
	written.Add(50)
	writeErrs.Inc()
	w.ScrapeAll(ctx)
	h = w.Health()
	if h.WriteRate == nil || *h.WriteRate != 5 {
		t.Errorf("write rate %v, want 50 readings in 10 s = 5/s", h.WriteRate)
	}
	if h.LastError == nil || !strings.Contains(h.LastError.What, "sender_write_errors_total +1") || !h.LastError.At.Equal(clock) {
		t.Errorf("last error %+v, want the write error counted at %s", h.LastError, clock)
	}

	clock = clock.Add(10 * time.Second)
	senderSrv.Close()
	w.ScrapeAll(ctx)
	h = w.Health()
	if h.ConsumerLag != nil || h.WriteRate != nil || h.Targets[1].Up {
		t.Errorf("sender down: lag %v, rate %v, up %v; want unknown", h.ConsumerLag, h.WriteRate, h.Targets[1].Up)
	}
	if h.LastError == nil || !strings.HasPrefix(h.LastError.What, "sender /metrics: ") {
		t.Errorf("last error %+v, want the failed scrape", h.LastError)
	}
	if h.HubBacklog == nil {
		t.Error("the hub's figures went with the sender")
	}
}

func TestParse(t *testing.T) {
	s, err := Parse(strings.NewReader("# TYPE a_total counter\na_total{x=\"1\",b=\"2\"} 3\na_total{x=\"2\"} 4\n# TYPE g gauge\ng 1.5\nuntyped_one 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v := s[`a_total{b="2",x="1"}`]; v != 3 {
		t.Errorf("labelled series = %g, want 3 under sorted labels (have %v)", v, s)
	}
	if sum, ok := s.Sum("a_total"); !ok || sum != 7 {
		t.Errorf("Sum = %g, %v; want 7", sum, ok)
	}
	if _, ok := s.Sum("a"); ok {
		t.Error("Sum of a prefix of another name found it")
	}
	if s["g"] != 1.5 || s["untyped_one"] != 2 {
		t.Errorf("gauge and untyped: %v", s)
	}
	if _, err := Parse(strings.NewReader("not metrics {{{\n")); err == nil {
		t.Error("no error for a bad body")
	}
}

func TestScrapeHTTPError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	w := New([]Target{{Name: "hub", URL: srv.URL}}, time.Second, nil)
	w.ScrapeAll(context.Background())
	if h := w.Health(); h.Targets[0].Up || !strings.Contains(h.Targets[0].Err, "HTTP 404") {
		t.Errorf("target %+v, want down with HTTP 404", h.Targets[0])
	}
}

func FuzzParse(f *testing.F) {
	f.Add("# TYPE a counter\na{x=\"1\"} 3\n")
	f.Add("g 1\n")
	f.Add("# HELP\n")
	f.Fuzz(func(t *testing.T, body string) {
		s, err := Parse(strings.NewReader(body))
		if err == nil && s == nil {
			t.Fatal("no sample and no error")
		}
	})
}
