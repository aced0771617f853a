package main

import (
	"math"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
)

const sample = `# TYPE lat_seconds histogram
lat_seconds_bucket{le="0.1"} 50
lat_seconds_bucket{le="0.2"} 90
lat_seconds_bucket{le="0.4"} 100
lat_seconds_bucket{le="+Inf"} 100
lat_seconds_sum 12
lat_seconds_count 100
# TYPE done_total counter
done_total{reason="a"} 3
done_total{reason="b"} 4
`

func TestHistogramQuantile(t *testing.T) {
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got := value(fams, "done_total"); got != 7 {
		t.Errorf("value(done_total) = %v, want 7", got)
	}
	if got := value(fams, "missing"); !math.IsNaN(got) {
		t.Errorf("value(missing) = %v, want NaN", got)
	}
	h, err := histogramOf(fams, "lat_seconds")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ q, want float64 }{{0.5, 0.1}, {0.7, 0.15}, {0.99, 0.38}} {
		if got := h.quantile(tt.q); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	empty := h.minus(h)
	if empty.total != 0 || !math.IsNaN(empty.quantile(0.5)) {
		t.Errorf("h - h = %+v, want empty", empty)
	}
}
