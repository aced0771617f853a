package relay

import (
	"context"
	"fmt"
	"net"
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

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{k.Addr}, Topic: topic, GroupID: "relay-test", StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	partition := map[string]int{}
	last := map[string]uint64{}
	for range devices * per {
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
	if got := servertest.Metric(t, reg, "hub_relayed_total"); got != devices*per {
		t.Errorf("hub_relayed_total %v, want %d", got, devices*per)
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
