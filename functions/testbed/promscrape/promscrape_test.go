package promscrape

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func TestValueInProcessAndOverHTTP(t *testing.T) {
	reg := prometheus.NewRegistry()
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rejected_total", Help: "h"}, []string{"reason", "part"})
	backlog := prometheus.NewGauge(prometheus.GaugeOpts{Name: "backlog", Help: "h"})
	batch := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "batch_size", Help: "h"})
	reg.MustRegister(rejected, backlog, batch)
	rejected.WithLabelValues("malformed", "a").Add(2)
	rejected.WithLabelValues("malformed", "b").Add(3)
	rejected.WithLabelValues("too_large", "a").Add(7)
	backlog.Set(42)
	batch.Observe(1)
	batch.Observe(5)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	scraped, err := Scrape(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	gathered, err := Gather(reg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		labels []string
		want   float64
		ok     bool
	}{
		{"rejected_total", nil, 12, true},
		{"rejected_total", []string{"reason", "malformed"}, 5, true},
		{"rejected_total", []string{"reason", "malformed", "part", "b"}, 3, true},
		{"rejected_total", []string{"reason", "other"}, 0, false},
		{"backlog", nil, 42, true},
		{"batch_size", nil, 2, true},
		{"absent_total", nil, 0, false},
	}
	for _, fams := range []Families{scraped, gathered} {
		for _, tt := range tests {
			if got, ok := fams.Value(tt.name, tt.labels...); got != tt.want || ok != tt.ok {
				t.Errorf("Value(%s, %v) = %v, %v; want %v, %v", tt.name, tt.labels, got, ok, tt.want, tt.ok)
			}
		}
	}
	if _, err := Scrape(context.Background(), srv.URL+"/nowhere"); err == nil {
		t.Error("a 404 scrape gave no error")
	}
}
