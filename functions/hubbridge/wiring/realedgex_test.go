package wiring

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/testbed/localrun"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// The bridge behind EdgeX 4.0.2's own core services, with QoS 1 as the EdgeX component
// sets it: two Pis of our firmware post to core-data, the bridge is away for 20 s while
// they do, and when it is back everything core-data stored reaches Kafka, with the
// location the firmware sent.
func TestBridgeOutageBehindRealEdgeX(t *testing.T) {
	e, bus := servertest.EdgeX(t, servers.EdgeXOptions{QoS: 1})
	m := servertest.Mongo(t)
	k := servertest.Kafka(t, topic)
	cfg := testConfig(m.URI, k.Addr)
	cfg.Mode, cfg.MQTTURL, cfg.MQTTClientID = ModeEdgeX, bus.URL, "hub-"+uuid.NewString()
	h := startHub(t, cfg)
	servertest.WaitFor(t, "the subscription", h.sub.Subscribed)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pis := map[string]*servers.Proc{}
	for i, pi := range []string{"pi-1", "pi-2"} {
		dir := t.TempDir()
		logf, err := os.Create(filepath.Join(dir, "firmware.log"))
		if err != nil {
			t.Fatal(err)
		}
		p, _, err := localrun.NewPi(ctx, dir, localrun.Pi{
			Device: pi, Location: fmt.Sprintf("sector-%d", i+1), Interval: 200 * time.Millisecond,
			HubURL: e.DataURL, MetadataURL: e.MetadataURL,
		}, logf)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Stop(); _ = logf.Close() })
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		pis[pi] = p
	}
	servertest.WaitFor(t, "readings relayed before the outage", func() bool { return servertest.Metric(t, h.reg, "hub_relayed_total") >= 50 })
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	stored := func(device string) int {
		resp, err := http.Get(e.DataURL + "/api/v3/reading/count/device/name/" + device)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var c struct{ Count int }
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("reading count of %s: %s", device, b)
		}
		return c.Count
	}
	atStop := stored("pi-1") + stored("pi-2")
	time.Sleep(20 * time.Second)
	if during := stored("pi-1") + stored("pi-2") - atStop; during < 100 {
		t.Fatalf("core-data stored only %d readings while the bridge was away", during)
	}
	h2 := startHub(t, cfg)
	time.Sleep(3 * time.Second)
	for _, p := range pis {
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	want := stored("pi-1") + stored("pi-2")
	servertest.WaitFor(t, "everything core-data stored relayed", func() bool {
		return servertest.Metric(t, h.reg, "hub_relayed_total")+servertest.Metric(t, h2.reg, "hub_relayed_total") >= float64(want) &&
			servertest.Metric(t, h2.reg, "hub_backlog") == 0
	})
	// Identity is device, resource and origin: the bus may deliver a message twice.
	type id struct {
		device, resource string
		origin           int64
	}
	seen := map[id]bool{}
	for _, msgs := range topicMessages(t, k.Addr) {
		for _, msg := range msgs {
			r, err := reading.Decode(msg.Value)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[string]string{"pi-1": "sector-1", "pi-2": "sector-2"}[r.Device]; r.Location != want {
				t.Fatalf("reading %+v: location %q, want %q as the firmware sent it", r, r.Location, want)
			}
			seen[id{r.Device, r.Resource, r.Origin}] = true
		}
	}
	if len(seen) != want {
		t.Errorf("Kafka holds %d distinct readings, core-data stored %d", len(seen), want)
	}
	t.Logf("%d readings stored by core-data, all in Kafka; %d stored while the bridge was away", want, want-atStop)
}
