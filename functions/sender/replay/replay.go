// Package replay puts dead letters back on the readings topic once what made them
// fail is fixed (a sender upgraded to a new contract version, an InfluxDB field type
// corrected, a device's firmware repaired). It is the `sender replay` command.
//
// It reads the dead-letter topic up to the end it has when it starts, so a dead letter
// that fails again and comes back while it runs is not replayed in a loop. It selects
// by reason, device (the message key) and the time a message was dead-lettered (its
// Kafka timestamp), and either lists what it selected (DryRun) or publishes each
// message's original key, value and headers to the readings topic, keyed as the hub
// keys them, with a header naming where it came from.
//
// Replaying is idempotent where it matters: a reading's InfluxDB point is identified by
// the reading itself (device, location and origin time), so a reading replayed twice,
// or one that was in fact stored before, overwrites its own point and is stored once.
// Nothing is deleted from the dead-letter topic: its retention does that.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/smartx-team/overcloud/functions/sender/consume"
)

// HeaderReplayedFrom is added to every replayed message: "topic/partition/offset" of
// the dead letter it came from.
const HeaderReplayedFrom = "replayed-from"

// Options select and direct a replay. Brokers, DeadLetterTopic and Topic are required.
type Options struct {
	Brokers         []string
	DeadLetterTopic string
	// Topic receives the replayed messages (the readings topic).
	Topic string
	// Reasons selects dead letters by their reason header (empty: every reason).
	Reasons []string
	// Devices selects by message key, the device (empty: every device).
	Devices []string
	// Since and Until select by the time a message was dead-lettered: Since <= t <
	// Until (zero: open).
	Since, Until time.Time
	// DryRun lists the selected dead letters to Out and publishes nothing.
	DryRun bool
	// Out receives the listing (DryRun) and one line per 1,000 messages replayed
	// (default: discard).
	Out io.Writer
	// Logger (default: discard).
	Logger *slog.Logger
}

// Result counts what a replay read, selected and published.
type Result struct {
	Read, Selected, Published int
	// ByReason counts the selected dead letters by reason.
	ByReason map[string]int
}

// Run reads the dead-letter topic up to its end at the start and replays (or lists)
// the selected messages. A failure after some were published leaves them published;
// running it again publishes them again, which the point identity makes harmless.
func Run(ctx context.Context, o Options) (Result, error) {
	res := Result{ByReason: map[string]int{}}
	if len(o.Brokers) == 0 || o.DeadLetterTopic == "" || o.Topic == "" {
		return res, errors.New("replay: Brokers, DeadLetterTopic and Topic are required")
	}
	if o.DeadLetterTopic == o.Topic {
		return res, errors.New("replay: the dead-letter topic and the target topic must differ")
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	client := &kafka.Client{Addr: kafka.TCP(o.Brokers...), Timeout: 30 * time.Second}
	ends, err := endOffsets(ctx, client, o.DeadLetterTopic)
	if err != nil {
		return res, err
	}
	var w *kafka.Writer
	if !o.DryRun {
		// As the hub's relay writes: keyed by device, so a device stays on its partition,
		// and acknowledged by every replica.
		w = &kafka.Writer{
			Addr: kafka.TCP(o.Brokers...), Topic: o.Topic, Balancer: &kafka.Hash{},
			RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, MaxAttempts: 10,
		}
		defer w.Close()
	}
	for _, po := range ends {
		if err := replayPartition(ctx, o, w, po, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// endOffsets returns the first and the end offset of each partition of topic.
func endOffsets(ctx context.Context, client *kafka.Client, topic string) ([]kafka.PartitionOffsets, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("replay: metadata of %s: %w", topic, err)
	}
	var reqs []kafka.OffsetRequest
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("replay: topic %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("replay: topic %s has no partitions", topic)
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("replay: offsets of %s: %w", topic, err)
	}
	out := resp.Topics[topic]
	for _, p := range out {
		if p.Error != nil {
			return nil, fmt.Errorf("replay: offsets of %s partition %d: %w", topic, p.Partition, p.Error)
		}
	}
	slices.SortFunc(out, func(a, b kafka.PartitionOffsets) int { return a.Partition - b.Partition })
	return out, nil
}

// replayPartition reads one partition from its first to its end offset.
func replayPartition(ctx context.Context, o Options, w *kafka.Writer, po kafka.PartitionOffsets, res *Result) error {
	if po.LastOffset <= po.FirstOffset {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: o.Brokers, Topic: o.DeadLetterTopic, Partition: po.Partition,
		MaxWait: 500 * time.Millisecond, MaxBytes: 8 << 20,
	})
	defer r.Close()
	if err := r.SetOffset(po.FirstOffset); err != nil {
		return fmt.Errorf("replay: partition %d: %w", po.Partition, err)
	}
	var batch []kafka.Message
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := w.WriteMessages(ctx, batch...); err != nil {
			return fmt.Errorf("replay: publish to %s: %w", o.Topic, err)
		}
		before := res.Published / 1000
		res.Published += len(batch)
		if res.Published/1000 > before {
			fmt.Fprintf(o.Out, "replayed %d so far\n", res.Published)
		}
		batch = batch[:0]
		return nil
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("replay: read %s partition %d: %w", o.DeadLetterTopic, po.Partition, err)
		}
		res.Read++
		if o.selects(m) {
			reason := consume.Header(m, consume.HeaderReason)
			res.Selected++
			res.ByReason[reason]++
			if o.DryRun {
				fmt.Fprintf(o.Out, "%s/%d/%d\t%s\t%s\t%s\t%s\n", o.DeadLetterTopic, m.Partition, m.Offset,
					m.Time.UTC().Format(time.RFC3339), m.Key, reason, consume.Header(m, consume.HeaderError))
			} else {
				batch = append(batch, republished(m))
				if len(batch) == 500 {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
		if m.Offset >= po.LastOffset-1 {
			break
		}
	}
	if o.DryRun {
		return nil
	}
	return flush()
}

// selects reports whether the dead letter m is one to replay.
func (o Options) selects(m kafka.Message) bool {
	if len(o.Reasons) > 0 && !slices.Contains(o.Reasons, consume.Header(m, consume.HeaderReason)) {
		return false
	}
	if len(o.Devices) > 0 && !slices.Contains(o.Devices, string(m.Key)) {
		return false
	}
	if !o.Since.IsZero() && m.Time.Before(o.Since) {
		return false
	}
	if !o.Until.IsZero() && !m.Time.Before(o.Until) {
		return false
	}
	return true
}

// deadLetterHeaders are what the sender added when it dead-lettered a message.
var deadLetterHeaders = []string{
	consume.HeaderReason, consume.HeaderError, consume.HeaderTopic, consume.HeaderPartition, consume.HeaderOffset,
}

// republished is m as it goes back: its original key, value and headers, without the
// dead-letter headers, plus where it came from.
func republished(m kafka.Message) kafka.Message {
	h := make([]kafka.Header, 0, len(m.Headers)+1)
	for _, x := range m.Headers {
		if !slices.Contains(deadLetterHeaders, x.Key) && x.Key != HeaderReplayedFrom {
			h = append(h, x)
		}
	}
	h = append(h, kafka.Header{Key: HeaderReplayedFrom, Value: []byte(m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10))})
	return kafka.Message{Key: m.Key, Value: m.Value, Headers: h}
}
