package main

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/smartx-team/overcloud/functions/testbed/promscrape"
)

// scrape reads one admin endpoint's /metrics.
func scrape(ctx context.Context, base string) (promscrape.Families, error) {
	return promscrape.Scrape(ctx, base)
}

// value sums a counter's or gauge's series (those with labels, when given); NaN while
// it has none.
func value(fams promscrape.Families, name string, labels ...string) float64 {
	v, ok := fams.Value(name, labels...)
	if !ok {
		return math.NaN()
	}
	return v
}

// histogram is a cumulative histogram's buckets (upper bound -> count), summed over series.
type histogram struct {
	bounds []float64
	counts []float64
	total  float64
	sum    float64 // of the observations
}

func histogramOf(fams promscrape.Families, name string) (histogram, error) {
	f, ok := fams[name]
	if !ok {
		return histogram{}, fmt.Errorf("no metric %s", name)
	}
	byBound := map[float64]float64{}
	var h histogram
	for _, m := range f.GetMetric() {
		if m.Histogram == nil {
			return histogram{}, fmt.Errorf("%s is not a histogram", name)
		}
		h.total += float64(m.Histogram.GetSampleCount())
		h.sum += m.Histogram.GetSampleSum()
		for _, b := range m.Histogram.GetBucket() {
			byBound[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	for b := range byBound {
		h.bounds = append(h.bounds, b)
	}
	sort.Float64s(h.bounds)
	for _, b := range h.bounds {
		h.counts = append(h.counts, byBound[b])
	}
	return h, nil
}

// minus is the histogram of what was observed between two scrapes.
func (h histogram) minus(before histogram) histogram {
	out := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts)), total: h.total - before.total, sum: h.sum - before.sum}
	for i, b := range h.bounds {
		out.counts[i] = h.counts[i]
		for j, bb := range before.bounds {
			if bb == b {
				out.counts[i] -= before.counts[j]
			}
		}
	}
	return out
}

// mean is the observations' mean; NaN without observations.
func (h histogram) mean() float64 {
	if h.total <= 0 {
		return math.NaN()
	}
	return h.sum / h.total
}

// quantile estimates the q-quantile by linear interpolation inside its bucket, as
// Prometheus' histogram_quantile does; NaN without observations.
func (h histogram) quantile(q float64) float64 {
	if h.total <= 0 {
		return math.NaN()
	}
	rank := q * h.total
	prevBound, prevCount := 0.0, 0.0
	for i, b := range h.bounds {
		if h.counts[i] >= rank {
			if math.IsInf(b, 1) {
				return prevBound
			}
			inBucket := h.counts[i] - prevCount
			if inBucket <= 0 {
				return b
			}
			return prevBound + (b-prevBound)*(rank-prevCount)/inBucket
		}
		prevBound, prevCount = b, h.counts[i]
	}
	return prevBound
}
