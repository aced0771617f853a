package servers

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// KafkadPackage is the main package NewKafka builds and runs.
const KafkadPackage = "github.com/smartx-team/overcloud/functions/testbed/servers/kafkad"

// KafkaOptions configures NewKafka.
type KafkaOptions struct {
	// Topics are created at start with Partitions partitions each (optional).
	Topics []string
	// Partitions per topic in Topics; 0 means 1.
	Partitions int
	// Log receives the broker's log (nil discards it).
	Log io.Writer
}

// Kafka is a one-broker Kafka-protocol cluster (kfake in its own kafkad process)
// whose topics, records and committed offsets live in Dir and survive Stop and Start.
type Kafka struct {
	*Proc
	// Addr is the bootstrap address, "127.0.0.1:port".
	Addr string
	// Dir holds the cluster's state.
	Dir string
	// Topics are the topics created at start.
	Topics []string
}

// NewKafka builds kafkad (once per process, see BuildGo) and returns a stopped
// cluster on a free port with its state in dir (created if needed). Start it with
// Start. Building may take a minute on a cold Go build cache.
func NewKafka(dir string, o KafkaOptions) (*Kafka, error) {
	if o.Partitions == 0 {
		o.Partitions = 1
	}
	if o.Partitions < 0 {
		return nil, fmt.Errorf("kafka: partitions %d: want at least 1", o.Partitions)
	}
	for _, t := range o.Topics {
		if t == "" || strings.Contains(t, ",") {
			return nil, fmt.Errorf("kafka: topic %q: want a non-empty name without commas", t)
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin, err := BuildGo(ctx, KafkadPackage)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	k := &Kafka{
		Addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Dir:    dir,
		Topics: append([]string(nil), o.Topics...),
	}
	argv := []string{bin,
		"--port", strconv.Itoa(port),
		"--data-dir", dir,
		"--partitions", strconv.Itoa(o.Partitions),
		"--topics", strings.Join(o.Topics, ","),
		"--log-level", "warn",
	}
	k.Proc = NewProc("kafka", argv, nil, k.ready, o.Log)
	return k, nil
}

// ready asks the broker for metadata of the seeded topics, the request every client
// sends first, and wants each to have a leader for every partition.
func (k *Kafka) ready(ctx context.Context) error {
	var d kafka.Dialer
	conn, err := d.DialContext(ctx, "tcp", k.Addr)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Brokers(); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if len(k.Topics) == 0 {
		return nil
	}
	parts, err := conn.ReadPartitions(k.Topics...)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	seen := map[string]bool{}
	for _, p := range parts {
		if p.Error != nil {
			return fmt.Errorf("metadata of %s/%d: %w", p.Topic, p.ID, p.Error)
		}
		if p.Leader.Port == 0 {
			return fmt.Errorf("metadata of %s/%d: no leader", p.Topic, p.ID)
		}
		seen[p.Topic] = true
	}
	for _, t := range k.Topics {
		if !seen[t] {
			return fmt.Errorf("metadata: topic %s missing", t)
		}
	}
	return nil
}
