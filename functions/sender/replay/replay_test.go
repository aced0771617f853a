package replay

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/sender/consume"
	"github.com/smartx-team/overcloud/functions/sender/internal/sendertest"
	"github.com/smartx-team/overcloud/functions/sender/wiring"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

const base = int64(1_763_700_000_000_000_000)

// deadLetters are rs as the sender dead-letters them: original key, value and a
// header of the producer's, plus the reason and where they came from, at time at.
func deadLetters(t *testing.T, rs []reading.Reading, reason string, at time.Time) []kafka.Message {
	t.Helper()
	msgs := sendertest.Messages(t, rs)
	for i := range msgs {
		msgs[i].Time = at
		msgs[i].Headers = []kafka.Header{
			{Key: "origin", Value: []byte("test")},
			{Key: consume.HeaderReason, Value: []byte(reason)},
			{Key: consume.HeaderError, Value: []byte("write to influxdb: field type conflict")},
			{Key: consume.HeaderTopic, Value: []byte(sendertest.Topic)},
			{Key: consume.HeaderPartition, Value: []byte("0")},
			{Key: consume.HeaderOffset, Value: []byte(fmt.Sprint(i))},
		}
	}
	return msgs
}

// endOf sums the end offsets of topic: how many messages it holds.
func endOf(t *testing.T, addr, topic string) int64 {
	t.Helper()
	ends, err := endOffsets(context.Background(), &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ends {
		n += e.LastOffset
	}
	return n
}

// The selection by reason, device and time, the dry run, and what a replayed message
// carries.
func TestReplaySelects(t *testing.T) {
	t.Parallel()
	k := servertest.KafkaWith(t, servers.KafkaOptions{Topics: []string{sendertest.Topic, sendertest.DeadTopic}, Partitions: 2})
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	rejected := sendertest.Readings(40, 4, base)     // dev-0..dev-3, at t0
	version := sendertest.Readings(10, 2, base+1e12) // another major version, at t0
	late := sendertest.Readings(6, 3, base+2e12)     // rejected, an hour later
	sendertest.Produce(t, k.Addr, sendertest.DeadTopic, deadLetters(t, rejected, consume.ReasonRejected, t0)...)
	sendertest.Produce(t, k.Addr, sendertest.DeadTopic, deadLetters(t, version, consume.ReasonVersion, t0)...)
	sendertest.Produce(t, k.Addr, sendertest.DeadTopic, deadLetters(t, late, consume.ReasonRejected, t0.Add(time.Hour))...)
	devices := func(rs []reading.Reading, keep ...string) int {
		n := 0
		for _, r := range rs {
			if len(keep) == 0 || slices.Contains(keep, r.Device) {
				n++
			}
		}
		return n
	}
	for _, tt := range []struct {
		name string
		o    Options
		want int
	}{
		{"everything", Options{}, len(rejected) + len(version) + len(late)},
		{"by reason", Options{Reasons: []string{consume.ReasonVersion}}, len(version)},
		{"by device", Options{Devices: []string{sendertest.Readings(1, 1, base)[0].Device}}, devices(rejected, "dev-0") + devices(version, "dev-0") + devices(late, "dev-0")},
		{"since", Options{Since: t0.Add(30 * time.Minute)}, len(late)},
		{"until", Options{Until: t0.Add(30 * time.Minute)}, len(rejected) + len(version)},
		{"reason and time", Options{Reasons: []string{consume.ReasonRejected}, Until: t0.Add(time.Minute)}, len(rejected)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			o.Brokers, o.DeadLetterTopic, o.Topic, o.DryRun = []string{k.Addr}, sendertest.DeadTopic, sendertest.Topic, true
			var out bytes.Buffer
			o.Out = &out
			before := endOf(t, k.Addr, sendertest.Topic)
			res, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Count(out.String(), "\n")
			if res.Read != len(rejected)+len(version)+len(late) || res.Selected != tt.want || lines != tt.want || res.Published != 0 {
				t.Errorf("dry run read %d, selected %d, listed %d, published %d; want all read, %d selected and listed, none published",
					res.Read, res.Selected, lines, res.Published, tt.want)
			}
			if after := endOf(t, k.Addr, sendertest.Topic); after != before {
				t.Errorf("a dry run published %d messages", after-before)
			}
		})
	}

	// For real, by reason: the other major version's readings go back, as they were.
	before := endOf(t, k.Addr, sendertest.Topic)
	res, err := Run(context.Background(), Options{Brokers: []string{k.Addr}, DeadLetterTopic: sendertest.DeadTopic, Topic: sendertest.Topic, Reasons: []string{consume.ReasonVersion}})
	if err != nil || res.Published != len(version) {
		t.Fatalf("replay = %+v, %v; want %d published", res, err, len(version))
	}
	msgs := sendertest.ReadTopic(t, k.Addr, sendertest.Topic, int(before)+len(version))
	want := map[string]kafka.Message{}
	for _, m := range sendertest.Messages(t, version) {
		want[string(m.Value)] = m
	}
	for _, m := range msgs[before:] {
		w, ok := want[string(m.Value)]
		if !ok {
			t.Fatalf("replayed %q, which is not one of the selected dead letters", m.Value)
		}
		if string(m.Key) != string(w.Key) || consume.Header(m, "origin") != "test" || consume.Header(m, consume.HeaderReason) != "" ||
			!strings.HasPrefix(consume.Header(m, HeaderReplayedFrom), sendertest.DeadTopic+"/") {
			t.Errorf("replayed message key %q headers %v: want the original key and headers, no dead-letter headers, and %s", m.Key, m.Headers, HeaderReplayedFrom)
		}
		delete(want, string(m.Value))
	}
	if len(want) != 0 {
		t.Errorf("%d selected dead letters were not replayed", len(want))
	}
}

// Replaying twice, while the real sender consumes, stores each reading once: the point
// identity comes from the reading.
func TestReplayTwiceStoresOnce(t *testing.T) {
	t.Parallel()
	k := servertest.KafkaWith(t, servers.KafkaOptions{Topics: []string{sendertest.Topic, sendertest.DeadTopic}, Partitions: 2})
	in := servertest.Influx(t)
	rs := sendertest.Readings(500, 5, base)
	sendertest.Produce(t, k.Addr, sendertest.DeadTopic, deadLetters(t, rs, consume.ReasonRejected, time.Now())...)

	cfg := wiring.Defaults()
	cfg.KafkaBrokers, cfg.InfluxURL, cfg.InfluxToken = k.Addr, in.URL, in.Token
	cfg.InfluxOrg, cfg.InfluxBucket, cfg.WeatherProvider = in.Org, in.Bucket, wiring.ProviderNone
	s, err := wiring.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
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
	o := Options{Brokers: []string{k.Addr}, DeadLetterTopic: sendertest.DeadTopic, Topic: sendertest.Topic}
	for round := 1; round <= 2; round++ {
		if res, err := Run(context.Background(), o); err != nil || res.Published != len(rs) {
			t.Fatalf("replay %d = %+v, %v; want %d published", round, res, err, len(rs))
		}
	}
	sendertest.WaitFor(t, "both replays committed", func() (bool, string) {
		n := sendertest.Committed(t, k.Addr, cfg.KafkaGroup, sendertest.Topic, 2)
		return n == int64(2*len(rs)), fmt.Sprint(n, " committed")
	})
	sendertest.CheckStored(t, in, rs, cfg.Location)
}

func TestParseFlags(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	o, err := parseFlags([]string{"--reason", "rejected,other_version", "--device", "pi-1, pi-2", "--since", "24h", "--until", "2026-12-01T11:00:00Z", "--dry-run"}, &bytes.Buffer{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Reasons, []string{"rejected", "other_version"}) || !slices.Equal(o.Devices, []string{"pi-1", "pi-2"}) ||
		!o.Since.Equal(now.Add(-24*time.Hour)) || !o.Until.Equal(now.Add(-time.Hour)) || !o.DryRun ||
		o.Topic != reading.Topic || o.DeadLetterTopic != reading.DeadLetterTopic {
		t.Errorf("parseFlags = %+v", o)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--reason", "lost"}, `--reason "lost"`},
		{[]string{"--since", "yesterday"}, `--since "yesterday"`},
		{[]string{"--since", "-2h"}, `--since "-2h"`},
		{[]string{"--since", "1h", "--until", "2h"}, "is not before --until"},
		{[]string{"--kafka-topic", "readings.dead"}, "both"},
		{[]string{"--kafka-brokers", "kafka"}, "--kafka-brokers"},
		{[]string{"--kafka-topic", "readings#1"}, "--kafka-topic"},
	} {
		if _, err := parseFlags(tt.args, &bytes.Buffer{}, now); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%v) = %v, want an error naming %s", tt.args, err, tt.want)
		}
	}
}
