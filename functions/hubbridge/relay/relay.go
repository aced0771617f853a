// Package relay moves stored readings from the outbox to Kafka, oldest first: it
// writes a batch with acks from all in-sync replicas, keyed by device (so a device
// always lands on one partition, in order), and only then tells the outbox they are
// delivered. While Kafka fails it keeps the batch, backs off and retries the same
// oldest batch, so nothing is skipped or reordered when Kafka returns.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/smartx-team/overcloud/functions/hubbridge/outbox"
)

// Source is the outbox as the relay uses it; *outbox.Outbox implements it.
type Source interface {
	// Pending returns the oldest undelivered chunks, up to max readings (at least one).
	Pending(ctx context.Context, max int) ([]outbox.Chunk, error)
	// Delivered records that every chunk up to order is in Kafka.
	Delivered(ctx context.Context, order int64) error
	// Purge drops delivered data past its retention.
	Purge(ctx context.Context) (int, error)
	// Notify is signalled when something new is stored.
	Notify() <-chan struct{}
}

// Options configure a Relay; Source, Brokers and Topic are required.
type Options struct {
	Source  Source
	Brokers []string
	Topic   string
	// Batch is the most readings per Kafka write (default 1000), except that an
	// outbox chunk larger than Batch goes in one write.
	Batch int
	// MaxChunk is the most readings an outbox chunk holds (outbox.Options.MaxBatch,
	// default 2000); with Batch it sizes the writer's batches.
	MaxChunk int
	// Poll is how often the outbox is looked at without a notification (default 200 ms).
	Poll time.Duration
	// MaxBackoff caps the wait between retries while Kafka fails (default 5 s).
	MaxBackoff time.Duration
	// WriteTimeout bounds one Kafka write (default 30 s).
	WriteTimeout time.Duration
	// ShutdownGrace is how long a write in flight may go on after Run's context ends,
	// so the current batch is finished rather than sent twice (default 5 s).
	ShutdownGrace time.Duration
	// PurgeEvery is how often delivered data past its retention is dropped (default 10 s).
	PurgeEvery time.Duration
	// Registerer receives the relay metrics (default: none).
	Registerer prometheus.Registerer
	// Logger (default: discard).
	Logger *slog.Logger
}

// Relay copies the outbox to Kafka. Run it once; it closes its Kafka writers on return.
type Relay struct {
	opts Options
	src  Source
	w    *sizedWriters
	log  *slog.Logger

	relayed prometheus.Counter
	latency prometheus.Histogram
	errs    prometheus.Counter

	// acked holds the messages of the batch being retried that Kafka did take when
	// the write as a whole failed (some partitions took theirs): the retry skips them
	// rather than writing them twice. A device is on one partition, so this keeps its
	// order.
	acked map[msgKey]struct{}
	// msgs and keys are send's, kept between sends: the messages of one write and
	// where each came from.
	msgs []kafka.Message
	keys []msgKey
}

// msgKey names a reading in the outbox: its chunk and its place in the chunk.
type msgKey struct {
	order int64
	index int
}

// New returns a Relay; it does not connect until Run (Kafka may be down at start).
func New(o Options) (*Relay, error) {
	if o.Source == nil || len(o.Brokers) == 0 || o.Topic == "" {
		return nil, errors.New("relay: Source, Brokers and Topic are required")
	}
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.MaxChunk <= 0 {
		o.MaxChunk = 2000
	}
	if o.Poll <= 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = 5 * time.Second
	}
	if o.PurgeEvery <= 0 {
		o.PurgeEvery = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Relay{
		opts:  o,
		src:   o.Source,
		log:   o.Logger,
		w:     newSizedWriters(o.Brokers, o.Topic, max(o.Batch, o.MaxChunk), o.Logger),
		acked: map[msgKey]struct{}{},
		relayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hub_relayed_total",
			Help: "Readings written to Kafka and acknowledged by all in-sync replicas.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hub_relay_latency_seconds",
			Help:    "Time from a reading stored in the outbox to its Kafka acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14), // 1 ms .. ~2 h
		}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hub_relay_errors_total",
			Help: "Failed relay attempts (Kafka write or outbox read); the batch is retried.",
		}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{r.relayed, r.latency, r.errs} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("relay: register metrics: %w", err)
			}
		}
	}
	return r, nil
}

// NewWriter returns a Kafka writer as the relay uses them: acks from all in-sync
// replicas, partition by a hash of the key (the device), and a short linger since
// every write is a whole batch already. A write of at most batch messages sends those
// of one partition as one request (up to kafka-go's 1 MiB per batch), succeeding or
// failing together, which keeps each device's order on a retry. (kafka-go allocates
// the batch size up front for each partition a write touches: see sizedWriters.)
func NewWriter(brokers []string, topic string, batch int, log *slog.Logger) *kafka.Writer {
	return &kafka.Writer{
		Addr:            kafka.TCP(brokers...),
		Topic:           topic,
		Balancer:        &kafka.Hash{},
		RequiredAcks:    kafka.RequireAll,
		BatchSize:       batch,
		BatchTimeout:    time.Millisecond,
		MaxAttempts:     3,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: time.Second,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Debug("kafka writer", "msg", fmt.Sprintf(msg, args...))
		}),
	}
}

// Run relays until ctx ends, then finishes the write in flight (up to ShutdownGrace)
// and returns nil.
func (r *Relay) Run(ctx context.Context) error {
	defer func() {
		if err := r.w.Close(); err != nil {
			r.log.Warn("close kafka writers", "err", err)
		}
	}()
	poll := time.NewTicker(r.opts.Poll)
	defer poll.Stop()
	var backoff time.Duration
	failing := false
	lastPurge := time.Now()
	for ctx.Err() == nil {
		if time.Since(lastPurge) >= r.opts.PurgeEvery {
			lastPurge = time.Now()
			if n, err := r.src.Purge(ctx); err != nil {
				r.log.Warn("purge delivered readings", "err", err)
			} else if n > 0 {
				r.log.Debug("dropped delivered outbox segments", "segments", n)
			}
		}
		chunks, err := r.src.Pending(ctx, r.opts.Batch)
		if err == nil && len(chunks) > 0 {
			err = r.send(ctx, chunks)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.errs.Inc()
			if !failing {
				r.log.Warn("relay to kafka failing; keeping the batch and retrying", "err", err)
				failing = true
			}
			backoff = min(max(2*backoff, 100*time.Millisecond), r.opts.MaxBackoff)
			if !sleep(ctx, backoff) {
				return nil
			}
			continue
		}
		if failing {
			r.log.Info("relay to kafka works again")
			failing = false
		}
		backoff = 0
		if len(chunks) > 0 {
			continue // more may be waiting
		}
		select {
		case <-ctx.Done():
		case <-r.src.Notify():
		case <-poll.C:
		}
	}
	return nil
}

// send writes the chunks' readings to Kafka (but those Kafka took in an earlier,
// partly failed attempt) and marks them delivered.
func (r *Relay) send(ctx context.Context, chunks []outbox.Chunk) error {
	// The slices are kept for the next send (kafka-go copies the messages into its
	// batches); cleared after, so that they hold no chunk's data.
	msgs, keys := r.msgs[:0], r.keys[:0]
	defer func() {
		clear(msgs)
		r.msgs, r.keys = msgs[:0], keys[:0]
	}()
	for _, c := range chunks {
		recs, err := c.Records()
		if err != nil {
			// The outbox wrote it; if it cannot be read back no retry will help.
			return fmt.Errorf("relay: %w", err)
		}
		for i, rec := range recs {
			k := msgKey{c.Order, i}
			if _, done := r.acked[k]; done {
				continue
			}
			msgs = append(msgs, kafka.Message{Key: rec.Key, Value: rec.Value})
			keys = append(keys, k)
		}
	}
	// The write is not cut short by shutdown at once: it gets ShutdownGrace to finish,
	// so the batch is delivered and marked rather than sent again after a restart.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.WriteTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(r.opts.ShutdownGrace, cancel)
		context.AfterFunc(wctx, func() { t.Stop() })
	})
	defer stop()
	if len(msgs) > 0 {
		if err := r.w.For(len(msgs)).WriteMessages(wctx, msgs...); err != nil {
			var werrs kafka.WriteErrors
			if errors.As(err, &werrs) && len(werrs) == len(msgs) {
				n := 0
				for i, e := range werrs {
					if e == nil {
						r.acked[keys[i]] = struct{}{}
						n++
					}
				}
				r.relayed.Add(float64(n))
			}
			return fmt.Errorf("relay: write %d readings to kafka: %w", len(msgs), err)
		}
	}
	now := time.Now()
	for _, c := range chunks {
		d := now.Sub(c.Stored).Seconds()
		for range c.Count {
			r.latency.Observe(d)
		}
	}
	r.relayed.Add(float64(len(msgs)))
	clear(r.acked)
	if err := r.src.Delivered(wctx, chunks[len(chunks)-1].Order); err != nil {
		// Kafka has them; if the progress is lost they are sent again after a restart.
		r.log.Warn("save relay progress", "err", err)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
