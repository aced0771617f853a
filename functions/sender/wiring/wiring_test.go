package wiring

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartx-team/overcloud/functions/sender/internal/sendertest"
	"github.com/smartx-team/overcloud/functions/sender/stats"
	"github.com/smartx-team/overcloud/functions/testbed/promscrape"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

const base = int64(1_763_700_000_000_000_000)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// BenchmarkSender measures the sender alone, in-process against the real servers:
// b.N readings are put on Kafka first; the time from the sender joining its group to
// its last commit gives readings/s. Each round starts fresh servers, so give a count:
//
//	go test -run '^$' -bench Sender -benchtime 200000x ./functions/sender/wiring/
func BenchmarkSender(b *testing.B) {
	srv := sendertest.StartServers(b, 6)
	rs := sendertest.Readings(b.N, 100, base)
	sendertest.Produce(b, srv.Kafka.Addr, sendertest.Topic, sendertest.Messages(b, rs)...)
	cfg := Defaults()
	cfg.KafkaBrokers, cfg.InfluxURL, cfg.InfluxToken = srv.Kafka.Addr, srv.Influx.URL, srv.Influx.Token
	cfg.InfluxOrg, cfg.InfluxBucket, cfg.WeatherProvider = srv.Influx.Org, srv.Influx.Bucket, ProviderNone

	s, err := New(cfg, discard(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	// Joining the group takes a few seconds that are no part of the throughput.
	sendertest.WaitFor(b, "the sender to be ready", func() (bool, string) {
		err := s.Ready(ctx)
		return err == nil, fmt.Sprint(err)
	})
	b.ResetTimer()
	start := time.Now()
	sendertest.WaitFor(b, "every reading committed", func() (bool, string) {
		n := sendertest.Committed(b, srv.Kafka.Addr, cfg.KafkaGroup, cfg.KafkaTopic, 6)
		return n == int64(len(rs)), fmt.Sprint(n, " committed")
	})
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(rs))/elapsed.Seconds(), "readings/s")
}

// The consumer lag, per partition and in all, is what is on the topic and not yet
// committed: everything before the sender runs, nothing once it has caught up.
func TestConsumerLag(t *testing.T) {
	t.Parallel()
	srv := sendertest.StartServers(t, 3)
	rs := sendertest.Readings(600, 12, base)
	sendertest.Produce(t, srv.Kafka.Addr, sendertest.Topic, sendertest.Messages(t, rs)...)
	cfg := Defaults()
	cfg.KafkaBrokers, cfg.InfluxURL, cfg.InfluxToken = srv.Kafka.Addr, srv.Influx.URL, srv.Influx.Token
	cfg.InfluxOrg, cfg.InfluxBucket, cfg.WeatherProvider = srv.Influx.Org, srv.Influx.Bucket, ProviderNone
	reg := prometheus.NewRegistry()
	s, err := New(cfg, discard(), reg)
	if err != nil {
		t.Fatal(err)
	}
	lag := func() (sum float64, partitions []float64) {
		fams, err := promscrape.Gather(reg)
		if err != nil {
			t.Fatal(err)
		}
		sum, _ = fams.Value("sender_consumer_lag_sum")
		for p := range 3 {
			v, ok := fams.Value("sender_consumer_lag", "partition", strconv.Itoa(p))
			if !ok {
				t.Fatalf("no sender_consumer_lag for partition %d", p)
			}
			partitions = append(partitions, v)
		}
		return sum, partitions
	}
	sum, parts := lag()
	if sum != float64(len(rs)) || parts[0]+parts[1]+parts[2] != sum || parts[0] == 0 {
		t.Errorf("lag before the sender runs: %v in all, %v by partition; want %d spread over the partitions", sum, parts, len(rs))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	servertest.WaitFor(t, "no lag", func() bool { sum, _ := lag(); return sum == 0 })
}

// statsPoint is one smartx_pipeline point read back.
type statsPoint struct {
	at       time.Time
	instance string
	fields   map[string]any
}

// storedStats reads back the stats points, oldest first.
func storedStats(t *testing.T, srv sendertest.Servers) []statsPoint {
	t.Helper()
	client := influxdb2.NewClient(srv.Influx.URL, srv.Influx.Token)
	defer client.Close()
	res, err := client.QueryAPI(srv.Influx.Org).Query(context.Background(), fmt.Sprintf(`from(bucket: %q)
  |> range(start: 2000-01-01T00:00:00Z)
  |> filter(fn: (r) => r._measurement == %q)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> sort(columns: ["_time"])`, srv.Influx.Bucket, stats.Measurement))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	var out []statsPoint
	for res.Next() {
		rec := res.Record()
		p := statsPoint{at: rec.Time(), fields: map[string]any{}}
		p.instance, _ = rec.ValueByKey(stats.TagInstance).(string)
		for k, v := range rec.Values() {
			if !strings.HasPrefix(k, "_") && k != "result" && k != "table" && k != stats.TagInstance && v != nil {
				p.fields[k] = v
			}
		}
		out = append(out, p)
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sum adds up an integer field over the points.
func sum(pts []statsPoint, field string) int64 {
	var n int64
	for _, p := range pts {
		v, _ := p.fields[field].(int64)
		n += v
	}
	return n
}

// The sender writes its stats to the readings' bucket, where Grafana reads them: the
// points add up to what it consumed and wrote, the lag falls to zero once it has
// caught up, and the readings' points are untouched by them.
func TestStatsPoints(t *testing.T) {
	t.Parallel()
	srv := sendertest.StartServers(t, 3)
	rs := sendertest.Readings(900, 9, base)
	sendertest.Produce(t, srv.Kafka.Addr, sendertest.Topic, sendertest.Messages(t, rs)...)
	cfg := Defaults()
	cfg.KafkaBrokers, cfg.InfluxURL, cfg.InfluxToken = srv.Kafka.Addr, srv.Influx.URL, srv.Influx.Token
	cfg.InfluxOrg, cfg.InfluxBucket, cfg.WeatherProvider = srv.Influx.Org, srv.Influx.Bucket, ProviderNone
	cfg.StatsInterval = time.Second
	s, err := New(cfg, discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	n := int64(len(rs))
	sendertest.WaitFor(t, "stats points counting every reading, with no lag left", func() (bool, string) {
		pts := storedStats(t, srv)
		if len(pts) == 0 {
			return false, "no point"
		}
		last := pts[len(pts)-1].fields
		return sum(pts, stats.FieldWritten) == n && last[stats.FieldConsumerLag] == int64(0),
			fmt.Sprintf("%d points, %d written, last %v", len(pts), sum(pts, stats.FieldWritten), last)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	pts := storedStats(t, srv)
	host, _ := os.Hostname()
	var latencies int
	for _, p := range pts {
		if p.instance != host {
			t.Errorf("point at %v: instance %q, want the host name %q", p.at, p.instance, host)
		}
		if _, ok := p.fields[stats.FieldLatency]; ok {
			latencies++
		}
		if rate, ok := p.fields[stats.FieldWrittenPerSecond].(float64); !ok || rate < 0 {
			t.Errorf("point at %v: written_per_s %v", p.at, p.fields[stats.FieldWrittenPerSecond])
		}
	}
	if got := sum(pts, stats.FieldConsumed); got != n {
		t.Errorf("the points count %d consumed, want %d", got, n)
	}
	if got := sum(pts, stats.FieldWritten); got != n {
		t.Errorf("after the stop the points count %d written, want %d", got, n)
	}
	if sum(pts, stats.FieldDeadLetters) != 0 || sum(pts, stats.FieldWriteErrors) != 0 {
		t.Errorf("dead letters or write errors counted: %v", pts)
	}
	if latencies == 0 {
		t.Error("no point has a latency_s")
	}
	sendertest.CheckStored(t, srv.Influx, rs, cfg.Location)
	t.Logf("%d stats points, %d with a latency", len(pts), latencies)
}

// With SENDER_STATS_INTERVAL=0 the sender writes no stats point.
func TestStatsOff(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.WeatherProvider, cfg.StatsInterval = ProviderNone, 0
	s, err := New(cfg, discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.stats != nil {
		t.Error("a stats reporter with the interval 0")
	}
}
