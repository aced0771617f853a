package stats

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
)

var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// fields are a point's fields by name.
func fields(p *write.Point) map[string]any {
	out := map[string]any{}
	for _, f := range p.FieldList() {
		out[f.Key] = f.Value
	}
	return out
}

func TestPoint(t *testing.T) {
	prev := Totals{Consumed: 100, Written: 90, DeadLetters: 10, WriteErrors: 1, OriginToStoredSeconds: 90}
	tests := []struct {
		name  string
		cur   Totals
		secs  int
		lag   int64
		lagOK bool
		want  map[string]any
	}{
		{
			name: "busy", cur: Totals{Consumed: 160, Written: 140, DeadLetters: 20, WriteErrors: 3, OriginToStoredSeconds: 115},
			secs: 10, lag: 7, lagOK: true,
			want: map[string]any{FieldConsumed: int64(60), FieldWritten: int64(50), FieldDeadLetters: int64(10), FieldWriteErrors: int64(2),
				FieldWrittenPerSecond: 5.0, FieldLatency: 0.5, FieldConsumerLag: int64(7)},
		},
		{
			// Nothing written: no latency to average, but the counts and the rate are
			// there (a flat zero is a figure); Kafka did not answer: no lag.
			name: "idle, Kafka down", cur: prev, secs: 15,
			want: map[string]any{FieldConsumed: int64(0), FieldWritten: int64(0), FieldDeadLetters: int64(0), FieldWriteErrors: int64(0),
				FieldWrittenPerSecond: 0.0},
		},
		{
			name: "no time passed", cur: Totals{Consumed: 101, Written: 91, DeadLetters: 10, WriteErrors: 1, OriginToStoredSeconds: 92},
			lag: 0, lagOK: true,
			want: map[string]any{FieldConsumed: int64(1), FieldWritten: int64(1), FieldDeadLetters: int64(0), FieldWriteErrors: int64(0),
				FieldWrittenPerSecond: 0.0, FieldLatency: 2.0, FieldConsumerLag: int64(0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(time.Duration(tt.secs) * time.Second)
			p := Point("pod-1", prev, tt.cur, t0, now, tt.lag, tt.lagOK)
			if p.Name() != Measurement || !p.Time().Equal(now) {
				t.Errorf("point %s at %v, want %s at %v", p.Name(), p.Time(), Measurement, now)
			}
			if tags := p.TagList(); len(tags) != 1 || tags[0].Key != TagInstance || tags[0].Value != "pod-1" {
				t.Errorf("tags %v, want only instance=pod-1", tags)
			}
			if got := fields(p); !maps.Equal(got, tt.want) {
				t.Errorf("fields\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// fakeWriter records points and fails while failing is set.
type fakeWriter struct {
	mu      sync.Mutex
	failing bool
	points  []*write.Point
}

func (w *fakeWriter) WritePoints(_ context.Context, pts ...*write.Point) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failing {
		return errors.New("influxdb down")
	}
	w.points = append(w.points, pts...)
	return nil
}

func (w *fakeWriter) got() []*write.Point {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*write.Point(nil), w.points...)
}

// A point that cannot be written is made up for by the next: its counts start where
// the last stored point ended, so the sum over the stored points is exact.
func TestReportAfterAFailedWrite(t *testing.T) {
	var tot Totals
	now := t0
	w := &fakeWriter{}
	r, err := New(Options{
		Interval: 10 * time.Second, Instance: "pod-1", Writer: w,
		Totals: func() Totals { return tot },
		Lag:    func(context.Context) (int64, error) { return 3, nil },
		Now:    func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tot.Written, tot.Consumed, now = 20, 20, now.Add(10*time.Second)
	if err := r.Report(ctx); err != nil {
		t.Fatal(err)
	}
	w.failing = true
	tot.Written, tot.Consumed, now = 50, 50, now.Add(10*time.Second)
	if err := r.Report(ctx); err == nil {
		t.Fatal("Report with InfluxDB down = nil")
	}
	w.failing = false
	tot.Written, tot.Consumed, now = 60, 60, now.Add(10*time.Second)
	if err := r.Report(ctx); err != nil {
		t.Fatal(err)
	}
	pts := w.got()
	if len(pts) != 2 {
		t.Fatalf("%d points stored, want 2", len(pts))
	}
	f := fields(pts[1])
	if f[FieldWritten] != int64(40) || f[FieldConsumed] != int64(40) || f[FieldWrittenPerSecond] != 2.0 || f[FieldConsumerLag] != int64(3) {
		t.Errorf("point after the failure: %v; want 40 written over 20 s", f)
	}
	if !pts[1].Time().Equal(t0.Add(30 * time.Second)) {
		t.Errorf("point at %v", pts[1].Time())
	}
}

// Run writes a point per interval and, when stopped, a last one with what was counted
// since the previous, though its context has ended.
func TestRunWritesAtIntervalsAndAtStop(t *testing.T) {
	var mu sync.Mutex
	var tot Totals
	w := &fakeWriter{}
	r, err := New(Options{
		Interval: 20 * time.Millisecond, Writer: w,
		Totals: func() Totals { mu.Lock(); defer mu.Unlock(); return tot },
		Lag:    func(context.Context) (int64, error) { return 0, errors.New("kafka down") },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(w.got()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d points in 10 s at a 20 ms interval", len(w.got()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	tot.Written = 7
	mu.Unlock()
	cancel()
	<-done
	var written int64
	for _, p := range w.got() {
		f := fields(p)
		written += f[FieldWritten].(int64)
		if _, ok := f[FieldConsumerLag]; ok {
			t.Errorf("consumer_lag %v while Kafka does not answer", f[FieldConsumerLag])
		}
		if tags := p.TagList(); len(tags) != 1 || tags[0].Value != "sender" {
			t.Errorf("tags %v, want the default instance", tags)
		}
	}
	if written != 7 {
		t.Errorf("the points count %d written, want 7 (the last point at stop missing?)", written)
	}
}

func TestNewRequires(t *testing.T) {
	ok := Options{Interval: time.Second, Totals: func() Totals { return Totals{} }, Writer: &fakeWriter{}}
	for name, change := range map[string]func(*Options){
		"interval": func(o *Options) { o.Interval = 0 },
		"totals":   func(o *Options) { o.Totals = nil },
		"writer":   func(o *Options) { o.Writer = nil },
	} {
		o := ok
		change(&o)
		if _, err := New(o); err == nil {
			t.Errorf("New without %s = nil error", name)
		}
	}
	if _, err := New(ok); err != nil {
		t.Error(err)
	}
}
