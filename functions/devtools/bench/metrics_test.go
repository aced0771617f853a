package main

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"

	"github.com/smartx-team/overcloud/functions/testbed/promscrape"
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
	if got := h.mean(); got != 0.12 {
		t.Errorf("mean = %v, want 0.12", got)
	}
	empty := h.minus(h)
	if empty.total != 0 || !math.IsNaN(empty.quantile(0.5)) || !math.IsNaN(empty.mean()) {
		t.Errorf("h - h = %+v, want empty", empty)
	}
}

func TestSenderNote(t *testing.T) {
	parse := func(text string) promscrape.Families {
		var p expfmt.TextParser
		fams, err := p.TextToMetricFamilies(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return fams
	}
	scrape := func(batches, messages int, seconds float64) promscrape.Families {
		return parse(fmt.Sprintf(`# TYPE sender_batch_size histogram
sender_batch_size_bucket{le="+Inf"} %[1]d
sender_batch_size_sum %[2]d
sender_batch_size_count %[1]d
# TYPE sender_write_seconds histogram
sender_write_seconds_bucket{le="+Inf"} %[1]d
sender_write_seconds_sum %[3]g
sender_write_seconds_count %[1]d
`, batches, messages, seconds))
	}
	for _, tc := range []struct {
		name          string
		before, after promscrape.Families
		want          string
	}{
		{"batches", scrape(10, 10000, 1), scrape(30, 90000, 3), "sender batches of 4000 messages, 100 ms per InfluxDB write"},
		{"none", scrape(10, 10000, 1), scrape(10, 10000, 1), "sender wrote no batch"},
		{"no metrics", parse(""), parse(""), "sender batches unknown"},
	} {
		if got := senderNote(tc.before, tc.after); got != tc.want {
			t.Errorf("%s: senderNote = %q, want %q", tc.name, got, tc.want)
		}
	}
}
