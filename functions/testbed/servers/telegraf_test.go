package servers_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/sender/store"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// telegrafWait bounds the wait for Telegraf's points in InfluxDB.
const telegrafWait = 60 * time.Second

// TestTelegraf runs Telegraf between real Kafka and InfluxDB: readings put on the topic
// as the hub's relay puts them must be stored as the sender would store them (compared
// with store.Points, the sender's own mapping, weather off), to the nanosecond; after a
// restart Telegraf goes on from its committed offsets.
func TestTelegraf(t *testing.T) {
	t.Parallel()
	const topic = reading.Topic
	k := servertest.Kafka(t, topic)
	in := servertest.Influx(t)
	ctx := ctxFor(t, 3*time.Minute)

	const t0 = int64(1_763_700_000_000_000_123) // ns digits: the origin is the identity
	var first []reading.Reading
	for i := range 3 {
		origin := t0 + int64(i)*int64(time.Second) + int64(i) // a different ns digit each
		first = append(first,
			rdg("pi-1", "temperature", 21.5+float64(i), origin, "sector-a", i),
			rdg("pi-1", "humidity", 40+float64(i)/4, origin, "sector-a", i),
			rdg("pi-2", "temperature", -3.25-float64(i), origin+7, "sector-b", i),
			rdg("pi-2", "humidity", 55, origin+7, "sector-b", i),
		)
	}
	// A reading without a location gets the sender's default location.
	first = append(first, rdg("pi-3", "temperature", 19, t0, "", 0))
	produceReadings(ctx, t, k.Addr, topic, first)

	// Its own database beside the sender's, as the benchmark runs it.
	if err := in.CreateDatabase(ctx, "telegraf-peer"); err != nil {
		t.Fatal(err)
	}
	const bucket = "telegraf-peer/autogen"
	tg := startTelegraf(t, servers.TelegrafOptions{
		Brokers: []string{k.Addr}, Topic: topic, ConsumerGroup: "telegraf-peer",
		InfluxURL: in.URL, Token: in.Token, Org: in.Org, Bucket: bucket, Debug: true,
	})
	if tg.Options.DefaultLocation != store.DefaultLocation {
		t.Fatalf("Telegraf's default location %q, the sender's %q", tg.Options.DefaultLocation, store.DefaultLocation)
	}
	want := senderRecords(first)
	checkStored(ctx, t, in, bucket, want)
	checkWritten(t, tg, len(first))
	if other := storedRecords(ctx, t, in, in.Bucket); len(other) != 0 {
		t.Fatalf("the sender's database holds %d records Telegraf wrote", len(other))
	}

	// Stopped, it leaves the group; started again (ready again only once its new
	// consumer has joined), it resumes after its committed offsets and stores the new
	// readings too.
	restart(t, tg.Proc)
	more := []reading.Reading{
		rdg("pi-1", "temperature", 30, t0+int64(time.Hour), "sector-a", 10),
		rdg("pi-1", "humidity", 33.5, t0+int64(time.Hour), "sector-a", 10),
	}
	produceReadings(ctx, t, k.Addr, topic, more)
	checkStored(ctx, t, in, bucket, senderRecords(append(first, more...)))
	checkWritten(t, tg, len(first)+len(more))
	if err := tg.Stop(); err != nil {
		t.Fatal(err)
	}
	if lag := groupLag(ctx, t, k.Addr, topic, tg.Options.ConsumerGroup); lag != 0 {
		t.Errorf("after Stop the group's committed offset is %d behind the topic's end; want 0", lag)
	}
}

// TestTelegrafExitsWithoutKafka checks that Start fails, rather than reports ready,
// when Telegraf cannot reach Kafka.
func TestTelegrafExitsWithoutKafka(t *testing.T) {
	t.Parallel()
	port, err := servers.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	tg, err := servers.NewTelegraf(t.TempDir(), servers.TelegrafOptions{
		Brokers: []string{fmt.Sprintf("127.0.0.1:%d", port)}, Topic: "readings",
		InfluxURL: "http://127.0.0.1:1", Bucket: servers.InfluxBucket,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tg.Kill() })
	err = tg.Start(ctxFor(t, 50*time.Second))
	// It must have got as far as its Kafka input, not stopped at its config.
	if err == nil || !strings.Contains(err.Error(), "exited before ready") || !strings.Contains(err.Error(), "create consumer") {
		t.Fatalf("Start without Kafka = %v; want it to fail with Telegraf exiting as it cannot create its consumer", err)
	}
}

func TestCreateDatabaseRefusesABadName(t *testing.T) {
	in := &servers.Influx{URL: "http://127.0.0.1:1"} // never reached: the name is checked first
	for _, name := range []string{"", `a"b`, "a b", "x;DROP DATABASE smartx"} {
		if err := in.CreateDatabase(context.Background(), name); err == nil || !strings.Contains(err.Error(), "database name") {
			t.Errorf("CreateDatabase(%q) = %v; want the name refused", name, err)
		}
	}
}

// TestTelegrafNotInstalled checks that a missing binary is a clear error saying how
// to install it.
func TestTelegrafNotInstalled(t *testing.T) {
	t.Setenv(servers.ToolsBinEnv, t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("PATH", t.TempDir())
	_, err := servers.NewTelegraf(t.TempDir(), servers.TelegrafOptions{
		Brokers: []string{"127.0.0.1:9092"}, Topic: "readings", InfluxURL: "http://127.0.0.1:8086", Bucket: "smartx/autogen",
	}, nil)
	if !errors.Is(err, servers.ErrNotInstalled) || !strings.Contains(err.Error(), "bash .ci/tools.sh telegraf") || !strings.HasPrefix(err.Error(), "telegraf: ") {
		t.Fatalf("NewTelegraf without the binary: %v; want ErrNotInstalled with the install hint", err)
	}
}

func TestTelegrafOptions(t *testing.T) {
	ok := servers.TelegrafOptions{Brokers: []string{"127.0.0.1:9092"}, Topic: "readings", InfluxURL: "http://127.0.0.1:8086", Bucket: "smartx/autogen"}
	tests := []struct {
		name    string
		edit    func(*servers.TelegrafOptions)
		wantErr string
	}{
		{"no brokers", func(o *servers.TelegrafOptions) { o.Brokers = nil }, "Brokers"},
		{"empty broker", func(o *servers.TelegrafOptions) { o.Brokers = []string{""} }, "Brokers"},
		{"no topic", func(o *servers.TelegrafOptions) { o.Topic = "" }, "Topic"},
		{"no url", func(o *servers.TelegrafOptions) { o.InfluxURL = "" }, "InfluxURL"},
		{"no bucket", func(o *servers.TelegrafOptions) { o.Bucket = "" }, "Bucket"},
		{"negative batch", func(o *servers.TelegrafOptions) { o.MetricBatchSize = -1 }, "MetricBatchSize"},
		{"buffer below undelivered", func(o *servers.TelegrafOptions) { o.MaxUndeliveredMessages, o.MetricBufferLimit = 100, 99 }, "MetricBufferLimit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.edit(&o)
			_, err := servers.NewTelegraf(t.TempDir(), o, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.Is(err, servers.ErrNotInstalled) {
				t.Fatalf("NewTelegraf = %v; want an error naming %s", err, tt.wantErr)
			}
		})
	}
	if _, err := servers.Tool("telegraf"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tg, err := servers.NewTelegraf(dir, ok, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := tg.Options
	if o.ConsumerGroup != servers.DefaultTelegrafGroup || !strings.HasPrefix(o.ClientID, "smartx-telegraf-") ||
		o.MetricBatchSize != servers.DefaultTelegrafBatchSize || o.FlushInterval != servers.DefaultTelegrafFlushInterval ||
		o.MaxUndeliveredMessages != 10*o.MetricBatchSize || o.MetricBufferLimit != 2*o.MaxUndeliveredMessages ||
		o.DefaultLocation != store.DefaultLocation || o.KafkaVersion != servers.DefaultTelegrafKafkaVersion {
		t.Errorf("defaults: %+v", o)
	}
	if tg.Config != filepath.Join(dir, "telegraf.conf") {
		t.Errorf("Config = %q", tg.Config)
	}
	b, err := os.ReadFile(tg.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`offset = "oldest"`, `data_format = "json_v2"`, `timestamp_format = "unix_ns"`, `[[processors.pivot]]`, `flush_interval = "1s"`, `omit_hostname = true`, `debug = false`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("telegraf.conf lacks %s", want)
		}
	}
	if strings.Contains(string(b), servers.InfluxToken) {
		t.Errorf("telegraf.conf holds the token")
	}
}

// rdg is a valid reading; seq is its device's sequence number minus one.
func rdg(device, resource string, value float64, origin int64, loc string, seq int) reading.Reading {
	return reading.Reading{ID: fmt.Sprintf("%s-%s-%d", device, resource, origin), Device: device, Resource: resource,
		Value: value, Unit: "u", Origin: origin, Seq: uint64(seq + 1), Location: loc}
}

// produceReadings puts rs on topic as the hub's relay does: one message per reading,
// key = device, value = reading.Encode, acks from all replicas.
func produceReadings(ctx context.Context, t *testing.T, addr, topic string, rs []reading.Reading) {
	t.Helper()
	msgs := make([]kafka.Message, len(rs))
	for i, r := range rs {
		b, err := reading.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = kafka.Message{Key: []byte(r.Device), Value: b}
	}
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// startTelegraf starts Telegraf for the test, stopped by t.Cleanup; its log goes to a
// file whose last lines are shown if the test failed.
func startTelegraf(t *testing.T, o servers.TelegrafOptions) *servers.Telegraf {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "telegraf.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	tg, err := servers.NewTelegraf(t.TempDir(), o, f)
	if err != nil {
		t.Fatal(err) // not installed: the error says how to install it
	}
	t.Cleanup(func() {
		if err := tg.Stop(); err != nil {
			t.Errorf("stop telegraf: %v", err)
		}
		if t.Failed() {
			t.Logf("telegraf log (%s), last lines:\n%s", f.Name(), tg.Tail())
		}
	})
	servertest.Start(t, tg.Proc)
	return tg
}

// senderRecords is what the sender stores for rs with the weather off, one line per
// InfluxDB record: "measurement tag=value,... field=value time".
func senderRecords(rs []reading.Reading) []string {
	var out []string
	for _, p := range store.Points(rs, store.DefaultLocation, nil) {
		var tags []string
		for _, tag := range p.TagList() {
			tags = append(tags, tag.Key+"="+tag.Value)
		}
		for _, f := range p.FieldList() {
			out = append(out, fmt.Sprintf("%s %s %s=%v(%T) %d", p.Name(), strings.Join(tags, ","), f.Key, f.Value, f.Value, p.Time().UnixNano()))
		}
	}
	sort.Strings(out)
	return out
}

// checkWritten checks that Telegraf's debug log has told of want metrics written: the
// metrics are written before InfluxDB answers a query for them, but the log line may
// come a moment after the write.
func checkWritten(t *testing.T, tg *servers.Telegraf, want int) {
	t.Helper()
	servertest.WaitFor(t, fmt.Sprintf("Telegraf's log to tell of %d metrics written", want), func() bool { return tg.Written() >= int64(want) })
	if got := tg.Written(); got != int64(want) {
		t.Fatalf("Telegraf wrote %d metrics; want %d", got, want)
	}
}

// checkStored waits up to telegrafWait until the bucket holds as many records as want,
// then compares them with want.
func checkStored(ctx context.Context, t *testing.T, in *servers.Influx, bucket string, want []string) {
	t.Helper()
	start := time.Now()
	var got []string
	for {
		got = storedRecords(ctx, t, in, bucket)
		if len(got) >= len(want) || time.Since(start) > telegrafWait {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("InfluxDB holds (after %s):\n  %s\nwant (the sender's points):\n  %s", time.Since(start).Round(time.Millisecond), strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// storedRecords reads every record of bucket, in senderRecords' form.
func storedRecords(ctx context.Context, t *testing.T, in *servers.Influx, bucket string) []string {
	t.Helper()
	out, err := in.Records(ctx, bucket, "")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// groupLag is how far the group's committed offsets are behind the end of the topic,
// summed over its partitions.
func groupLag(ctx context.Context, t *testing.T, addr, topic, group string) int64 {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) != 1 {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	var parts []int
	var ends []kafka.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		parts = append(parts, p.ID)
		ends = append(ends, kafka.LastOffsetOf(p.ID))
	}
	last, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: ends}})
	if err != nil {
		t.Fatal(err)
	}
	committed, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		t.Fatal(err)
	}
	end := map[int]int64{}
	for _, p := range last.Topics[topic] {
		end[p.Partition] = p.LastOffset
	}
	var lag int64
	for _, p := range committed.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("committed offset of %s/%d: %v", topic, p.Partition, p.Error)
		}
		lag += end[p.Partition] - max(p.CommittedOffset, 0)
	}
	return lag
}
