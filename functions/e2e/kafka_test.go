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
	count := map[string]int{}
	kafkaReadings(t, addr, func(r reading.Reading) { count[r.ID]++ })
	return count
}

// kafkaReadings calls each with every record of the readings topic that decodes as a
// reading, partition by partition, from the first offset to the last.
func kafkaReadings(t *testing.T, addr string, each func(reading.Reading)) {
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
				each(rd)
			}
			if m.Offset >= po.LastOffset-1 {
				break
			}
		}
		_ = r.Close()
	}
}

// piReading is a Pi's reading by the numbers its queue gives out: the device and its
// sequence number.
type piReading struct {
	device string
	seq    uint64
}

// checkPisInKafka finds, after the faults, every reading the Pis' queues say the hub
// acknowledged (acked, see ackedSeqs) among Kafka's records, and logs the duplicates
// there as a figure: records beyond the first of a reading id. Their reading ids are
// gone from the queues with the readings, so a record is matched by device and
// sequence number, and counted by its id.
func checkPisInKafka(t *testing.T, addr string, acked map[string]map[uint64]bool) {
	t.Helper()
	perID := map[string]int{}
	ids := map[piReading]string{}
	renamed := 0 // records of a Pi's reading under another id than its first record's
	kafkaReadings(t, addr, func(r reading.Reading) {
		perID[r.ID]++
		k := piReading{r.Device, r.Seq}
		if id, ok := ids[k]; ok && id != r.ID {
			renamed++
		}
		ids[k] = r.ID
	})
	want, missing := 0, 0
	for device, seqs := range acked {
		for seq := range seqs {
			want++
			if _, ok := ids[piReading{device, seq}]; !ok {
				missing++
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged readings are not in Kafka", missing, want)
	}
	records := 0
	for _, n := range perID {
		records += n
	}
	t.Logf("Kafka: %d of %d acknowledged readings there; %d records of %d reading ids, %d duplicates (overwritten by point identity in InfluxDB)",
		want-missing, want, records, len(perID), records-len(perID))
	if renamed > 0 {
		t.Logf("Kafka: %d records carry a Pi's reading (device and seq) under a second id", renamed)
	}
}
