// Package pipeline watches the data path's health from the functions' own /metrics
// (Prometheus text format): the hub's backlog, the sender's consumer lag, write rate
// and dead letters, and the last error any of them counted. A Watcher scrapes every
// target each interval and keeps the newest figures for the dashboard.
package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Target is one function's metrics endpoint.
type Target struct {
	// Name is what the dashboard calls it ("hub", "sender", ...).
	Name string
	// URL is its /metrics.
	URL string
}

// Sample is one scrape's values: series name{labels} -> value, for counters, gauges
// and untyped metrics.
type Sample map[string]float64

// maxMetrics bounds one scrape's body.
const maxMetrics = 8 << 20

// Parse reads the Prometheus text format. Series are keyed name{l1="v1",...} with the
// labels sorted; histograms and summaries are left out.
func Parse(r io.Reader) (Sample, error) {
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(io.LimitReader(r, maxMetrics))
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s := Sample{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var v float64
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				v = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				v = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				v = m.GetUntyped().GetValue()
			default:
				continue
			}
			s[key(name, m.GetLabel())] = v
		}
	}
	return s, nil
}

func key(name string, labels []*dto.LabelPair) string {
	if len(labels) == 0 {
		return name
	}
	parts := make([]string, len(labels))
	for i, l := range labels {
		parts[i] = fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// Sum adds every series of metric name.
func (s Sample) Sum(name string) (float64, bool) {
	var sum float64
	found := false
	for k, v := range s {
		if k == name || strings.HasPrefix(k, name+"{") {
			sum += v
			found = true
		}
	}
	return sum, found
}

// isError says whether a series counts failures, whose increase is an error to show.
func isError(series string) bool {
	name, _, _ := strings.Cut(series, "{")
	return strings.HasSuffix(name, "_errors_total") || name == "sender_dead_lettered_total" || name == "hub_rejected_total"
}

// Event is something that went wrong, and when it was seen.
type Event struct {
	At   time.Time
	What string
}

// TargetState is how a target's last scrape went.
type TargetState struct {
	Name      string
	Up        bool
	Err       string
	ScrapedAt time.Time
}

// Health is the newest figures of the path. A nil figure is unknown: its function was
// not scraped yet, is down, or does not export it.
type Health struct {
	Targets     []TargetState
	HubBacklog  *float64
	HubReceived *float64
	HubRejected *float64
	ConsumerLag *float64
	// WriteRate is the sender's readings written per second between the last two
	// scrapes.
	WriteRate   *float64
	DeadLetters *float64
	LastError   *Event
}

// Watcher scrapes its targets. It is safe for concurrent use.
type Watcher struct {
	targets []Target
	every   time.Duration
	client  *http.Client
	log     *slog.Logger
	now     func() time.Time

	mu     sync.Mutex
	last   map[string]Sample
	prev   map[string]Sample
	states map[string]TargetState
	// rateAt are the times of last and prev per target.
	lastAt, prevAt map[string]time.Time
	lastErr        *Event
}

// New returns a watcher of targets, scraping each every interval.
func New(targets []Target, every time.Duration, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{
		targets: targets, every: every, client: &http.Client{Timeout: max(every, time.Second)}, log: log, now: time.Now,
		last: map[string]Sample{}, prev: map[string]Sample{}, states: map[string]TargetState{},
		lastAt: map[string]time.Time{}, prevAt: map[string]time.Time{},
	}
}

// Run scrapes at once and then every interval until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		w.ScrapeAll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ScrapeAll scrapes every target once.
func (w *Watcher) ScrapeAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range w.targets {
		wg.Go(func() { w.scrape(ctx, t) })
	}
	wg.Wait()
}

func (w *Watcher) scrape(ctx context.Context, t Target) {
	s, err := w.fetch(ctx, t.URL)
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	st := TargetState{Name: t.Name, ScrapedAt: now, Up: err == nil}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		st.Err = err.Error()
		if w.states[t.Name].Up || w.states[t.Name].ScrapedAt.IsZero() {
			w.log.Warn("metrics scrape failed", "target", t.Name, "err", err)
		}
		w.lastErr = &Event{At: now, What: t.Name + " /metrics: " + err.Error()}
		w.states[t.Name] = st
		return
	}
	w.states[t.Name] = st
	old := w.last[t.Name]
	for series, v := range s {
		if was, ok := old[series]; ok && isError(series) && v > was {
			w.lastErr = &Event{At: now, What: fmt.Sprintf("%s: %s +%g", t.Name, series, v-was)}
		}
	}
	if old != nil {
		w.prev[t.Name], w.prevAt[t.Name] = old, w.lastAt[t.Name]
	}
	w.last[t.Name], w.lastAt[t.Name] = s, now
}

func (w *Watcher) fetch(ctx context.Context, url string) (Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return Parse(resp.Body)
}

// Health returns the newest figures.
func (w *Watcher) Health() Health {
	w.mu.Lock()
	defer w.mu.Unlock()
	var h Health
	for _, t := range w.targets {
		st, ok := w.states[t.Name]
		if !ok {
			st = TargetState{Name: t.Name, Err: "not scraped yet"}
		}
		h.Targets = append(h.Targets, st)
	}
	fig := func(target, name string) *float64 {
		if !w.states[target].Up {
			return nil
		}
		if v, ok := w.last[target].Sum(name); ok {
			return &v
		}
		return nil
	}
	h.HubBacklog = fig("hub", "hub_backlog")
	h.HubReceived = fig("hub", "hub_received_total")
	h.HubRejected = fig("hub", "hub_rejected_total")
	h.ConsumerLag = fig("sender", "sender_consumer_lag_sum")
	h.DeadLetters = fig("sender", "sender_dead_lettered_total")
	if w.states["sender"].Up && w.prev["sender"] != nil {
		now, was := w.last["sender"], w.prev["sender"]
		a, okA := now.Sum("sender_written_total")
		b, okB := was.Sum("sender_written_total")
		if dt := w.lastAt["sender"].Sub(w.prevAt["sender"]).Seconds(); okA && okB && dt > 0 && a >= b {
			r := (a - b) / dt
			h.WriteRate = &r
		}
	}
	if w.lastErr != nil {
		e := *w.lastErr
		h.LastError = &e
	}
	return h
}
