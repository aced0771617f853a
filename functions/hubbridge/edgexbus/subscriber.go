// Package edgexbus feeds the hub from a real EdgeX deployment: it subscribes to
// EdgeX's MQTT message bus (QoS 1, persistent session), decodes each message envelope
// into an AddEventRequest, hands it to the intake, and acknowledges the MQTT message
// only after the readings are durable, so a hub crash makes the broker redeliver.
//
// Messages of one device are handled in order (devices are spread over workers by a
// hash of the name); different devices in parallel, so the outbox can group their
// writes. A message that can never succeed (not an EdgeX event, or refused by EdgeX's
// validation) is counted in hub_rejected_total, logged without its payload, and
// acknowledged.
package edgexbus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"

	"github.com/smartx-team/overcloud/functions/hubbridge/intake"
)

// DefaultTopic is where EdgeX core-data republishes the events it receives; device
// services publish theirs under edgex/events/device/, so "edgex/events/#" takes both.
const DefaultTopic = "edgex/events/core/#"

// Options configure a Subscriber; URL and Intake are required.
type Options struct {
	// URL of the broker: mqtt://host:1883 (or tls://, ws://).
	URL string
	// Topic filter (default DefaultTopic).
	Topic string
	// ClientID must be stable so the broker keeps the session across restarts
	// (default "smartx-hubbridge").
	ClientID string
	// Username and Password, if the broker wants them.
	Username, Password string
	// Intake stores the events.
	Intake *intake.Intake
	// Locate returns a device's location, "" if unknown (default: always "").
	Locate func(ctx context.Context, device string) string
	// Workers handle devices in parallel (default 8).
	Workers int
	// SessionExpiry is how long the broker keeps the session, and the messages for it,
	// while the hub is away (default 1 h).
	SessionExpiry time.Duration
	// MaxBackoff caps the wait between store retries (default 5 s).
	MaxBackoff time.Duration
	// Logger (default: discard).
	Logger *slog.Logger
}

// Subscriber is an EdgeX message-bus consumer. Run it once.
type Subscriber struct {
	opts   Options
	url    *url.URL
	log    *slog.Logger
	shards []chan job
	quit   chan struct{}
	subbed atomic.Bool
}

type job struct {
	req requests.AddEventRequest
	pr  paho.PublishReceived
}

// New checks o; it connects only in Run.
func New(o Options) (*Subscriber, error) {
	if o.URL == "" || o.Intake == nil {
		return nil, errors.New("edgexbus: URL and Intake are required")
	}
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("edgexbus: broker URL %q: want mqtt://host:port", redact(o.URL))
	}
	if o.Topic == "" {
		o.Topic = DefaultTopic
	}
	if o.ClientID == "" {
		o.ClientID = "smartx-hubbridge"
	}
	if o.Locate == nil {
		o.Locate = func(context.Context, string) string { return "" }
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.SessionExpiry <= 0 {
		o.SessionExpiry = time.Hour
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Subscriber{opts: o, url: u, log: o.Logger, quit: make(chan struct{})}
	for range o.Workers {
		s.shards = append(s.shards, make(chan job, 64))
	}
	return s, nil
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

// Run connects (retrying until the broker is up), subscribes and handles messages
// until ctx ends. Then it lets each worker finish the message in hand (stored and
// acknowledged), leaves queued messages unacknowledged for the broker to redeliver,
// and disconnects.
func (s *Subscriber) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	// A store in flight at shutdown gets a grace period to finish and be acknowledged;
	// past it the message stays unacknowledged and the broker redelivers it.
	storeCtx, cancelStores := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStores()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(5*time.Second, cancelStores) })
	defer stopGrace()
	for _, ch := range s.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.work(ctx, storeCtx, ch)
		}()
	}
	connCtx, stopConn := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConn()
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{s.url},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         uint32(s.opts.SessionExpiry / time.Second),
		ReconnectBackoff:              autopaho.NewExponentialBackoff(500*time.Millisecond, 10*time.Second, time.Second, 2),
		ConnectUsername:               s.opts.Username,
		ConnectPassword:               []byte(s.opts.Password),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			sctx, cancel := context.WithTimeout(connCtx, 10*time.Second)
			defer cancel()
			if _, err := cm.Subscribe(sctx, &paho.Subscribe{
				Subscriptions: []paho.SubscribeOptions{{Topic: s.opts.Topic, QoS: 1}},
			}); err != nil {
				s.log.Error("subscribe to the EdgeX message bus", "topic", s.opts.Topic, "err", err)
				return
			}
			s.subbed.Store(true)
			s.log.Info("subscribed to the EdgeX message bus", "broker", s.url.Redacted(), "topic", s.opts.Topic)
		},
		OnConnectError: func(err error) {
			s.log.Warn("connect to the EdgeX message bus", "broker", s.url.Redacted(), "err", err)
		},
		ClientConfig: paho.ClientConfig{
			ClientID:                   s.opts.ClientID,
			EnableManualAcknowledgment: true,
			OnPublishReceived:          []func(paho.PublishReceived) (bool, error){s.receive},
			OnClientError: func(err error) {
				s.log.Warn("EdgeX message bus client", "err", err)
			},
		},
	}
	cm, err := autopaho.NewConnection(connCtx, cfg)
	if err != nil {
		close(s.quit)
		wg.Wait()
		return fmt.Errorf("edgexbus: %w", err)
	}
	<-ctx.Done()
	close(s.quit)
	wg.Wait()
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = cm.Disconnect(dctx)
	return nil
}

// Subscribed reports whether the subscription was made (on the current or an
// earlier connection; the broker keeps it with the session).
func (s *Subscriber) Subscribed() bool { return s.subbed.Load() }

// receive runs on paho's goroutine: decode, then queue for the device's worker
// (blocking while that worker is busy, which holds the broker back).
func (s *Subscriber) receive(pr paho.PublishReceived) (bool, error) {
	select {
	case <-s.quit:
		return true, nil // not acknowledged: redelivered to the next session
	default:
	}
	req, reason, err := DecodeEnvelope(pr.Packet.Payload)
	if err != nil {
		s.opts.Intake.Reject(reason)
		s.log.Warn("drop message from the EdgeX message bus", "topic", pr.Packet.Topic, "reason", reason, "err", err)
		s.ack(pr)
		return true, nil
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(req.Event.DeviceName))
	select {
	case s.shards[h.Sum32()%uint32(len(s.shards))] <- job{req: req, pr: pr}:
	case <-s.quit:
	}
	return true, nil
}

// work stores one device shard's events in order, retrying a failed store until it
// succeeds or ctx ends, and acknowledges each after it is stored.
func (s *Subscriber) work(ctx, storeCtx context.Context, ch <-chan job) {
	for {
		var j job
		select {
		case <-s.quit:
			return
		case j = <-ch:
		}
		ev := j.req.Event
		var backoff time.Duration
		for {
			res, err := s.opts.Intake.Accept(storeCtx, ev, s.opts.Locate(storeCtx, ev.DeviceName))
			if err == nil {
				if len(res.Rejected) > 0 {
					s.log.Info("readings refused", "device", ev.DeviceName, "detail", res.Message())
				}
				break
			}
			s.log.Warn("store event from the EdgeX message bus; retrying", "device", ev.DeviceName, "err", err)
			backoff = min(max(2*backoff, 100*time.Millisecond), s.opts.MaxBackoff)
			select {
			case <-ctx.Done():
				return // not acknowledged: redelivered to the next session
			case <-time.After(backoff):
			}
		}
		s.ack(j.pr)
	}
}

func (s *Subscriber) ack(pr paho.PublishReceived) {
	if err := pr.Client.Ack(pr.Packet); err != nil {
		s.log.Debug("acknowledge MQTT message", "err", err)
	}
}
