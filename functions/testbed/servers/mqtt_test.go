package servers_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// TestMQTT subscribes one client and publishes from another, before and after a
// restart of the broker on the same port.
func TestMQTT(t *testing.T) {
	t.Parallel()
	m := servertest.MQTT(t)
	ctx := ctxFor(t, 30*time.Second)
	pubsub(ctx, t, m, "edgex/events/core/a")
	restart(t, m.Proc)
	pubsub(ctx, t, m, "edgex/events/core/b")
	stop(t, m.Proc)
}

// pubsub checks that a QoS 1 message published on topic reaches a subscriber.
func pubsub(ctx context.Context, t *testing.T, m *servers.MQTT, topic string) {
	t.Helper()
	got := make(chan *paho.Publish, 1)
	sub := dialMQTT(ctx, t, m, "sub", func(pr paho.PublishReceived) (bool, error) {
		select {
		case got <- pr.Packet:
		default:
		}
		return true, nil
	})
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	pub := dialMQTT(ctx, t, m, "pub", nil)
	if _, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("hello " + topic)}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p.Topic != topic || string(p.Payload) != "hello "+topic {
			t.Errorf("got %s %q", p.Topic, p.Payload)
		}
	case <-ctx.Done():
		t.Fatal("no message received")
	}
}

// dialMQTT connects a client to m; it is disconnected when the test ends.
func dialMQTT(ctx context.Context, t *testing.T, m *servers.MQTT, id string, onMsg func(paho.PublishReceived) (bool, error)) *paho.Client {
	t.Helper()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := paho.ClientConfig{Conn: conn}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){onMsg}
	}
	c := paho.NewClient(cfg)
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: t.Name() + "-" + id, CleanStart: true, KeepAlive: 30})
	if err != nil {
		_ = conn.Close()
		t.Fatal(err)
	}
	if ack.ReasonCode != 0 {
		t.Fatalf("connack reason %d", ack.ReasonCode)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}
