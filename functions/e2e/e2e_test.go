package e2e

import (
	"context"
	"testing"
	"time"
)

// outage is how long a server stays down in the fault tests: long enough for every
// client's retries and timeouts to be exercised, as the issue asks.
const outage = 30 * time.Second

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	p := startPath(t, 50, 200*time.Millisecond)
	p.runFleet(5*time.Second, nil)
	p.checkExactlyOnce()
	if n := p.weather.Calls(); n > 2 {
		t.Errorf("%d weather requests for one location within the cache period, want 1 (2 if a restart raced)", n)
	}
}

// Kafka goes away while devices keep sending: the hub keeps acknowledging into its
// MongoDB outbox, and relays the backlog when Kafka is back.
func TestKafkaOutage(t *testing.T) {
	t.Parallel()
	p := startPath(t, 20, 200*time.Millisecond)
	p.runFleet(outage+10*time.Second, func() {
		time.Sleep(3 * time.Second)
		stopFor(t, "kafka", p.Kafka.Stop, p.Kafka.Start)
	})
	p.checkExactlyOnce()
}

// The sender dies without warning in the middle of its work and is started again: the
// offsets it had not committed are consumed again and overwrite, not duplicate.
func TestSenderKilledMidBatch(t *testing.T) {
	t.Parallel()
	p := startPath(t, 50, 100*time.Millisecond)
	p.runFleet(15*time.Second, func() {
		for range 3 {
			time.Sleep(3 * time.Second)
			stopFor(t, "sender", p.Sender.Kill, p.Sender.Start)
			// Kill the next one only once this one writes and the group has settled.
			// kfake, our Kafka stand-in, can keep a member killed in the middle of a
			// rebalance in the group for good, with its partitions (real Kafka expires
			// it after the session timeout): the test then waited for readings that
			// nobody fetched.
			p.waitSettled()
		}
	})
	p.checkExactlyOnce()
}

// InfluxDB goes away: the sender retries the same batch and commits nothing past it.
func TestInfluxOutage(t *testing.T) {
	t.Parallel()
	p := startPath(t, 20, 200*time.Millisecond)
	p.runFleet(outage+10*time.Second, func() {
		time.Sleep(3 * time.Second)
		stopFor(t, "influxdb", p.Influx.Stop, p.Influx.Start)
	})
	p.checkExactlyOnce()
}

// The hub is restarted while it holds a backlog (Kafka down): the backlog survives in
// MongoDB and drains once Kafka is back; devices retry what the hub missed meanwhile.
func TestHubRestartWithBacklog(t *testing.T) {
	t.Parallel()
	p := startPath(t, 20, 200*time.Millisecond)
	p.runFleet(25*time.Second, func() {
		time.Sleep(2 * time.Second)
		if err := p.Kafka.Stop(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second) // a backlog builds up in the outbox
		stopFor(t, "hub", p.Hub.Stop, p.Hub.Start)
		time.Sleep(3 * time.Second)
		start(t, "kafka", p.Kafka.Start)
	})
	p.checkExactlyOnce()
}

// stopFor stops a server, waits the outage (shorter for a restart of our own
// functions), and starts it again on the same port with its data.
func stopFor(t *testing.T, name string, stop func() error, startFn func(context.Context) error) {
	t.Helper()
	if err := stop(); err != nil {
		t.Fatalf("stop %s: %v", name, err)
	}
	wait := outage
	if name == "sender" || name == "hub" {
		wait = time.Second
	}
	time.Sleep(wait)
	start(t, name, startFn)
}

func start(t *testing.T, name string, startFn func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := startFn(ctx); err != nil {
		t.Fatalf("restart %s: %v", name, err)
	}
}
