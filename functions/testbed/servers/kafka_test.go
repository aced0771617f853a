package servers_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// TestKafkaRestartKeepsRecordsAndOffsets produces with acks=all, restarts the broker,
// consumes half in a consumer group and commits, restarts again, and checks that the
// group resumes right after its committed offset.
func TestKafkaRestartKeepsRecordsAndOffsets(t *testing.T) {
	t.Parallel()
	const topic, group, n = "readings", "sender", 10
	k := servertest.KafkaWith(t, servers.KafkaOptions{Topics: []string{topic, "readings.dlq"}, Partitions: 2})
	ctx := ctxFor(t, 50*time.Second)

	w := &kafka.Writer{
		Addr:         kafka.TCP(k.Addr),
		Topic:        topic,
		RequiredAcks: kafka.RequireAll,
		Balancer:     &kafka.Hash{},
		BatchTimeout: 10 * time.Millisecond,
	}
	var msgs []kafka.Message
	for i := range n {
		// One key, so one partition and one order.
		msgs = append(msgs, kafka.Message{Key: []byte("pi-1"), Value: fmt.Appendf(nil, "r%d", i)})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	addr := k.Addr
	restart(t, k.Proc)
	if k.Addr != addr {
		t.Fatalf("address changed across restart: %s -> %s", addr, k.Addr)
	}

	got := consume(ctx, t, k.Addr, topic, group, n/2)
	want := []string{"r0", "r1", "r2", "r3", "r4"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("first consumer got %v, want %v", got, want)
	}
	restart(t, k.Proc)
	got = consume(ctx, t, k.Addr, topic, group, n/2)
	want = []string{"r5", "r6", "r7", "r8", "r9"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after restart the group got %v, want %v (resume after the committed offset)", got, want)
	}
}

// consume reads count messages in group, committing each, and closes the reader.
func consume(ctx context.Context, t *testing.T, addr, topic, group string, count int) []string {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{addr},
		Topic:             topic,
		GroupID:           group,
		StartOffset:       kafka.FirstOffset,
		MaxWait:           100 * time.Millisecond,
		HeartbeatInterval: 500 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  2 * time.Second,
	})
	defer func() {
		if err := r.Close(); err != nil {
			t.Errorf("close reader: %v", err)
		}
	}()
	var got []string
	for len(got) < count {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetch after %v: %v", got, err)
		}
		got = append(got, string(m.Value))
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	return got
}

func TestKafkaKilledIsGone(t *testing.T) {
	t.Parallel()
	k := servertest.Kafka(t, "t")
	pid := k.PID()
	if err := k.Kill(); err != nil {
		t.Fatal(err)
	}
	if k.Running() {
		t.Fatal("Running after Kill")
	}
	// Dialling the port must now fail: nothing else listens there.
	var d kafka.Dialer
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if c, err := d.DialContext(ctx, "tcp", k.Addr); err == nil {
		_ = c.Close()
		t.Fatalf("broker %d still answers on %s after Kill", pid, k.Addr)
	} else if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial after Kill hung: %v", err)
	}
}
