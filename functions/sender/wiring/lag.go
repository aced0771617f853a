package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// lagTimeout bounds the three Kafka requests of one scrape.
const lagTimeout = 3 * time.Second

// lagCollector reports the consumer group's lag when /metrics is scraped: per
// partition, the topic's end offset minus the group's committed offset, and their sum.
// It is the first figure an operator looks at: a growing lag means the sender does
// not keep up (or is stuck behind InfluxDB). While Kafka cannot answer, the series
// are absent rather than wrong.
type lagCollector struct {
	admin        *kafka.Client
	topic, group string
	log          *slog.Logger
	partition    *prometheus.Desc
	total        *prometheus.Desc
}

var _ prometheus.Collector = (*lagCollector)(nil)

func newLagCollector(admin *kafka.Client, topic, group string, log *slog.Logger) *lagCollector {
	return &lagCollector{
		admin: admin, topic: topic, group: group, log: log,
		partition: prometheus.NewDesc("sender_consumer_lag",
			"Messages of the readings topic not yet committed by the consumer group, by partition.", []string{"partition"}, nil),
		total: prometheus.NewDesc("sender_consumer_lag_sum",
			"Messages of the readings topic not yet committed by the consumer group, all partitions.", nil, nil),
	}
}

// Describe sends the two descriptors.
func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.partition
	ch <- c.total
}

// Collect asks Kafka for the offsets and sends the lags.
func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	lags, err := c.lags(ctx)
	if err != nil {
		c.log.Debug("consumer lag unknown", "err", err)
		return
	}
	var sum int64
	for p, lag := range lags {
		ch <- prometheus.MustNewConstMetric(c.partition, prometheus.GaugeValue, float64(lag), strconv.Itoa(p))
		sum += lag
	}
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(sum))
}

// sum is the lag of all partitions, for the stats point.
func (c *lagCollector) sum(ctx context.Context) (int64, error) {
	lags, err := c.lags(ctx)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, lag := range lags {
		sum += lag
	}
	return sum, nil
}

// lags returns each partition's lag. A partition the group never committed lags by
// all it holds, since the sender starts at the first offset.
func (c *lagCollector) lags(ctx context.Context) (map[int]int64, error) {
	md, err := c.admin.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{c.topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	var ids []int
	for _, t := range md.Topics {
		if t.Name != c.topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", c.topic, t.Error)
		}
		for _, p := range t.Partitions {
			ids = append(ids, p.ID)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("topic %s has no partitions", c.topic)
	}
	reqs := make([]kafka.OffsetRequest, 0, 2*len(ids))
	for _, id := range ids {
		reqs = append(reqs, kafka.FirstOffsetOf(id), kafka.LastOffsetOf(id))
	}
	offsets, err := c.admin.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{c.topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	committed, err := c.admin.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: c.group, Topics: map[string][]int{c.topic: ids}})
	if err != nil {
		return nil, fmt.Errorf("committed offsets: %w", err)
	}
	// A group that never committed may be unknown to the broker: it lags by all.
	if committed.Error != nil && !errors.Is(committed.Error, kafka.GroupIdNotFound) {
		return nil, fmt.Errorf("committed offsets: %w", committed.Error)
	}
	done := map[int]int64{}
	for _, p := range committed.Topics[c.topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("committed offset of partition %d: %w", p.Partition, p.Error)
		}
		done[p.Partition] = p.CommittedOffset
	}
	lags := make(map[int]int64, len(ids))
	for _, p := range offsets.Topics[c.topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("offsets of partition %d: %w", p.Partition, p.Error)
		}
		from, ok := done[p.Partition]
		if !ok || from < p.FirstOffset {
			from = p.FirstOffset
		}
		lags[p.Partition] = max(p.LastOffset-from, 0)
	}
	return lags, nil
}
