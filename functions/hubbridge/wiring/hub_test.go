package wiring

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/testbed/fleet"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

const topic = "readings"

// The tests here do not run in parallel: several stop a server and start it again on
// the same port, and a server another test starts meanwhile could be given that port
// (servers.FreePort only knows what is bound now), sending one test's readings to
// another's Kafka.

// testHub is a hub running in-process until stop or the end of the test.
type testHub struct {
	*Hub
	reg  *prometheus.Registry
	stop func() error
}

// testConfig is a hub on free local ports against the given servers.
func testConfig(mongoURI, kafkaAddr string) Config {
	cfg := DefaultConfig()
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.MongoURI, cfg.KafkaBrokers, cfg.KafkaTopic = mongoURI, []string{kafkaAddr}, topic
	return cfg
}

func startHub(t *testing.T, cfg Config) *testHub {
	t.Helper()
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewJSONHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := New(ctx, cfg, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(runCtx) }()
	var stopped bool
	var runErr error
	stop := func() error {
		if !stopped {
			stopped = true
			stopRun()
			runErr = <-done
		}
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("hub run: %v", err)
		}
	})
	return &testHub{Hub: h, reg: reg, stop: stop}
}

// testWriter sends the hub's log to the test log (shown on failure or with -v).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func (h *testHub) url() string { return "http://" + h.Addr() }

// topicMessages reads every message of the topic, per partition in offset order.
func topicMessages(t *testing.T, addr string) map[int][]kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]kafka.Message{}
	for _, p := range parts {
		lc, err := kafka.DialLeader(ctx, "tcp", addr, topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		first, last, err := lc.ReadOffsets()
		lc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if last == first {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(first); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read partition %d: %v", p.ID, err)
			}
			out[p.ID] = append(out[p.ID], m)
			if m.Offset == last-1 {
				break
			}
		}
		r.Close()
	}
	return out
}

// checkExactlyOnce checks that Kafka holds every acknowledged reading exactly once,
// keyed by its device, each device on one partition, in the device's seq order.
func checkExactlyOnce(t *testing.T, addr string, acked []fleet.Sent) {
	t.Helper()
	want := map[string]fleet.Sent{}
	for _, s := range acked {
		want[s.ID] = s
	}
	seen := map[string]bool{}
	partitionOf := map[string]int{}
	lastSeq := map[string]uint64{}
	for p, msgs := range topicMessages(t, addr) {
		for _, m := range msgs {
			r, err := reading.Decode(m.Value)
			if err != nil {
				t.Fatalf("partition %d offset %d: %v", p, m.Offset, err)
			}
			if string(m.Key) != r.Device {
				t.Errorf("key %q for a reading of %q", m.Key, r.Device)
			}
			if seen[r.ID] {
				t.Errorf("reading %s (%s seq %d) is in Kafka twice", r.ID, r.Device, r.Seq)
			}
			seen[r.ID] = true
			if q, ok := partitionOf[r.Device]; ok && q != p {
				t.Errorf("device %s is on partitions %d and %d", r.Device, q, p)
			}
			partitionOf[r.Device] = p
			if r.Seq <= lastSeq[r.Device] {
				t.Errorf("device %s: seq %d after %d", r.Device, r.Seq, lastSeq[r.Device])
			}
			lastSeq[r.Device] = r.Seq
			if s, ok := want[r.ID]; ok && (s.Device != r.Device || (s.Seq != 0 && s.Seq != r.Seq) || s.Value != r.Value || s.Origin != r.Origin || r.Location == "") {
				t.Errorf("reading %s = %+v, sent %+v", r.ID, r, s)
			}
		}
	}
	missing := 0
	for id := range want {
		if !seen[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged readings are not in Kafka", missing, len(want))
	}
}

func newFleet(t *testing.T, o fleet.Options) *fleet.Fleet {
	t.Helper()
	f, err := fleet.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.Register(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

// runFleet lets the devices post until during returns, then until every reading is
// acknowledged.
func runFleet(t *testing.T, f *fleet.Fleet, during func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	during()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	dctx, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	defer stop()
	if err := f.Drain(dctx, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

// The whole hub: devices register and post, readings arrive in Kafka keyed by device
// with their registered location, numbered in order: by the seq tag of the firmware's
// events, or by the hub for a plain EdgeX client's events that carry none.
func TestEventToKafka(t *testing.T) {
	for _, tt := range []struct {
		name  string
		noSeq bool
	}{{"event seq", false}, {"no seq", true}} {
		t.Run(tt.name, func(t *testing.T) { testEventToKafka(t, tt.noSeq) })
	}
}

func testEventToKafka(t *testing.T, noSeq bool) {
	m := servertest.Mongo(t)
	k := servertest.KafkaWith(t, servers.KafkaOptions{Topics: []string{topic}, Partitions: 3})
	h := startHub(t, testConfig(m.URI, k.Addr))
	f := newFleet(t, fleet.Options{HubURL: h.url(), Devices: 6, Interval: 20 * time.Millisecond, NoSeq: noSeq, RackStats: noSeq})
	runFleet(t, f, func() {
		servertest.WaitFor(t, "100 readings acknowledged", func() bool { return f.Stats().AckedReadings >= 100 })
	})
	acked := f.Acked()
	servertest.WaitFor(t, "the backlog relayed", func() bool {
		return servertest.Metric(t, h.reg, "hub_backlog") == 0 && servertest.Metric(t, h.reg, "hub_relayed_total") >= float64(len(acked))
	})
	checkExactlyOnce(t, k.Addr, acked)
	// A post cut off by the fleet's stop may be stored, unanswered, and sent again as a
	// duplicate: received counts each answered post, duplicates each repeat.
	if rec, dup := servertest.Metric(t, h.reg, "hub_received_total"), servertest.Metric(t, h.reg, "hub_duplicates_total"); rec < float64(len(acked)) || rec > float64(len(acked))+dup {
		t.Errorf("hub_received_total %v minus hub_duplicates_total %v; %d acknowledged", rec, dup, len(acked))
	}
}

// Kafka goes away while devices post: the hub keeps answering 201 into its outbox, the
// backlog grows, and when Kafka is back it drains with nothing lost, doubled or
// reordered.
func TestKafkaOutage(t *testing.T) {
	m := servertest.Mongo(t)
	k := servertest.KafkaWith(t, servers.KafkaOptions{Topics: []string{topic}, Partitions: 3})
	h := startHub(t, testConfig(m.URI, k.Addr))
	f := newFleet(t, fleet.Options{HubURL: h.url(), Devices: 10, Interval: 20 * time.Millisecond})
	runFleet(t, f, func() {
		servertest.WaitFor(t, "readings relayed before the outage", func() bool { return servertest.Metric(t, h.reg, "hub_relayed_total") >= 50 })
		if err := k.Stop(); err != nil {
			t.Fatal(err)
		}
		ackedAtStop := f.Stats().AckedReadings
		servertest.WaitFor(t, "a backlog and relay errors while Kafka is down", func() bool {
			return servertest.Metric(t, h.reg, "hub_backlog") >= 200 && f.Stats().AckedReadings >= ackedAtStop+200 &&
				servertest.Metric(t, h.reg, "hub_relay_errors_total") > 0
		})
		servertest.Start(t, k.Proc)
	})
	acked := f.Acked()
	servertest.WaitFor(t, "the backlog drained", func() bool {
		return servertest.Metric(t, h.reg, "hub_backlog") == 0 && servertest.Metric(t, h.reg, "hub_relayed_total") >= float64(len(acked))
	})
	checkExactlyOnce(t, k.Addr, acked)
}

// MongoDB goes away while devices post: no post is answered 201 while the outbox
// cannot write (devices keep their readings and retry), and once MongoDB is back
// every reading that was acknowledged, before and after, reaches Kafka exactly once.
func TestMongoOutageGivesNo201(t *testing.T) {
	m := servertest.Mongo(t)
	k := servertest.KafkaWith(t, servers.KafkaOptions{Topics: []string{topic}, Partitions: 3})
	cfg := testConfig(m.URI, k.Addr)
	h := startHub(t, cfg)
	f := newFleet(t, fleet.Options{HubURL: h.url(), Devices: 5, Interval: 20 * time.Millisecond})
	runFleet(t, f, func() {
		servertest.WaitFor(t, "readings acknowledged before the outage", func() bool { return f.Stats().AckedReadings >= 50 })
		if err := m.Stop(); err != nil {
			t.Fatal(err)
		}
		failed := f.Stats().Failed
		servertest.WaitFor(t, "posts refused while MongoDB is down", func() bool { return f.Stats().Failed >= failed+5 })
		ackedDown := f.Stats().AckedReadings
		// Each failed store waits for the outbox's write timeout: two rounds of refusals.
		servertest.WaitFor(t, "more posts refused", func() bool { return f.Stats().Failed >= failed+10 })
		if got := f.Stats().AckedReadings; got != ackedDown {
			t.Errorf("%d readings acknowledged while MongoDB was down", got-ackedDown)
		}
		servertest.Start(t, m.Proc)
		servertest.WaitFor(t, "readings acknowledged again", func() bool { return f.Stats().AckedReadings >= ackedDown+50 })
	})
	acked := f.Acked()
	servertest.WaitFor(t, "the backlog relayed", func() bool {
		return servertest.Metric(t, h.reg, "hub_backlog") == 0 && servertest.Metric(t, h.reg, "hub_relayed_total") >= float64(len(acked))
	})
	checkExactlyOnce(t, k.Addr, acked)
}

// A hub restarted while it holds a backlog (Kafka down) keeps it in MongoDB and
// drains it, before what it stores afterwards, once Kafka is back.
func TestRestartWithBacklog(t *testing.T) {
	m := servertest.Mongo(t)
	k := servertest.KafkaWith(t, servers.KafkaOptions{Topics: []string{topic}, Partitions: 2})
	cfg := testConfig(m.URI, k.Addr)
	h := startHub(t, cfg)
	f := newFleet(t, fleet.Options{HubURL: h.url(), Devices: 8, Interval: 20 * time.Millisecond})
	cfg.Listen = h.Addr() // the devices know this address
	if err := k.Stop(); err != nil {
		t.Fatal(err)
	}
	runFleet(t, f, func() {
		servertest.WaitFor(t, "a backlog", func() bool { return servertest.Metric(t, h.reg, "hub_backlog") >= 200 })
		if err := h.stop(); err != nil {
			t.Fatal(err)
		}
		acked := f.Stats().AckedReadings
		h2 := startHub(t, cfg)
		if b := servertest.Metric(t, h2.reg, "hub_backlog"); b < 200 {
			t.Errorf("restarted hub holds a backlog of %v, want the earlier one (>= 200)", b)
		}
		servertest.WaitFor(t, "the restarted hub taking readings", func() bool { return f.Stats().AckedReadings >= acked+100 })
		servertest.Start(t, k.Proc)
		h = h2
	})
	acked := f.Acked()
	servertest.WaitFor(t, "the backlog drained", func() bool {
		return servertest.Metric(t, h.reg, "hub_backlog") == 0 && servertest.Metric(t, h.reg, "hub_relayed_total") >= 1
	})
	checkExactlyOnce(t, k.Addr, acked)
}

// readyz is the status of the hub's /readyz.
func readyz(t *testing.T, h *testHub) int {
	t.Helper()
	resp, err := http.Get("http://" + h.AdminAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Readiness follows MongoDB only: with Kafka down the hub stays ready.
func TestReadiness(t *testing.T) {
	m := servertest.Mongo(t)
	k := servertest.Kafka(t, topic)
	h := startHub(t, testConfig(m.URI, k.Addr))
	ready := func() int { return readyz(t, h) }
	if err := k.Stop(); err != nil {
		t.Fatal(err)
	}
	if s := ready(); s != 200 {
		t.Errorf("readyz with Kafka down: HTTP %d, want 200", s)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if s := ready(); s != http.StatusServiceUnavailable {
		t.Errorf("readyz with MongoDB down: HTTP %d, want 503", s)
	}
	servertest.Start(t, m.Proc)
	servertest.WaitFor(t, "ready again", func() bool { return ready() == 200 })
}

// HUB_PPROF serves the profiles on the admin port; without it they are not there.
func TestPprofSwitch(t *testing.T) {
	m := servertest.Mongo(t)
	k := servertest.Kafka(t, topic)
	for _, on := range []bool{false, true} {
		cfg := testConfig(m.URI, k.Addr)
		cfg.Pprof = on
		h := startHub(t, cfg)
		resp, err := http.Get("http://" + h.AdminAddr() + "/debug/pprof/goroutine")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[on]; resp.StatusCode != want {
			t.Errorf("HUB_PPROF=%v: /debug/pprof/goroutine HTTP %d, want %d", on, resp.StatusCode, want)
		}
		if err := h.stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// In edgex mode the bridge is ready once it has subscribed to EdgeX's bus: only from
// then on does the broker keep what core-data publishes for it.
func TestReadinessWaitsForTheBus(t *testing.T) {
	m := servertest.Mongo(t)
	k := servertest.Kafka(t, topic)
	q := servertest.MQTT(t)
	if err := q.Stop(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(m.URI, k.Addr)
	cfg.Mode, cfg.MQTTURL, cfg.MQTTClientID = ModeEdgeX, q.URL, "hub-"+uuid.NewString()
	h := startHub(t, cfg)
	if s := readyz(t, h); s != http.StatusServiceUnavailable {
		t.Errorf("readyz with the broker down since the start: HTTP %d, want 503", s)
	}
	servertest.Start(t, q.Proc)
	servertest.WaitFor(t, "ready once subscribed", func() bool { return readyz(t, h) == 200 })
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		key string
		mod func(*Config)
	}{
		{"HUB_MODE", func(c *Config) { c.Mode = "cloud" }},
		{"HUB_LISTEN", func(c *Config) { c.Listen = "59880" }},
		{"HUB_ADMIN_LISTEN", func(c *Config) { c.AdminListen = "" }},
		{"HUB_MONGO_URI", func(c *Config) { c.MongoURI = "http://user:pw@x" }},
		{"HUB_MONGO_DATABASE", func(c *Config) { c.MongoDatabase = "a.b" }},
		{"HUB_KAFKA_BROKERS", func(c *Config) { c.KafkaBrokers = nil }},
		{"HUB_KAFKA_BROKERS", func(c *Config) { c.KafkaBrokers = []string{"kafka"} }},
		{"HUB_KAFKA_TOPIC", func(c *Config) { c.KafkaTopic = "a b" }},
		{"HUB_MAX_BODY_BYTES", func(c *Config) { c.MaxBodyBytes = 10 }},
		{"HUB_MAX_IN_FLIGHT", func(c *Config) { c.MaxInFlight = 0 }},
		{"HUB_STORE_TIMEOUT", func(c *Config) { c.StoreTimeout = time.Millisecond }},
		{"HUB_MQTT_URL", func(c *Config) { c.Mode, c.MQTTURL = ModeEdgeX, "::" }},
		{"HUB_RELAY_BATCH", func(c *Config) { c.RelayBatch = 0 }},
		{"HUB_STORE_BATCH", func(c *Config) { c.StoreBatch = -1 }},
		{"HUB_DELIVERED_RETENTION", func(c *Config) { c.DeliveredRetention = -time.Second }},
		{"HUB_DEDUP_MAX", func(c *Config) { c.DedupMax = 0 }},
		{"HUB_LOG_LEVEL", func(c *Config) { c.LogLevel = "loud" }},
	} {
		c := DefaultConfig()
		tt.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%s: error %v does not name it", tt.key, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: error %q shows the password", tt.key, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
