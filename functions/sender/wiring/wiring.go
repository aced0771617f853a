// Package wiring builds the real-time data sender from its Config and runs it: a Kafka
// consumer group reader, the InfluxDB store, the dead-letter writer, the weather cache
// and the consumer loop of package consume. The sender binary (functions/sender) is a
// thin main around it; benchmarks and tests run the same thing in-process:
//
//	cfg := wiring.Defaults()
//	cfg.KafkaBrokers, cfg.InfluxURL = ..., ...
//	s, err := wiring.New(cfg, logger, registry)
//	...
//	err = service.Run(ctx, s.Run) // or with its admin server: wiring.Run
package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/smartx-team/overcloud/functions/internal/service"
	"github.com/smartx-team/overcloud/functions/sender/consume"
	"github.com/smartx-team/overcloud/functions/sender/stats"
	"github.com/smartx-team/overcloud/functions/sender/store"
	"github.com/smartx-team/overcloud/functions/sender/weather"
)

// Group timing: a sender that dies without leaving the group holds its partitions
// until the session times out, so keep that short (Kafka's minimum is 6 s).
const (
	sessionTimeout    = 10 * time.Second
	rebalanceTimeout  = 10 * time.Second
	heartbeatInterval = time.Second
	joinGroupBackoff  = time.Second
)

// Sender is the running sender's parts. Run it once; Ready may be called concurrently.
type Sender struct {
	cfg      Config
	log      *slog.Logger
	clientID string
	reader   *kafka.Reader
	dead     *kafka.Writer
	admin    *kafka.Client
	tr       *kafka.Transport
	store    *store.Store
	cache    *weather.Cache // nil without weather
	consumer *consume.Consumer
	stats    *stats.Reporter // nil when SENDER_STATS_INTERVAL is 0

	closeOnce sync.Once
	closeErr  error
}

// New builds the sender from cfg (which it validates) and reads its secret files. It
// joins the consumer group at once but fetches nothing until Run. Metrics go on reg
// (nil: a private registry); log may be nil (discard). If Run is never called, Close
// releases what New opened.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (_ *Sender, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	token, err := service.ReadSecret(cfg.InfluxToken, cfg.InfluxTokenFile)
	if err != nil {
		return nil, fmt.Errorf("%w: SENDER_INFLUX_TOKEN_FILE: %w", ErrConfig, err)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sender{cfg: cfg, log: log, clientID: clientID()}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()

	if s.store, err = store.New(store.Options{
		URL: cfg.InfluxURL, Token: token, Org: cfg.InfluxOrg, Bucket: cfg.InfluxBucket, DefaultLocation: cfg.Location,
	}); err != nil {
		return nil, err
	}
	var w consume.Weather
	if s.cache, err = newWeather(cfg, log, reg); err != nil {
		return nil, err
	}
	if s.cache != nil {
		w = s.cache
	}

	brokers := cfg.brokers()
	s.tr = &kafka.Transport{ClientID: s.clientID, DialTimeout: 10 * time.Second, MetadataTopics: []string{cfg.KafkaTopic, cfg.DeadLetterTopic}}
	s.admin = &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second, Transport: s.tr}
	s.dead = &kafka.Writer{
		Addr: kafka.TCP(brokers...), Topic: cfg.DeadLetterTopic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, MaxAttempts: 3,
		Transport: s.tr, ErrorLogger: kafkaLogger(log, "dead-letter writer"),
	}
	s.reader = kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, GroupID: cfg.KafkaGroup, Topic: cfg.KafkaTopic,
		Dialer:        &kafka.Dialer{ClientID: s.clientID, Timeout: 10 * time.Second, DualStack: true},
		QueueCapacity: cfg.BatchSize, // the next batch arrives while this one is written
		MaxBytes:      8 << 20,
		MaxWait:       time.Second,
		StartOffset:   kafka.FirstOffset, CommitInterval: 0, // commits are synchronous and ours
		HeartbeatInterval: heartbeatInterval, SessionTimeout: sessionTimeout,
		RebalanceTimeout: rebalanceTimeout, JoinGroupBackoff: joinGroupBackoff,
		WatchPartitionChanges: true,
		ErrorLogger:           kafkaLogger(log, "reader"),
	})
	if s.consumer, err = consume.New(s.reader, s.store, s.dead, w, consume.Options{
		BatchSize: cfg.BatchSize, BatchWait: cfg.BatchWait, Logger: log, Registerer: reg,
	}); err != nil {
		return nil, err
	}
	lag := newLagCollector(s.admin, cfg.KafkaTopic, cfg.KafkaGroup, log)
	if err := reg.Register(lag); err != nil {
		return nil, fmt.Errorf("register the lag metrics: %w", err)
	}
	if cfg.StatsInterval > 0 {
		if s.stats, err = stats.New(stats.Options{
			Interval: cfg.StatsInterval, Instance: instance(), Totals: s.totals, Lag: lag.sum,
			Writer: s.store, Logger: log,
		}); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// newWeather builds the cache for the provider in effect; nil for none.
func newWeather(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*weather.Cache, error) {
	var p weather.Provider
	switch cfg.Provider() {
	case ProviderNone:
		return nil, nil
	case ProviderOWM:
		key, err := service.ReadSecret(cfg.OWMAPIKey, cfg.OWMAPIKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: SENDER_OWM_API_KEY_FILE: %w", ErrConfig, err)
		}
		if key == "" {
			return nil, fmt.Errorf("%w: SENDER_WEATHER_PROVIDER=owm needs a non-empty SENDER_OWM_API_KEY or SENDER_OWM_API_KEY_FILE", ErrConfig)
		}
		if p, err = weather.NewOWM(cfg.OWMURL, key, nil); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	default:
		var err error
		if p, err = weather.NewOpenMeteo(cfg.OpenMeteoURL, nil); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	m, err := weather.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	return weather.NewCache(p, weather.Location{Lat: cfg.Latitude, Lon: cfg.Longitude}, weather.CacheOptions{
		TTL: cfg.WeatherTTL, MaxAge: cfg.WeatherMaxAge, Logger: log, Metrics: m,
	}), nil
}

// Run consumes until ctx ends, then closes everything (see Close). It returns nil
// after a cancel, else the error that stopped it. The stats reporter runs alongside
// and stops after the consumer, so its last point counts the last batch, and before
// Close, which closes the store it writes to.
func (s *Sender) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	sctx, stopStats := context.WithCancel(ctx)
	if s.stats != nil {
		wg.Go(func() { s.stats.Run(sctx) })
	}
	err := s.consumer.Run(ctx)
	stopStats()
	wg.Wait()
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	return errors.Join(err, s.Close())
}

// totals are the consumer's counts, as the stats reporter takes them.
func (s *Sender) totals() stats.Totals {
	t := s.consumer.Totals()
	return stats.Totals{
		Consumed: t.Consumed, Written: t.Written, DeadLetters: t.DeadLetters, WriteErrors: t.WriteErrors,
		OriginToStoredSeconds: t.OriginToStoredSeconds,
	}
}

// Ready reports nil once InfluxDB answers /ping and this sender is a member of its
// consumer group; it says which is missing otherwise.
func (s *Sender) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return err
	}
	resp, err := s.admin.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{s.cfg.KafkaGroup}})
	if err != nil {
		return fmt.Errorf("kafka: describe group %s: %w", s.cfg.KafkaGroup, err)
	}
	for _, g := range resp.Groups {
		if g.Error != nil {
			return fmt.Errorf("kafka: group %s: %w", s.cfg.KafkaGroup, g.Error)
		}
		for _, m := range g.Members {
			if m.ClientID == s.clientID {
				return nil
			}
		}
	}
	return fmt.Errorf("kafka: not yet a member of group %s", s.cfg.KafkaGroup)
}

// Close leaves the consumer group, closes the writers and stops the weather cache.
// Run calls it; it is safe to call more than once.
func (s *Sender) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.reader != nil {
			errs = append(errs, s.reader.Close())
		}
		if s.dead != nil {
			errs = append(errs, s.dead.Close())
		}
		if s.tr != nil {
			s.tr.CloseIdleConnections()
		}
		if s.cache != nil {
			s.cache.Close()
		}
		if s.store != nil {
			s.store.Close()
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// instance tags this sender's stats points: the host name, which is the pod's name on
// Kubernetes, so that the points of several replicas stay apart and add up.
func instance() string {
	if host, err := os.Hostname(); err == nil && host != "" {
		return host
	}
	return "sender"
}

// clientID names this process in the group, so Ready can find itself among the members.
func clientID() string {
	host, _ := os.Hostname()
	return "smartx-sender-" + host + "-" + strconv.Itoa(os.Getpid()) + "-" + uuid.NewString()[:8]
}

// kafkaLogger passes kafka-go's error reports to the log as warnings: its clients
// retry on their own, so these are not failures of the sender.
func kafkaLogger(log *slog.Logger, part string) kafka.LoggerFunc {
	l := log.With("kafka", part)
	return func(msg string, args ...any) { l.Warn(fmt.Sprintf(msg, args...)) }
}

// Run builds the sender from cfg, serves its admin endpoints (/healthz, /readyz,
// /metrics) on cfg.AdminListen, logs one start line with the settings (never the
// secrets) and runs until ctx ends. Errors that are the settings' fault wrap ErrConfig.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	reg := service.NewRegistry()
	s, err := New(cfg, log, reg)
	if err != nil {
		return err
	}
	admin, err := service.NewAdmin(cfg.AdminListen, reg, s.Ready)
	if err != nil {
		_ = s.Close()
		return err
	}
	if cfg.Pprof {
		admin.EnablePprof()
	}
	log.Info("sender starting", "config", cfg, "admin", admin.Addr())
	return service.Run(ctx, admin.Run, s.Run)
}
