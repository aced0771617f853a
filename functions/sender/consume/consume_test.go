package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/sender/internal/sendertest"
	"github.com/smartx-team/overcloud/functions/sender/store"
	"github.com/smartx-team/overcloud/functions/sender/weather"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

const (
	partitions = 3
	base       = int64(1_763_700_000_000_000_000)
	owmKey     = "owm-test-key-5f1c"
)

// env is one test's servers: Kafka with the readings and dead-letter topics, InfluxDB,
// and a fake OpenWeatherMap.
type env struct {
	t      *testing.T
	kafka  *servers.Kafka
	influx *servers.Influx
	owm    *sendertest.OWM
	// wrap, if set, puts a fault in front of the next consumer's real reader, and
	// wrapSink in front of its real store.
	wrap     func(Source) Source
	wrapSink func(Sink) Sink
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{
		t:      t,
		kafka:  servertest.KafkaWith(t, servers.KafkaOptions{Topics: []string{sendertest.Topic, sendertest.DeadTopic}, Partitions: partitions}),
		influx: servertest.Influx(t),
		owm:    sendertest.NewOWM(t, owmKey),
	}
}

// running is a consumer running in its own goroutine, with the parts it was built of.
type running struct {
	c      *Consumer
	reg    *prometheus.Registry
	logs   *sendertest.LogBuffer
	cancel context.CancelFunc
	done   chan error
	cache  *weather.Cache
}

// start builds a consumer in group as the sender does and runs it until stop or the
// end of the test.
func (e *env) start(group string, o Options) *running {
	t := e.t
	t.Helper()
	r := &running{reg: prometheus.NewRegistry(), logs: &sendertest.LogBuffer{}, done: make(chan error, 1)}
	log := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{e.kafka.Addr}, GroupID: group, Topic: sendertest.Topic,
		StartOffset: kafka.FirstOffset, MaxWait: 500 * time.Millisecond, QueueCapacity: 1000,
		HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second, RebalanceTimeout: 10 * time.Second,
		JoinGroupBackoff: time.Second,
	})
	dead := &kafka.Writer{Addr: kafka.TCP(e.kafka.Addr), Topic: sendertest.DeadTopic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	st, err := store.New(store.Options{URL: e.influx.URL, Token: e.influx.Token, Org: e.influx.Org, Bucket: e.influx.Bucket, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p, err := weather.NewOWM(e.owm.URL, owmKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	wm, err := weather.NewMetrics(r.reg)
	if err != nil {
		t.Fatal(err)
	}
	r.cache = weather.NewCache(p, weather.Gwangju, weather.CacheOptions{TTL: time.Hour, Metrics: wm, Logger: log})
	o.Logger, o.Registerer = log, r.reg
	if o.MaxBackoff == 0 {
		o.MinBackoff, o.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
	}
	var src Source = reader
	if e.wrap != nil {
		src, e.wrap = e.wrap(reader), nil
	}
	var sink Sink = st
	if e.wrapSink != nil {
		sink, e.wrapSink = e.wrapSink(st), nil
	}
	c, err := New(src, sink, dead, r.cache, o)
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		err := c.Run(ctx)
		r.cache.Close()
		st.Close()
		err2 := dead.Close()
		if err3 := reader.Close(); err == nil {
			err = err3
		}
		if err == nil {
			err = err2
		}
		r.done <- err
	}()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("consumer log:\n%s", tail(r.logs.String(), 6000))
		}
	})
	return r
}

// stop cancels the consumer and waits for Run to return; it must be ctx's error.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v, want context.Canceled", err)
	}
}

// histogramSum is the sum of the samples of the histogram name on reg.
func histogramSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetHistogram().GetSampleSum()
		}
	}
	t.Fatalf("no histogram %s", name)
	return 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitCommitted waits until the group has committed n messages.
func (e *env) waitCommitted(group string, n int64) {
	e.t.Helper()
	sendertest.WaitFor(e.t, fmt.Sprintf("group %s to commit %d messages", group, n), func() (bool, string) {
		got := sendertest.Committed(e.t, e.kafka.Addr, group, sendertest.Topic, partitions)
		return got == n, fmt.Sprintf("committed %d", got)
	})
}

func TestReadingsStoredWithWeatherAndCommitted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rs := sendertest.Readings(2000, 7, base)
	sendertest.Produce(t, e.kafka.Addr, sendertest.Topic, sendertest.Messages(t, rs)...)
	r := e.start("g1", Options{BatchSize: 500})
	e.waitCommitted("g1", int64(len(rs)))
	r.stop(t)

	points := sendertest.CheckStored(t, e.influx, rs, store.DefaultLocation)
	for _, p := range points {
		if p.Fields["ext_temperature"] != sendertest.OWMTempC || p.Fields["ext_humidity"] != sendertest.OWMHumidity ||
			p.Fields["weather_stat"] != sendertest.OWMState {
			t.Fatalf("point %+v lacks the weather", p)
		}
	}
	if n := e.owm.Calls(); n != 1 {
		t.Errorf("%d weather requests for %d readings within one TTL, want 1", n, len(rs))
	}
	if got := servertest.Metric(t, r.reg, "sender_written_total"); got != float64(len(rs)) {
		t.Errorf("sender_written_total = %v, want %d", got, len(rs))
	}
	if got := servertest.Metric(t, r.reg, "sender_consumed_total"); got != float64(len(rs)) {
		t.Errorf("sender_consumed_total = %v, want %d", got, len(rs))
	}
	if got := servertest.Metric(t, r.reg, "sender_origin_to_stored_seconds"); got != float64(len(rs)) {
		t.Errorf("sender_origin_to_stored_seconds has %v samples, want %d", got, len(rs))
	}
	if got := servertest.Metric(t, r.reg, "sender_weather_fetches_total", "provider", "owm", "result", "ok"); got != 1 {
		t.Errorf("weather fetches ok = %v, want 1", got)
	}
	if got := servertest.Metric(t, r.reg, "sender_batch_size"); got < 4 {
		t.Errorf("%v batches for 2000 messages of at most 500", got)
	}
	tot := r.c.Totals()
	n := int64(len(rs))
	if tot.Consumed != n || tot.Written != n || tot.DeadLetters != 0 || tot.WriteErrors != 0 || tot.OriginToStoredSeconds <= 0 {
		t.Errorf("Totals() = %+v, want %d consumed and written, a latency and nothing else", tot, n)
	}
	// The latency sum is the histogram's, in seconds.
	if got, want := tot.OriginToStoredSeconds, histogramSum(t, r.reg, "sender_origin_to_stored_seconds"); got < want*0.999 || got > want*1.001 {
		t.Errorf("Totals().OriginToStoredSeconds = %v, the histogram's sum %v", got, want)
	}
}

// The same readings delivered again (a producer retry, a consumer crash before its
// commit, a replay from the start) leave exactly one point each.
func TestRedeliveryOverwrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rs := sendertest.Readings(600, 5, base)
	msgs := sendertest.Messages(t, rs)
	sendertest.Produce(t, e.kafka.Addr, sendertest.Topic, msgs...)
	sendertest.Produce(t, e.kafka.Addr, sendertest.Topic, msgs[100:400]...) // duplicates on the topic
	r := e.start("first", Options{BatchSize: 250})
	e.waitCommitted("first", int64(len(msgs)+300))
	r.stop(t)
	// A second group replays the whole topic from the start.
	r = e.start("replay", Options{BatchSize: 1000})
	e.waitCommitted("replay", int64(len(msgs)+300))
	r.stop(t)
	sendertest.CheckStored(t, e.influx, rs, store.DefaultLocation)
}

// Undecodable messages go to the dead-letter topic with their key, value and reason;
// the good messages around them are all stored and everything is committed. A newer
// producer's reading of the same major version, with a field this sender does not
// know, is stored; one of another major version is dead-lettered as such.
func TestDeadLetters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rs := sendertest.Readings(300, 3, base)
	msgs := sendertest.Messages(t, rs)
	msgs[5].Value = []byte(strings.Replace(string(msgs[5].Value), "{", `{"quality":"good",`, 1))
	bad := []struct{ key, value, reason string }{
		{"dev-3", `{"v":2,"id":"x","device":"dev-3","resource":"temperature","value":1,"origin":5,"seq":1}`, ReasonVersion},
		{"dev-0", "temperature=21.5 (not a reading)", ReasonMalformed},
		{"dev-1", `{"id":"x","device":"dev-1","resource":"temperature","value":1,"origin":5}`, ReasonInvalid}, // seq missing
		{"dev-2", `{"id":"` + strings.Repeat("x", reading.MaxEncodedLen) + `"}`, ReasonTooLarge},
		{"", "", ReasonMalformed}, // empty value, no key
	}
	var all []kafka.Message
	for i, m := range msgs {
		all = append(all, m)
		if i%70 == 10 && i/70 < len(bad) {
			b := bad[i/70]
			all = append(all, kafka.Message{Key: []byte(b.key), Value: []byte(b.value), Headers: []kafka.Header{{Key: "origin", Value: []byte("test")}}})
		}
	}
	sendertest.Produce(t, e.kafka.Addr, sendertest.Topic, all...)
	r := e.start("g1", Options{BatchSize: 100})
	e.waitCommitted("g1", int64(len(all)))
	r.stop(t)

	sendertest.CheckStored(t, e.influx, rs, store.DefaultLocation)
	dead := sendertest.ReadTopic(t, e.kafka.Addr, sendertest.DeadTopic, len(bad))
	byValue := map[string]kafka.Message{}
	for _, m := range dead {
		byValue[string(m.Value)] = m
	}
	for _, b := range bad {
		m, ok := byValue[b.value]
		if !ok {
			t.Errorf("dead letter %.40q missing", b.value)
			continue
		}
		off, err := strconv.ParseInt(Header(m, HeaderOffset), 10, 64)
		if string(m.Key) != b.key || Header(m, HeaderReason) != b.reason || Header(m, HeaderTopic) != sendertest.Topic ||
			Header(m, HeaderPartition) == "" || err != nil || off < 0 || Header(m, HeaderError) == "" || Header(m, "origin") != "test" {
			t.Errorf("dead letter %.40q: key %q headers %v; want key %q, reason %s, source and the original header", b.value, m.Key, m.Headers, b.key, b.reason)
		}
	}
	for reason, n := range map[string]float64{ReasonMalformed: 2, ReasonInvalid: 1, ReasonTooLarge: 1, ReasonVersion: 1, ReasonRejected: 0} {
		if got := servertest.Metric(t, r.reg, "sender_dead_lettered_total", "reason", reason); got != n {
			t.Errorf("sender_dead_lettered_total{reason=%q} = %v, want %v", reason, got, n)
		}
	}
	if tot := r.c.Totals(); tot.Consumed != int64(len(all)) || tot.Written != int64(len(rs)) || tot.DeadLetters != int64(len(bad)) {
		t.Errorf("Totals() = %+v, want %d consumed, %d written, %d dead letters", tot, len(all), len(rs), len(bad))
	}
}

// A point InfluxDB refuses for good (a field type conflict) is dead-lettered with the
// reason; it does not block the partition.
func TestRejectedPointDeadLettered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	client := influxdb2.NewClient(e.influx.URL, e.influx.Token)
	defer client.Close()
	if err := client.WriteAPIBlocking(e.influx.Org, e.influx.Bucket).WriteRecord(context.Background(),
		fmt.Sprintf(`dev-x,location=Gwangju temperature="hot" %d`, base)); err != nil {
		t.Fatal(err)
	}
	rs := sendertest.Readings(200, 4, base)
	conflict := reading.Reading{ID: "conflict", Device: "dev-x", Resource: "temperature", Value: 20, Origin: base + 77, Seq: 9}
	msgs := sendertest.Messages(t, append(rs[:100:100], append([]reading.Reading{conflict}, rs[100:]...)...))
	sendertest.Produce(t, e.kafka.Addr, sendertest.Topic, msgs...)
	r := e.start("g1", Options{BatchSize: 1000})
	e.waitCommitted("g1", int64(len(msgs)))
	r.stop(t)

	dead := sendertest.ReadTopic(t, e.kafka.Addr, sendertest.DeadTopic, 1)
	if Header(dead[0], HeaderReason) != ReasonRejected || !strings.Contains(Header(dead[0], HeaderError), "field type conflict") ||
		string(dead[0].Key) != "dev-x" {
		t.Fatalf("dead letter %s headers %v, want the conflict, reason rejected", dead[0].Value, dead[0].Headers)
	}
	var good int
	for _, p := range sendertest.Stored(t, e.influx) {
		if p.Measurement != "dev-x" {
			good++
		}
	}
	if want := sendertest.PointCount(rs, store.DefaultLocation); good != want {
		t.Fatalf("%d good points stored, want %d", good, want)
	}
	if got := servertest.Metric(t, r.reg, "sender_dead_lettered_total", "reason", ReasonRejected); got != 1 {
		t.Errorf("rejected dead letters = %v", got)
	}
}

// InfluxDB goes away: the consumer retries the same batch, commits nothing past what
// it stored, stops on cancel without committing, and a new consumer completes the
// batch once InfluxDB is back, with nothing lost or doubled.
func TestInfluxOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := sendertest.Readings(400, 4, base)
	sendertest.Produce(t, e.kafka.Addr, sendertest.Topic, sendertest.Messages(t, first)...)
	r := e.start("g1", Options{BatchSize: 5000})
	e.waitCommitted("g1", int64(len(first)))

	if err := e.influx.Stop(); err != nil {
		t.Fatal(err)
	}
	second := sendertest.Readings(400, 4, base+1_000_000_000_000)
	sendertest.Produce(t, e.kafka.Addr, sendertest.Topic, sendertest.Messages(t, second)...)
	sendertest.WaitFor(t, "write retries while InfluxDB is down", func() (bool, string) {
		n := servertest.Metric(t, r.reg, "sender_write_errors_total")
		return n >= 3, fmt.Sprintf("%v write errors", n)
	})
	if got := sendertest.Committed(t, e.kafka.Addr, "g1", sendertest.Topic, partitions); got != int64(len(first)) {
		t.Fatalf("committed %d while InfluxDB was down, want %d", got, len(first))
	}
	if tot := r.c.Totals(); tot.WriteErrors < 3 || tot.Written != int64(len(first)) {
		t.Errorf("Totals() = %+v during the outage; want the 3 or more write errors waited for and %d written", tot, len(first))
	}
	// Shut down mid-retry: Run returns, nothing more is committed.
	r.stop(t)
	if got := sendertest.Committed(t, e.kafka.Addr, "g1", sendertest.Topic, partitions); got != int64(len(first)) {
		t.Fatalf("committed %d after a shutdown during the outage, want %d", got, len(first))
	}
	// A new consumer retries while InfluxDB is still down, then completes.
	r = e.start("g1", Options{BatchSize: 5000})
	sendertest.WaitFor(t, "the new consumer to retry", func() (bool, string) {
		n := servertest.Metric(t, r.reg, "sender_write_errors_total")
		return n >= 1, fmt.Sprintf("%v write errors", n)
	})
	servertest.Start(t, e.influx.Proc)
	e.waitCommitted("g1", int64(len(first)+len(second)))
	r.stop(t)
	sendertest.CheckStored(t, e.influx, append(first, second...), store.DefaultLocation)
}

// The weather provider failing never holds up or drops readings: they are stored
// without weather fields and the failure is counted.
func TestWeatherFailureStillStores(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.owm.Fail(500)
	rs := sendertest.Readings(300, 3, base)
	sendertest.Produce(t, e.kafka.Addr, sendertest.Topic, sendertest.Messages(t, rs)...)
	r := e.start("g1", Options{BatchSize: 100})
	e.waitCommitted("g1", int64(len(rs)))
	r.stop(t)
	for _, p := range sendertest.CheckStored(t, e.influx, rs, store.DefaultLocation) {
		if _, ok := p.Fields["ext_temperature"]; ok {
			t.Fatalf("point %+v has weather from a failing provider", p)
		}
	}
	if got := servertest.Metric(t, r.reg, "sender_weather_fetches_total", "provider", "owm", "result", "error"); got < 1 {
		t.Errorf("weather failures counted: %v", got)
	}
	if n := e.owm.Calls(); n >= 10 {
		t.Errorf("%d requests to a failing provider for %d readings: it is asked per batch or message", n, len(rs))
	}
}

// commitRefused passes everything to the real reader but refuses commits while
// refusing is set, as Kafka's group coordinator does when a rebalance took the
// partitions away.
type commitRefused struct {
	Source
	refusing atomic.Bool
}

func (c *commitRefused) CommitMessages(ctx context.Context, msgs ...kafka.Message) error {
	if c.refusing.Load() {
		return errors.New("injected: the coordinator refused the commit")
	}
	return c.Source.CommitMessages(ctx, msgs...)
}

// A commit that keeps failing is given up after a few tries and counted, and the
// consumer goes on with the next batches. When commits work again, in the same
// process, the next batch's commit covers the offsets of the given-up ones too (a
// commit is a partition's position, and the later batch reads the same partitions):
// everything is committed, and nothing was fetched or stored a second time.
func TestCommitGivenUpThenRecovered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rs := sendertest.Readings(3000, 6, base)
	msgs := sendertest.Messages(t, rs)
	refused := &commitRefused{}
	refused.refusing.Store(true)
	e.wrap = func(s Source) Source { refused.Source = s; return refused }
	sendertest.Produce(t, e.kafka.Addr, sendertest.Topic, msgs[:1500]...)
	r := e.start("g1", Options{BatchSize: 500})
	sendertest.WaitFor(t, "every batch written, its commit given up", func() (bool, string) {
		w, ce := servertest.Metric(t, r.reg, "sender_written_total"), servertest.Metric(t, r.reg, "sender_commit_errors_total")
		return w >= 1500 && ce >= 10, fmt.Sprintf("written %v, commit errors %v", w, ce)
	})
	if n := sendertest.Committed(t, e.kafka.Addr, "g1", sendertest.Topic, partitions); n != 0 {
		t.Fatalf("%d messages committed while commits were refused", n)
	}

	// The coordinator takes commits again; the same consumer goes on.
	refused.refusing.Store(false)
	sendertest.Produce(t, e.kafka.Addr, sendertest.Topic, msgs[1500:]...)
	e.waitCommitted("g1", int64(len(msgs)))
	if w := servertest.Metric(t, r.reg, "sender_written_total"); w != float64(len(msgs)) {
		t.Errorf("the consumer wrote %v readings, want each of the %d once: the given-up batches are not fetched again", w, len(msgs))
	}
	if n := servertest.Metric(t, r.reg, "sender_consumed_total"); n != float64(len(msgs)) {
		t.Errorf("the consumer fetched %v messages, want each of the %d once", n, len(msgs))
	}
	r.stop(t)
	sendertest.CheckStored(t, e.influx, rs, store.DefaultLocation)
}

// heldSink holds its first write until release is closed.
type heldSink struct {
	Sink
	started atomic.Bool
	release chan struct{}
}

func (h *heldSink) Write(ctx context.Context, batch []reading.Reading, w *weather.Weather) ([]store.Rejection, error) {
	if h.started.CompareAndSwap(false, true) {
		select {
		case <-h.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return h.Sink.Write(ctx, batch, w)
}

// While one batch is written the next is fetched and decoded, but only one: a write
// held up shows the second batch consumed and nothing committed; released, every
// batch is stored and committed.
func TestNextBatchDecodedWhileOneIsWritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rs := sendertest.Readings(600, 3, base)
	sendertest.Produce(t, e.kafka.Addr, sendertest.Topic, sendertest.Messages(t, rs)...)
	held := &heldSink{release: make(chan struct{})}
	e.wrapSink = func(s Sink) Sink { held.Sink = s; return held }
	r := e.start("g1", Options{BatchSize: 100})
	sendertest.WaitFor(t, "a second batch decoded while the first is written", func() (bool, string) {
		n := servertest.Metric(t, r.reg, "sender_consumed_total")
		return n > 100, fmt.Sprintf("consumed %v", n)
	})
	time.Sleep(300 * time.Millisecond) // room for a third batch, which must not come
	if n := servertest.Metric(t, r.reg, "sender_consumed_total"); n > 200 {
		t.Errorf("consumed %v messages while the first batch of at most 100 was held: more than one batch ahead", n)
	}
	if n := sendertest.Committed(t, e.kafka.Addr, "g1", sendertest.Topic, partitions); n != 0 {
		t.Fatalf("%d messages committed before the first write finished", n)
	}
	close(held.release)
	e.waitCommitted("g1", int64(len(rs)))
	r.stop(t)
	sendertest.CheckStored(t, e.influx, rs, store.DefaultLocation)
}
