package wiring

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smartx-team/overcloud/device/queue"
	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/testbed/localrun"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// behindEdgeX is the bridge in EdgeX mode behind EdgeX 4.0.2's own core services
// (QoS 1, as the EdgeX component sets it), with firmware Pis posting to core-data.
type behindEdgeX struct {
	e    *servers.EdgeX
	k    *servers.Kafka
	cfg  Config
	h    *testHub
	pis  map[string]*servers.Proc
	dirs map[string]string
}

func startBehindEdgeX(t *testing.T, pis int, piArgs ...string) *behindEdgeX {
	t.Helper()
	e, bus := servertest.EdgeX(t, servers.EdgeXOptions{QoS: 1})
	m := servertest.Mongo(t)
	b := &behindEdgeX{e: e, k: servertest.Kafka(t, topic), pis: map[string]*servers.Proc{}, dirs: map[string]string{}}
	b.cfg = testConfig(m.URI, b.k.Addr)
	b.cfg.Mode, b.cfg.MQTTURL, b.cfg.MQTTClientID = ModeEdgeX, bus.URL, "hub-"+uuid.NewString()
	b.h = startHub(t, b.cfg)
	servertest.WaitFor(t, "the subscription", b.h.sub.Subscribed)
	for i := range pis {
		pi := fmt.Sprintf("pi-%d", i+1)
		b.pis[pi], b.dirs[pi], _ = servertest.Pi(t, localrun.Pi{
			Device: pi, Location: fmt.Sprintf("sector-%d", i+1), Interval: 200 * time.Millisecond,
			HubURL: e.DataURL, MetadataURL: e.MetadataURL, Args: piArgs,
		})
	}
	servertest.WaitFor(t, "readings relayed", func() bool { return servertest.Metric(t, b.h.reg, "hub_relayed_total") >= 50 })
	return b
}

// stored asks core-data how many readings it holds of the Pis.
func (b *behindEdgeX) stored(t *testing.T) int {
	t.Helper()
	n := 0
	for device := range b.pis {
		resp, err := http.Get(b.e.DataURL + "/api/v3/reading/count/device/name/" + device)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var c struct{ Count int }
		if err := json.Unmarshal(body, &c); err != nil {
			t.Fatalf("reading count of %s: %s", device, body)
		}
		n += c.Count
	}
	return n
}

// stopPis stops the firmware and returns how many readings their queues say the hub
// acknowledged.
func (b *behindEdgeX) stopPis(t *testing.T) int {
	t.Helper()
	acked := 0
	for pi, p := range b.pis {
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
		q, err := queue.Open(localrun.PiQueue(b.dirs[pi]), queue.Options{Max: 1 << 30, Device: pi})
		if err != nil {
			t.Fatal(err)
		}
		st, err := q.Stats()
		if err != nil {
			t.Fatal(err)
		}
		recs, err := q.Peek(1 << 30)
		if err != nil {
			t.Fatal(err)
		}
		held := 0
		for _, r := range recs {
			held += len(r.Readings)
		}
		_ = q.Close()
		acked += int(st.LastSeq) - held
	}
	return acked
}

// inKafka returns the distinct readings in Kafka by identity (device, resource,
// origin: what the sender's InfluxDB point is keyed by) and checks their locations.
func (b *behindEdgeX) inKafka(t *testing.T) (distinct, records int) {
	t.Helper()
	type id struct {
		device, resource string
		origin           int64
	}
	seen := map[id]bool{}
	for _, msgs := range topicMessages(t, b.k.Addr) {
		for _, msg := range msgs {
			r, err := reading.Decode(msg.Value)
			if err != nil {
				t.Fatal(err)
			}
			if want := "sector-" + strings.TrimPrefix(r.Device, "pi-"); r.Location != want {
				t.Fatalf("reading %+v: location %q, want %q as the firmware sent it", r, r.Location, want)
			}
			seen[id{r.Device, r.Resource, r.Origin}] = true
			records++
		}
	}
	return len(seen), records
}

// stopAndCheckOnce stops the Pis, waits until the bridge has relayed (or, for what
// core-data stored twice and the bus brought twice, deduplicated by reading id)
// everything core-data stored, and fails t unless Kafka holds each reading the Pis'
// queues say was acknowledged once by identity.
func (b *behindEdgeX) stopAndCheckOnce(t *testing.T) (acked, stored, distinct, records int) {
	t.Helper()
	acked = b.stopPis(t)
	stored = b.stored(t)
	servertest.WaitFor(t, "everything core-data stored relayed or deduplicated", func() bool {
		return servertest.Metric(t, b.h.reg, "hub_relayed_total")+servertest.Metric(t, b.h.reg, "hub_duplicates_total") >= float64(stored) &&
			servertest.Metric(t, b.h.reg, "hub_backlog") == 0
	})
	distinct, records = b.inKafka(t)
	if distinct != acked {
		t.Errorf("Kafka holds %d distinct readings, the Pis' queues say %d were acknowledged", distinct, acked)
	}
	return acked, stored, distinct, records
}

// The bridge is away for 20 s while two Pis post to the real core-data: when it is
// back, everything core-data stored reaches Kafka, with the location the firmware
// sent. (With EdgeX's default QoS 0 the broker keeps nothing meanwhile, and this
// fails.)
func TestBridgeOutageBehindRealEdgeX(t *testing.T) {
	b := startBehindEdgeX(t, 2)
	if err := b.h.stop(); err != nil {
		t.Fatal(err)
	}
	atStop := b.stored(t)
	time.Sleep(20 * time.Second)
	if during := b.stored(t) - atStop; during < 100 {
		t.Fatalf("core-data stored only %d readings while the bridge was away", during)
	}
	h2 := startHub(t, b.cfg)
	time.Sleep(3 * time.Second)
	acked := b.stopPis(t)
	want := b.stored(t)
	servertest.WaitFor(t, "everything core-data stored relayed", func() bool {
		return servertest.Metric(t, b.h.reg, "hub_relayed_total")+servertest.Metric(t, h2.reg, "hub_relayed_total") >= float64(want) &&
			servertest.Metric(t, h2.reg, "hub_backlog") == 0
	})
	distinct, records := b.inKafka(t)
	if distinct != want || acked != want {
		t.Errorf("Kafka holds %d distinct readings (%d records), core-data stored %d, the Pis' queues say %d were acknowledged", distinct, records, want, acked)
	}
	t.Logf("%d readings acknowledged and stored by core-data, all in Kafka; %d stored while the bridge was away", want, want-atStop)
}

// core-data freezes (SIGSTOP) for longer than the firmware's HTTP timeout: the Pis
// retry events core-data may already have stored, and core-data 4.0.2 stores a
// re-posted event again (no unique key on the event id). Downstream each reading is
// still there once per identity, the key of its InfluxDB point.
func TestCoreDataFrozenBehindRealEdgeX(t *testing.T) {
	b := startBehindEdgeX(t, 2, "--http-timeout", "1s")
	if err := b.e.Data.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	if err := b.e.Data.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	acked, want, distinct, records := b.stopAndCheckOnce(t)
	t.Logf("%d readings acknowledged; core-data stored %d (%d again after a retry); the outbox dropped %v repeats; Kafka %d records, %d distinct",
		acked, want, want-acked, servertest.Metric(t, b.h.reg, "hub_duplicates_total"), records, distinct)
}

// core-data is down for 30 s while five Pis sample into their queues; when it is back
// they all drain their backlogs at once. core-data keeps up (nothing unique per reading
// in its tags), and every acknowledged reading reaches Kafka once.
func TestCoreDataDownBehindRealEdgeX(t *testing.T) {
	b := startBehindEdgeX(t, 5)
	if err := b.e.Data.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Second)
	servertest.Start(t, b.e.Data)
	servertest.WaitFor(t, "the backlogs drained", func() bool {
		for _, p := range b.pis {
			if !strings.Contains(p.Tail(), "hub reachable again") {
				return false
			}
		}
		return true
	})
	acked, want, distinct, records := b.stopAndCheckOnce(t)
	t.Logf("%d readings acknowledged by 5 Pis over a 30 s core-data outage; core-data stored %d; Kafka %d records, %d distinct", acked, want, records, distinct)
}
