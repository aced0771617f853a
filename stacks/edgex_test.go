package main

import (
	"context"
	"fmt"
	"net"
	"sort"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/smartx-team/overcloud/components/edgex"
	"github.com/smartx-team/overcloud/functions/testbed/fleet"
	"github.com/smartx-team/overcloud/functions/testbed/localrun"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// The EdgeX component's own settings run EdgeX 4.0.2's core services: its common
// configuration file, its environment (with the local addresses in place of the
// cluster's) and a database user and password other than EdgeX's defaults, the
// password by environment as the component passes it from a Secret. A Pi registers
// and posts, and core-data publishes its events on the bus with QoS 1, which is what
// lets the broker keep them for the hub bridge's persistent session.
//
// The component's broker queue holds more for a client that is away than mosquitto's
// default 1000 messages: see TestBrokerQueuesForTheAwayBridge.
func TestEdgeXComponentSettingsRunRealEdgeX(t *testing.T) {
	const user, password = "edgex", "not-the-default"
	var env []string
	for k, v := range edgex.Env(edgex.Addresses{Host: "core", Port: 1, DatabaseHost: "db", DatabasePort: 2, BusHost: "bus", BusPort: 3, MetadataHost: "meta", MetadataPort: 4}) {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	e, bus := servertest.EdgeX(t, servers.EdgeXOptions{
		CommonConfig: edgex.CommonConfig, Env: env, DBUser: user, DBPassword: password, BrokerConfig: edgex.BrokerQueue,
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	qos := make(chan byte, 16)
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", bus.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			select {
			case qos <- pr.Packet.QoS:
			default:
			}
			return true, nil
		}},
	})
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "settings-check", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "edgex/events/core/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	servertest.Pi(t, localrun.Pi{Device: "pi-1", HubURL: e.DataURL, MetadataURL: e.MetadataURL, Interval: 200 * time.Millisecond})
	for i := range 3 {
		select {
		case q := <-qos:
			if q != 1 {
				t.Fatalf("event %d came off the bus with QoS %d, want 1", i+1, q)
			}
		case <-ctx.Done():
			t.Fatal(fmt.Errorf("no event of core-data on the bus: %w", ctx.Err()))
		}
	}
}

// With the component's broker settings, a client with a persistent session (the hub
// bridge) that is away while 1500 QoS 1 events are published gets all of them when it
// is back; mosquitto's default would keep 1000.
func TestBrokerQueuesForTheAwayBridge(t *testing.T) {
	bus := servertest.MQTTWith(t, edgex.BrokerQueue)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const events = 1500
	got := make(chan struct{}, events)
	connect := func(id string, clean bool) *paho.Client {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", bus.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c := paho.NewClient(paho.ClientConfig{
			Conn: conn,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(paho.PublishReceived) (bool, error) {
				got <- struct{}{}
				return true, nil
			}},
		})
		expiry := uint32(300)
		if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	bridge := connect("bridge", true)
	if _, err := bridge.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "edgex/events/core/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := bridge.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	core := connect("core-data", true)
	for i := range events {
		if _, err := core.Publish(ctx, &paho.Publish{Topic: fmt.Sprintf("edgex/events/core/p/s/pi-1/%d", i), QoS: 1, Payload: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	_ = core.Disconnect(&paho.Disconnect{})
	back := connect("bridge", false)
	t.Cleanup(func() { _ = back.Disconnect(&paho.Disconnect{}) })
	for i := range events {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("the bridge got %d of the %d events published while it was away", i, events)
		}
	}
}

// Core-data with the component's pool keeps storing when many new devices post their
// first events at once; with EdgeX's own pool of 4 it stops for good once more than 4
// do (its transactions wait for connections none gives back). servertest gives the
// setting to every core service, the component to core-data only.
func TestCoreDataPoolOutlastsNewDevicesAtOnce(t *testing.T) {
	var env []string
	for k, v := range edgex.CoreDataEnv() {
		env = append(env, k+"="+v)
	}
	e, _ := servertest.EdgeX(t, servers.EdgeXOptions{CommonConfig: edgex.CommonConfig, Env: env, BrokerConfig: edgex.BrokerQueue})
	const devices = 32 // well past 4, within the component's pool
	f, err := fleet.New(fleet.Options{HubURL: e.DataURL, MetadataURL: e.MetadataURL, Devices: devices, Interval: time.Millisecond, NoSeq: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.Register(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithTimeout(ctx, 3*time.Second)
	_ = f.Run(runCtx) // every device's first event at once, then back to back
	stop()
	acked := f.Stats().AckedReadings / 2
	if acked < devices {
		t.Fatalf("core-data acknowledged %d events of %d devices posting for 3 s", acked, devices)
	}
	// Core-data can still read its database: it counts what it stored. (4.0.2 may send
	// the answer of a post the fleet abandoned at the end instead: ask again.)
	var count int64
	servertest.WaitFor(t, "core-data to count its events", func() bool {
		var err error
		count, err = e.EventCount(ctx)
		return err == nil
	})
	if count < acked {
		t.Fatalf("core-data holds %d events but acknowledged %d", count, acked)
	}
}
