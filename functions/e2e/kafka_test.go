package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/testbed/localrun"
)

// kafkaRecords reads the whole readings topic, partition by partition, and counts the
// records of each reading id. Kafka is at-least-once: a retry after a lost answer, a
// relay restarted before it marked a chunk delivered, put a reading there twice, and
// InfluxDB's point identity makes that harmless. The count shows how many the faults
// cause.
func kafkaRecords(t *testing.T, addr string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 30 * time.Second}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{localrun.Topic}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil {
		t.Fatalf("metadata of %s: %v %v", localrun.Topic, err, md)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{localrun.Topic: reqs}})
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	count := map[string]int{}
	for _, po := range offs.Topics[localrun.Topic] {
		if po.Error != nil {
			t.Fatalf("offsets of partition %d: %v", po.Partition, po.Error)
		}
		if po.LastOffset == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: localrun.Topic, Partition: po.Partition, MaxWait: 200 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				_ = r.Close()
				t.Fatalf("partition %d: read: %v", po.Partition, err)
			}
			// What does not decode is a test's own bad input, which the sender
			// dead-letters; it is no reading to count.
			if rd, err := reading.Decode(m.Value); err == nil {
				count[rd.ID]++
			}
			if m.Offset >= po.LastOffset-1 {
				break
			}
		}
		_ = r.Close()
	}
	return count
}
