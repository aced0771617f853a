package relay

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/smartx-team/overcloud/functions/hubbridge/internal/outboxtest"
	"github.com/smartx-team/overcloud/functions/hubbridge/outbox"
	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/testbed/leakcheck"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

func TestMain(m *testing.M) {
	leakcheck.Main(m, "github.com/smartx-team/overcloud/functions/hubbridge/")
}

const topic = "readings"

// runningOutbox is an outbox in a fresh FerretDB with its writer running.
func runningOutbox(t *testing.T) *outbox.Outbox {
	t.Helper()
	return outboxtest.Running(t, servertest.MongoClient(t).Database("relay_test"))
}

func storeN(t *testing.T, ob *outbox.Outbox, devices, per int) {
	t.Helper()
	now := time.Now().UnixNano()
	for s := 1; s <= per; s++ {
		var rs []reading.Reading
		for d := range devices {
			rs = append(rs, reading.Reading{ID: fmt.Sprintf("d%d-%d", d, s), Device: fmt.Sprintf("dev-%d", d),
				Resource: "temperature", Value: float64(s), Origin: now + int64(s), Seq: uint64(s)})
		}
		if _, err := ob.Store(context.Background(), rs); err != nil {
			t.Fatal(err)
		}
	}
}

func startRelay(t *testing.T, o Options) (stop func()) {
	t.Helper()
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

// Stored readings go to Kafka keyed by device, a device on one partition in seq
// order, in batches no larger than Batch; the outbox is then empty.
func TestRelay(t *testing.T) {
	ob := runningOutbox(t)
	k := servertest.KafkaWith(t, servers.KafkaOptions{Topics: []string{topic}, Partitions: 4})
	const devices, per = 7, 40
	storeN(t, ob, devices, per)
	reg := prometheus.NewRegistry()
	startRelay(t, Options{Source: ob, Brokers: []string{k.Addr}, Topic: topic, Batch: 50, Registerer: reg})
	servertest.WaitFor(t, "the outbox relayed", func() bool { return ob.Backlog() == 0 })
	checkRelayed(t, k, "relay-test", devices*per)
	if got := servertest.Metric(t, reg, "hub_relayed_total"); got != devices*per {
		t.Errorf("hub_relayed_total %v, want %d", got, devices*per)
	}
}

// Writes of different sizes go through different writers (sizedWriters); a device's
// readings still reach its one partition in order across them.
func TestRelayWritesOfEverySize(t *testing.T) {
	ob := runningOutbox(t)
	k := servertest.KafkaWith(t, servers.KafkaOptions{Topics: []string{topic}, Partitions: 6})
	startRelay(t, Options{Source: ob, Brokers: []string{k.Addr}, Topic: topic})
	const devices = 5
	next := make([]uint64, devices)
	total := 0
	// One chunk at a time, each relayed before the next: one write per chunk, of
	// sizes that take the smallest writer, the next ones, and the largest.
	for _, n := range []int{3, 200, 1, 900, 64, 65, 2000, 17} {
		var rs []reading.Reading
		for i := range n {
			d := i % devices
			next[d]++
			rs = append(rs, reading.Reading{ID: fmt.Sprintf("w%d-%d", d, next[d]), Device: fmt.Sprintf("dev-%d", d),
				Resource: "temperature", Value: float64(i), Origin: time.Now().UnixNano(), Seq: next[d]})
		}
		if _, err := ob.Store(context.Background(), rs); err != nil {
			t.Fatal(err)
		}
		total += n
		servertest.WaitFor(t, fmt.Sprintf("the chunk of %d relayed", n), func() bool { return ob.Backlog() == 0 })
	}
	checkRelayed(t, k, "relay-sizes-test", total)
}

// checkRelayed reads n readings from the topic and checks that each is keyed by its
// device, that a device stays on one partition, and that its seqs follow one another.
func checkRelayed(t *testing.T, k *servers.Kafka, group string, n int) {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{k.Addr}, Topic: topic, GroupID: group, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	partition := map[string]int{}
	last := map[string]uint64{}
	for range n {
		msg, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rd, err := reading.Decode(msg.Value)
		if err != nil {
			t.Fatal(err)
		}
		if string(msg.Key) != rd.Device {
			t.Errorf("key %q for device %q", msg.Key, rd.Device)
		}
		if p, ok := partition[rd.Device]; ok && p != msg.Partition {
			t.Errorf("%s on partitions %d and %d", rd.Device, p, msg.Partition)
		}
		partition[rd.Device] = msg.Partition
		if rd.Seq != last[rd.Device]+1 {
			t.Errorf("%s: seq %d after %d", rd.Device, rd.Seq, last[rd.Device])
		}
		last[rd.Device] = rd.Seq
	}
}

func TestWriterSizes(t *testing.T) {
	for _, tc := range []struct {
		maxWrite int
		want     []int
	}{
		{2000, []int{64, 256, 1024, 2000}},
		{1024, []int{64, 256, 1024}},
		{300, []int{64, 256, 300}},
		{64, []int{64}},
		{10, []int{10}},
	} {
		if got := writerSizes(tc.maxWrite); !slices.Equal(got, tc.want) {
			t.Errorf("writerSizes(%d) = %v, want %v", tc.maxWrite, got, tc.want)
		}
	}
	s := newSizedWriters([]string{"127.0.0.1:1"}, topic, 2000, slog.New(slog.DiscardHandler))
	defer s.Close()
	for n, want := range map[int]int{1: 64, 64: 64, 65: 256, 1000: 1024, 1025: 2000, 2000: 2000, 5000: 2000} {
		if got := s.For(n).BatchSize; got != want {
			t.Errorf("For(%d) has batch size %d, want %d", n, got, want)
		}
	}
}

// With Kafka unreachable the relay keeps the batch, counts errors, and still stops at
// once when asked.
func TestRelayKafkaDown(t *testing.T) {
	ob := runningOutbox(t)
	storeN(t, ob, 2, 5)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	reg := prometheus.NewRegistry()
	stop := startRelay(t, Options{Source: ob, Brokers: []string{dead}, Topic: topic, MaxBackoff: 50 * time.Millisecond, Registerer: reg})
	servertest.WaitFor(t, "relay errors", func() bool { return servertest.Metric(t, reg, "hub_relay_errors_total") >= 3 })
	if b := ob.Backlog(); b != 10 {
		t.Errorf("backlog %d with Kafka down, want all 10 kept", b)
	}
	stop() // returns at once: a hang here fails the test by its timeout
}

func TestNewRequires(t *testing.T) {
	for _, o := range []Options{{}, {Brokers: []string{"x:1"}, Topic: "t"}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

// BenchmarkKafkaWrite writes 100 keyed readings at a time to a topic of 6 partitions,
// as the relay does at 10,000 devices, through one writer sized for the largest write
// and through the writer sizedWriters picks: compare the bytes allocated per write.
func BenchmarkKafkaWrite(b *testing.B) {
	k := servertest.KafkaWith(b, servers.KafkaOptions{Topics: []string{topic}, Partitions: 6})
	log := slog.New(slog.DiscardHandler)
	const perWrite, maxWrite = 100, 2000
	msgs := make([]kafka.Message, perWrite)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "dev-%d", i), Value: []byte(`{"id":"x","device":"d","resource":"temperature","value":24.5}`)}
	}
	one := NewWriter([]string{k.Addr}, topic, maxWrite, log)
	sized := newSizedWriters([]string{k.Addr}, topic, maxWrite, log)
	b.Cleanup(func() {
		_ = one.Close()
		_ = sized.Close()
	})
	for _, bc := range []struct {
		name string
		w    *kafka.Writer
	}{{"one writer of 2000", one}, {"sized writers", sized.For(perWrite)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.w.WriteMessages(context.Background(), msgs...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
