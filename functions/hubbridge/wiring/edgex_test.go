package wiring

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"
	"github.com/google/uuid"

	"github.com/smartx-team/overcloud/functions/hubbridge/edgexbus"
	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/testbed/promscrape"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// publisher is an EdgeX stand-in on the MQTT bus: it publishes with QoS 1.
type publisher struct{ cm *autopaho.ConnectionManager }

func newPublisher(t *testing.T, broker string) *publisher {
	t.Helper()
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30, CleanStartOnInitialConnection: true,
		ClientConfig: paho.ClientConfig{ClientID: "test-edgex-core-data"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		_ = cm.Disconnect(dctx)
		cancel()
	})
	actx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	if err := cm.AwaitConnection(actx); err != nil {
		t.Fatal(err)
	}
	return &publisher{cm: cm}
}

func (p *publisher) publish(t *testing.T, topic string, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.cm.Publish(ctx, &paho.Publish{QoS: 1, Topic: topic, Payload: payload}); err != nil {
		t.Fatal(err)
	}
}

// edgexEvent is an event as an EdgeX device service makes it: reading ids, no seq.
func edgexEvent(device string, temp float64) requests.AddEventRequest {
	ev := dtos.NewEvent("room-sensor", device, "room")
	if err := ev.AddSimpleReading("temperature", common.ValueTypeFloat64, temp); err != nil {
		panic(err)
	}
	if err := ev.AddSimpleReading("humidity", common.ValueTypeInt16, int16(40)); err != nil {
		panic(err)
	}
	return requests.NewAddEventRequest(ev)
}

func edgexTopic(ev dtos.Event) string {
	return fmt.Sprintf("edgex/events/core/device-virtual/%s/%s/%s", ev.ProfileName, ev.DeviceName, ev.SourceName)
}

// encode publishes the request in one of the shapes EdgeX uses, by i.
func encode(t *testing.T, req requests.AddEventRequest, i int) []byte {
	t.Helper()
	var b []byte
	var err error
	switch i % 3 {
	case 0:
		b, err = edgexbus.Envelope(req, false) // EdgeX 4
	case 1:
		b, err = edgexbus.Envelope(req, true) // EdgeX 3
	default:
		b, err = json.Marshal(req) // a bare AddEventRequest
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkEdgeX checks Kafka holds exactly the readings of sent, each once, numbered per
// device consecutively in publish order by the hub (from wherever its epoch starts).
func checkEdgeX(t *testing.T, kafkaAddr string, sent []requests.AddEventRequest) {
	t.Helper()
	want := map[string]bool{}
	for _, req := range sent {
		for _, r := range req.Event.Readings {
			want[r.Id] = true
		}
	}
	got := 0
	lastSeq := map[string]uint64{}
	for _, msgs := range topicMessages(t, kafkaAddr) {
		for _, m := range msgs {
			r, err := reading.Decode(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			if !want[r.ID] {
				t.Errorf("unexpected or repeated reading %+v", r)
			}
			delete(want, r.ID)
			got++
			if last, ok := lastSeq[r.Device]; ok && r.Seq != last+1 {
				t.Errorf("%s: seq %d after %d", r.Device, r.Seq, last)
			}
			lastSeq[r.Device] = r.Seq
		}
	}
	if len(want) > 0 {
		t.Errorf("%d readings missing from Kafka (%d there)", len(want), got)
	}
}

// EdgeX mode: events published on EdgeX's message bus in every envelope shape reach
// Kafka; what is not an EdgeX event is counted and dropped.
func TestEdgeXMode(t *testing.T) {
	m := servertest.Mongo(t)
	k := servertest.Kafka(t, topic)
	q := servertest.MQTT(t)
	cfg := testConfig(m.URI, k.Addr)
	cfg.Mode, cfg.MQTTURL = ModeEdgeX, q.URL
	h := startHub(t, cfg)
	servertest.WaitFor(t, "the subscription", h.sub.Subscribed)
	if h.Addr() != "" {
		t.Errorf("edgex mode serves the REST ingest on %s", h.Addr())
	}
	// A dashboard must be able to show a zero before the first failed lookup.
	if fams, err := promscrape.Gather(h.reg); err != nil {
		t.Fatal(err)
	} else if v, ok := fams.Value("hub_locate_errors_total"); !ok || v != 0 {
		t.Errorf("hub_locate_errors_total = %v (present %v), want 0 from the start", v, ok)
	}

	pub := newPublisher(t, q.URL)
	var sent []requests.AddEventRequest
	for i := range 30 {
		req := edgexEvent(fmt.Sprintf("virtual-%d", i%4), 20+float64(i)/10)
		sent = append(sent, req)
		pub.publish(t, edgexTopic(req.Event), encode(t, req, i))
	}
	pub.publish(t, "edgex/events/core/x/y/z/w", []byte("not an event"))
	bad := edgexEvent("virtual-0", 20)
	bad.Event.Id = "not-a-uuid"
	pub.publish(t, edgexTopic(bad.Event), encode(t, bad, 0))

	servertest.WaitFor(t, "every reading relayed", func() bool {
		return servertest.Metric(t, h.reg, "hub_relayed_total") >= 60 && servertest.Metric(t, h.reg, "hub_backlog") == 0
	})
	checkEdgeX(t, k.Addr, sent)
	servertest.WaitFor(t, "the bad messages counted", func() bool {
		return servertest.Metric(t, h.reg, "hub_rejected_total", "reason", "undecodable") == 1 && servertest.Metric(t, h.reg, "hub_rejected_total", "reason", "invalid") == 1
	})
}

// A message is acknowledged only once stored: with MongoDB down the hub cannot store,
// stops without acknowledging, and the broker hands the messages to the next run.
func TestEdgeXAckAfterStore(t *testing.T) {
	m := servertest.Mongo(t)
	k := servertest.Kafka(t, topic)
	q := servertest.MQTT(t)
	cfg := testConfig(m.URI, k.Addr)
	cfg.Mode, cfg.MQTTURL, cfg.MQTTClientID = ModeEdgeX, q.URL, "hub-"+uuid.NewString()
	h := startHub(t, cfg)
	servertest.WaitFor(t, "the subscription", h.sub.Subscribed)
	pub := newPublisher(t, q.URL)

	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	var sent []requests.AddEventRequest
	for i := range 6 {
		req := edgexEvent(fmt.Sprintf("virtual-%d", i%2), 21)
		sent = append(sent, req)
		pub.publish(t, edgexTopic(req.Event), encode(t, req, i))
	}
	// The hub must have received the messages and failed to store them before it
	// stops; else this would pass with a hub that never saw them.
	servertest.WaitFor(t, "store errors while MongoDB is down", func() bool {
		return servertest.Metric(t, h.reg, "hub_accept_errors_total") >= 2 // one per device at least
	})
	// Each of those messages first asked the registry for its device's location,
	// which failed too; that is counted on its own, as it would not stop a store.
	if got := servertest.Metric(t, h.reg, "hub_locate_errors_total"); got < 2 {
		t.Errorf("hub_locate_errors_total = %v with MongoDB down, want at least 2", got)
	}
	if err := h.stop(); err != nil {
		t.Logf("hub stopped with MongoDB down: %v", err)
	}
	servertest.Start(t, m.Proc)
	h2 := startHub(t, cfg)
	servertest.WaitFor(t, "the redelivered readings relayed", func() bool {
		return servertest.Metric(t, h2.reg, "hub_relayed_total") >= 12 && servertest.Metric(t, h2.reg, "hub_backlog") == 0
	})
	checkEdgeX(t, k.Addr, sent)
}
