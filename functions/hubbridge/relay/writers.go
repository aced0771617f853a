package relay

import (
	"errors"
	"log/slog"

	"github.com/segmentio/kafka-go"
)

// sizedWriters are Kafka writers alike but for their batch size, smallest first; each
// write goes through the smallest whose batch holds it whole.
//
// Why: kafka-go allocates a batch of its full BatchSize for each partition a write
// touches, so one writer sized for the largest write (2,000 messages) allocated 1.8
// MB across 6 partitions for a write of 100 readings: a third of the hub's allocations
// at 10,000 devices, and the garbage collections they cost. A writer's settings may
// not change after its first use, hence several.
type sizedWriters struct {
	sizes   []int // ascending; the last is the largest write
	writers []*kafka.Writer
}

// smallestWriterBatch is the batch size of the smallest writer; each next one holds
// writerSizeStep times as many, up to the largest write.
const (
	smallestWriterBatch = 64
	writerSizeStep      = 4
)

// newSizedWriters returns the writers for writes of up to maxWrite messages.
func newSizedWriters(brokers []string, topic string, maxWrite int, log *slog.Logger) *sizedWriters {
	s := &sizedWriters{}
	for _, n := range writerSizes(maxWrite) {
		s.sizes = append(s.sizes, n)
		s.writers = append(s.writers, NewWriter(brokers, topic, n, log))
	}
	return s
}

// writerSizes are the batch sizes for writes of up to maxWrite messages:
// smallestWriterBatch, times writerSizeStep each, then maxWrite.
func writerSizes(maxWrite int) []int {
	var sizes []int
	for n := smallestWriterBatch; n < maxWrite; n *= writerSizeStep {
		sizes = append(sizes, n)
	}
	return append(sizes, maxWrite)
}

// For returns the writer for a write of n messages: the smallest that holds n in one
// batch per partition, or the largest (a write is never larger than that).
func (s *sizedWriters) For(n int) *kafka.Writer {
	for i, size := range s.sizes {
		if n <= size {
			return s.writers[i]
		}
	}
	return s.writers[len(s.writers)-1]
}

// Close closes every writer.
func (s *sizedWriters) Close() error {
	var errs []error
	for _, w := range s.writers {
		errs = append(errs, w.Close())
	}
	return errors.Join(errs...)
}
