// Package consume is the sender's consumer loop: it fetches readings from Kafka in
// batches, stores them, sends what cannot be stored to a dead-letter topic, and only
// then commits the batch's offsets.
//
// Each batch goes through these steps in order (the next batch is fetched and decoded,
// steps 1 and 2, while this one is written; writes and commits are one at a time):
//
//  1. fetch up to BatchSize messages, or fewer once BatchWait has passed since the
//     first; offsets are never committed automatically;
//  2. decode each value with reading.Decode; one that fails becomes a dead letter
//     (reason malformed, invalid, too_large or other_version);
//  3. write the readings to the Sink in one request, with the cached weather; on an
//     error retry the same batch with exponential backoff (MinBackoff..MaxBackoff)
//     for as long as it takes: nothing is dropped and nothing past it is committed.
//     Points the store refuses for good come back as rejections and become dead
//     letters too (reason rejected);
//  4. write the dead letters (original key, value and headers, plus headers naming the
//     reason, the error and the source topic, partition and offset), retried the same way;
//  5. commit the batch's offsets.
//
// A crash anywhere before 5 redelivers the batch; the store's points are keyed by the
// readings, so the second write overwrites the first: at-least-once delivery, stored
// exactly once. On shutdown (ctx cancelled) the batch in hand gets ShutdownGrace to
// finish its current attempt and commit; no new attempt starts, and what was not
// written is not committed.
package consume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/sender/store"
	"github.com/smartx-team/overcloud/functions/sender/weather"
)

// Source is where messages come from: a *kafka.Reader with a GroupID.
type Source interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
}

// DeadLetters takes what cannot be stored: a *kafka.Writer on the dead-letter topic
// (synchronous, acks from all replicas).
type DeadLetters interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Sink stores a batch of readings: a *store.Store.
type Sink interface {
	Write(ctx context.Context, batch []reading.Reading, w *weather.Weather) ([]store.Rejection, error)
}

// Weather gives the outside weather: a *weather.Cache. false means unknown, and the
// readings are stored without it.
type Weather interface {
	Current(ctx context.Context) (weather.Weather, bool)
}

// Dead-letter reasons: the reason label of sender_dead_lettered_total and the value of
// the HeaderReason header.
const (
	ReasonMalformed = "malformed"     // the value is not JSON
	ReasonInvalid   = "invalid"       // JSON that breaks the reading contract
	ReasonTooLarge  = "too_large"     // longer than reading.MaxEncodedLen
	ReasonVersion   = "other_version" // another major version of the contract: replay after upgrading
	ReasonRejected  = "rejected"      // InfluxDB refused the point (e.g. field type conflict)
)

// Reasons lists every dead-letter reason.
var Reasons = []string{ReasonMalformed, ReasonInvalid, ReasonTooLarge, ReasonVersion, ReasonRejected}

// Headers a dead letter carries besides the original message's own.
const (
	HeaderReason    = "dead-letter-reason"
	HeaderError     = "dead-letter-error"
	HeaderTopic     = "source-topic"
	HeaderPartition = "source-partition"
	HeaderOffset    = "source-offset"
)

// Options tune a Consumer; the zero value takes every default.
type Options struct {
	// BatchSize is the most messages written in one request (default 5000).
	BatchSize int
	// BatchWait is how long a batch may wait for more messages after its first
	// (default 200ms).
	BatchWait time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries (default 100ms, 10s).
	MinBackoff, MaxBackoff time.Duration
	// ShutdownGrace is how long the batch in hand may still take once ctx ends
	// (default 5s).
	ShutdownGrace time.Duration
	// WeatherWait bounds how long a batch waits for the weather when none is cached
	// yet (default 2s); it then goes without.
	WeatherWait time.Duration
	// Logger (default: discard).
	Logger *slog.Logger
	// Registerer takes the sender_* metrics (default: not registered).
	Registerer prometheus.Registerer
}

func (o *Options) defaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.BatchWait <= 0 {
		o.BatchWait = 200 * time.Millisecond
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(10*time.Second, o.MinBackoff)
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = 5 * time.Second
	}
	if o.WeatherWait <= 0 {
		o.WeatherWait = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
}

// Consumer runs the loop. Run it once; it is not safe for concurrent use. It does not
// close its source, sink or dead-letter writer: their owner does, after Run returns.
type Consumer struct {
	src     Source
	sink    Sink
	dead    DeadLetters
	weather Weather
	o       Options
	log     *slog.Logger
	m       *metrics
	totals  totals
}

// New returns a consumer; w may be nil (no weather). It fails only if the metrics
// cannot be registered.
func New(src Source, sink Sink, dead DeadLetters, w Weather, o Options) (*Consumer, error) {
	o.defaults()
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Consumer{src: src, sink: sink, dead: dead, weather: w, o: o, log: o.Logger, m: m}, nil
}

// Totals returns the counts so far. Unlike Run, it is safe to call concurrently.
func (c *Consumer) Totals() Totals { return c.totals.snapshot() }

// Run consumes until ctx ends (then it returns ctx's error) or the source is closed.
//
// Fetching and decoding run one batch ahead of writing, in their own goroutine, so a
// batch is decoded (the sender's largest CPU cost) while the one before it waits on
// InfluxDB. Batches are still written and committed one at a time, in fetch order.
func (c *Consumer) Run(ctx context.Context) error {
	fctx, stopFetching := context.WithCancel(ctx)
	defer stopFetching()
	batches := make(chan *decoded) // unbuffered: at most one batch decoded ahead
	fetched := make(chan error, 1)
	go func() {
		defer close(batches)
		fetched <- c.fetchLoop(fctx, batches)
	}()
	for b := range batches {
		if err := c.store(ctx, b); err != nil {
			// Only a shutdown stops a batch; its offsets stay uncommitted, and so do
			// those of a batch decoded behind it.
			c.log.Info("batch abandoned at shutdown, not committed", "messages", len(b.msgs), "err", err)
			stopFetching()
			for range batches {
			}
			<-fetched
			return ctx.Err()
		}
	}
	return <-fetched
}

// fetchLoop fetches and decodes batches and hands them to out until ctx ends (then it
// returns ctx's error) or the source is closed; it retries failed fetches.
func (c *Consumer) fetchLoop(ctx context.Context, out chan<- *decoded) error {
	backoff := c.o.MinBackoff
	for {
		msgs, err := c.fetch(ctx)
		if len(msgs) > 0 {
			select {
			case out <- c.decode(msgs):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		switch {
		case err == nil:
			backoff = c.o.MinBackoff
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, io.EOF):
			return fmt.Errorf("kafka reader closed: %w", err)
		}
		c.log.Warn("fetch from kafka failed, retrying", "backoff", backoff, "err", err)
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(2*backoff, c.o.MaxBackoff)
	}
}

// fetch returns a batch: it waits as long as it takes for a first message, then takes
// more until the batch is full or BatchWait has passed. With an error it returns what
// it has, to be processed first.
func (c *Consumer) fetch(ctx context.Context) ([]kafka.Message, error) {
	first, err := c.src.FetchMessage(ctx)
	if err != nil {
		return nil, err
	}
	msgs := make([]kafka.Message, 1, min(c.o.BatchSize, 1024))
	msgs[0] = first
	bctx, cancel := context.WithTimeout(ctx, c.o.BatchWait)
	defer cancel()
	for len(msgs) < c.o.BatchSize {
		m, err := c.src.FetchMessage(bctx)
		if err != nil {
			if bctx.Err() != nil && ctx.Err() == nil {
				return msgs, nil // the wait is over, not the consumer
			}
			return msgs, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// decoded is a fetched batch, decoded: the readings to write, each one's message
// index, and the dead letters of those that did not decode, with their reasons.
type decoded struct {
	msgs    []kafka.Message
	batch   []reading.Reading
	from    []int // batch index -> message index
	dead    []kafka.Message
	reasons []string
}

// decode decodes a batch's messages and counts them consumed.
func (c *Consumer) decode(msgs []kafka.Message) *decoded {
	c.m.consumed.Add(float64(len(msgs)))
	c.totals.add(Totals{Consumed: int64(len(msgs))})
	c.m.batchSize.Observe(float64(len(msgs)))
	d := &decoded{msgs: msgs, batch: make([]reading.Reading, 0, len(msgs)), from: make([]int, 0, len(msgs))}
	for i, m := range msgs {
		r, err := reading.Decode(m.Value)
		if err != nil {
			reason := classify(m.Value, err)
			d.dead, d.reasons = append(d.dead, deadLetter(m, reason, err)), append(d.reasons, reason)
			continue
		}
		d.batch, d.from = append(d.batch, r), append(d.from, i)
	}
	return d
}

// store writes one decoded batch and commits it. It returns an error only when ctx
// ended before the batch was stored; then nothing of it is committed.
func (c *Consumer) store(ctx context.Context, d *decoded) error {
	start := time.Now()
	wctx, done := graceful(ctx, c.o.ShutdownGrace)
	defer done()
	msgs, batch, from, dead, reasons := d.msgs, d.batch, d.from, d.dead, d.reasons

	var w *weather.Weather
	if c.weather != nil && len(batch) > 0 {
		wwctx, cancel := context.WithTimeout(wctx, c.o.WeatherWait)
		if cur, ok := c.weather.Current(wwctx); ok {
			w = &cur
		}
		cancel()
	}

	var rejected []store.Rejection
	err := c.retry(ctx, wctx, "write to influxdb", func(ctx context.Context) error {
		t := time.Now()
		var err error
		if rejected, err = c.sink.Write(ctx, batch, w); err != nil {
			c.m.writeErrors.Inc()
			c.totals.add(Totals{WriteErrors: 1})
			return err
		}
		c.m.writeSeconds.Observe(time.Since(t).Seconds())
		return nil
	})
	if err != nil {
		return err
	}
	stored := len(batch)
	for _, rj := range rejected {
		for _, i := range rj.Readings {
			dead, reasons = append(dead, deadLetter(msgs[from[i]], ReasonRejected, rj.Err)), append(reasons, ReasonRejected)
			stored--
		}
	}
	c.observeStored(batch, rejected, stored)

	if len(dead) > 0 {
		if err := c.retry(ctx, wctx, "write dead letters", func(ctx context.Context) error {
			return c.dead.WriteMessages(ctx, dead...)
		}); err != nil {
			return err
		}
		counts := map[string]int{}
		for _, r := range reasons {
			c.m.deadLettered.WithLabelValues(r).Inc()
			counts[r]++
		}
		c.totals.add(Totals{DeadLetters: int64(len(dead))})
		c.log.Warn("messages sent to the dead-letter topic", "count", len(dead), "reasons", counts,
			"first_error", firstError(dead))
	}
	c.commit(ctx, wctx, msgs)
	c.log.Debug("batch stored", "messages", len(msgs), "stored", stored, "dead_letters", len(dead), "took", time.Since(start))
	return nil
}

// observeStored counts the readings stored and their origin-to-stored latency.
func (c *Consumer) observeStored(batch []reading.Reading, rejected []store.Rejection, stored int) {
	c.m.written.Add(float64(stored))
	skip := map[int]bool{}
	for _, rj := range rejected {
		for _, i := range rj.Readings {
			skip[i] = true
		}
	}
	now := time.Now().UnixNano()
	var sum float64
	for i, r := range batch {
		if !skip[i] {
			secs := float64(now-r.Origin) / 1e9
			c.m.originToStored.Observe(secs)
			sum += secs
		}
	}
	c.totals.add(Totals{Written: int64(stored), OriginToStoredSeconds: sum})
}

// commit commits the batch's offsets. A commit that keeps failing (a rebalance took
// the partitions away, Kafka is down) is given up after a few tries. A later batch's
// commit then covers those messages too, as a commit is a partition's position; if a
// rebalance or a restart comes first, they are redelivered and overwrite their points.
func (c *Consumer) commit(ctx, wctx context.Context, msgs []kafka.Message) {
	const tries = 5
	backoff := c.o.MinBackoff
	for attempt := 1; ; attempt++ {
		err := c.src.CommitMessages(wctx, msgs...)
		if err == nil {
			return
		}
		c.m.commitErrors.Inc()
		if attempt == tries || ctx.Err() != nil {
			c.log.Error("commit offsets failed; the batch will be redelivered", "messages", len(msgs), "attempts", attempt, "err", err)
			return
		}
		c.log.Warn("commit offsets failed, retrying", "attempt", attempt, "err", err)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, c.o.MaxBackoff)
	}
}

// retry runs op until it succeeds, waiting MinBackoff, doubling up to MaxBackoff,
// between attempts. Attempts run under wctx (which outlives ctx by the shutdown
// grace); once ctx has ended no new attempt starts and the last error is returned.
func (c *Consumer) retry(ctx, wctx context.Context, what string, op func(context.Context) error) error {
	backoff := c.o.MinBackoff
	for attempt := 1; ; attempt++ {
		err := op(wctx)
		if err == nil {
			if attempt > 1 {
				c.log.Info(what+" succeeded after retries", "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: abandoned at shutdown: %w", what, err)
		}
		c.log.Warn(what+" failed, retrying the same batch", "attempt", attempt, "backoff", backoff, "err", err)
		if !sleep(ctx, backoff) {
			return fmt.Errorf("%s: abandoned at shutdown: %w", what, err)
		}
		backoff = min(2*backoff, c.o.MaxBackoff)
	}
}

// graceful returns a context that ends grace after ctx ends (or when done is called).
func graceful(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return wctx, func() { stop(); cancel() }
}

// sleep waits d; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// classify names why a value did not decode (err is reading.Decode's).
func classify(v []byte, err error) string {
	switch {
	case len(v) > reading.MaxEncodedLen:
		return ReasonTooLarge
	case !json.Valid(v):
		return ReasonMalformed
	case errors.Is(err, reading.ErrVersion):
		return ReasonVersion
	}
	return ReasonInvalid
}

// deadLetter is m as it goes to the dead-letter topic: original key, value and headers,
// plus why and where from.
func deadLetter(m kafka.Message, reason string, err error) kafka.Message {
	msg := err.Error()
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	h := make([]kafka.Header, 0, len(m.Headers)+5)
	h = append(h, m.Headers...)
	h = append(h,
		kafka.Header{Key: HeaderReason, Value: []byte(reason)},
		kafka.Header{Key: HeaderError, Value: []byte(msg)},
		kafka.Header{Key: HeaderTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
	)
	return kafka.Message{Key: m.Key, Value: m.Value, Headers: h}
}

// Header returns the value of the last header named key ("" if none).
func Header(m kafka.Message, key string) string {
	v := ""
	for _, h := range m.Headers {
		if h.Key == key {
			v = string(h.Value)
		}
	}
	return v
}

func firstError(dead []kafka.Message) string { return Header(dead[0], HeaderError) }
