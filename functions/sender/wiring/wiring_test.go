package wiring

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartx-team/overcloud/functions/sender/internal/sendertest"
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
