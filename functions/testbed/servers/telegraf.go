package servers

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// Defaults of TelegrafOptions.
const (
	// DefaultTelegrafGroup is the consumer group Telegraf joins unless told otherwise.
	DefaultTelegrafGroup = "telegraf"
	// DefaultTelegrafLocation tags readings that carry no location, as the sender
	// does (it must equal sender/store.DefaultLocation; a test checks it).
	DefaultTelegrafLocation = "Gwangju"
	// DefaultTelegrafBatchSize is Telegraf's own metric_batch_size default.
	DefaultTelegrafBatchSize = 1000
	// DefaultTelegrafKafkaVersion is the protocol level Telegraf speaks to Kafka unless
	// told otherwise. Telegraf's own default, 0.10.2.0, fetches with Fetch v3, which
	// kfake (Fetch v4 and later) and Kafka 4 (2.1 and later, KIP-896) refuse: the
	// consumer joins its group and then fails every fetch with EOF. 2.1.0 is sarama's
	// own default.
	DefaultTelegrafKafkaVersion = "2.1.0"
	// DefaultTelegrafFlushInterval replaces Telegraf's 10 s, which would make it
	// look slow in a benchmark for no reason but its config.
	DefaultTelegrafFlushInterval = time.Second
)

// TelegrafOptions configures NewTelegraf. Brokers, Topic, InfluxURL and Bucket are
// required; everything else has a default.
type TelegrafOptions struct {
	// Brokers are the Kafka bootstrap addresses ("127.0.0.1:port"). Required.
	Brokers []string
	// Topic is the readings topic to consume. Required.
	Topic string
	// ConsumerGroup is the Kafka consumer group (default DefaultTelegrafGroup). Give
	// it one the sender does not use, or the two share the partitions.
	ConsumerGroup string
	// KafkaVersion is Telegraf's kafka_version (default DefaultTelegrafKafkaVersion).
	KafkaVersion string
	// ClientID is Telegraf's Kafka client id (default "smartx-telegraf-" and a random
	// suffix, so that readiness can tell this Telegraf's group member from others').
	ClientID string

	// InfluxURL is InfluxDB's base URL, "http://127.0.0.1:port". Required.
	InfluxURL string
	// Token authorises writes ("user:password" on InfluxDB 1.8, see InfluxToken;
	// optional). It reaches Telegraf through its environment, not the config file.
	Token string
	// Org is the organisation (optional; InfluxDB 1.8 ignores it).
	Org string
	// Bucket is the bucket, "database/retention-policy" on InfluxDB 1.8 (see
	// InfluxBucket). Required.
	Bucket string
	// DefaultLocation tags readings without a location (default
	// DefaultTelegrafLocation), as the sender's store.Options.DefaultLocation does.
	DefaultLocation string

	// MetricBatchSize is how many points one write carries at most (Telegraf's
	// metric_batch_size; default DefaultTelegrafBatchSize). A full batch is written
	// at once, without waiting for FlushInterval.
	MetricBatchSize int
	// FlushInterval is the longest a point waits for its batch to fill (Telegraf's
	// flush_interval; default DefaultTelegrafFlushInterval, Telegraf's own is 10 s).
	FlushInterval time.Duration
	// MaxUndeliveredMessages is how many Kafka messages Telegraf reads ahead of what
	// InfluxDB has acknowledged (max_undelivered_messages; default 10 ×
	// MetricBatchSize, Telegraf's own is 1000). Offsets are committed only for
	// delivered messages.
	MaxUndeliveredMessages int
	// MetricBufferLimit is how many points wait for the output at most
	// (metric_buffer_limit; default 2 × MaxUndeliveredMessages). It may not be
	// below MaxUndeliveredMessages: a full buffer drops points, and dropped ones are
	// neither written nor committed until Telegraf restarts.
	MetricBufferLimit int
	// Debug turns on Telegraf's debug log, which says each batch it wrote
	// ("Wrote batch of N metrics"): Telegraf.Written counts them.
	Debug bool
}

// withDefaults returns o with its defaults filled in, or an error naming the first
// bad option.
func (o TelegrafOptions) withDefaults() (TelegrafOptions, error) {
	o.Brokers = slices.Clone(o.Brokers)
	switch {
	case len(o.Brokers) == 0:
		return o, errors.New("option Brokers is required")
	case o.Topic == "":
		return o, errors.New("option Topic is required")
	case o.InfluxURL == "":
		return o, errors.New("option InfluxURL is required")
	case o.Bucket == "":
		return o, errors.New("option Bucket is required")
	case o.MetricBatchSize < 0:
		return o, fmt.Errorf("option MetricBatchSize %d: want at least 1", o.MetricBatchSize)
	case o.FlushInterval < 0:
		return o, fmt.Errorf("option FlushInterval %s: want a positive duration", o.FlushInterval)
	case o.MaxUndeliveredMessages < 0:
		return o, fmt.Errorf("option MaxUndeliveredMessages %d: want at least 1", o.MaxUndeliveredMessages)
	case o.MetricBufferLimit < 0:
		return o, fmt.Errorf("option MetricBufferLimit %d: want at least 1", o.MetricBufferLimit)
	}
	for _, b := range o.Brokers {
		if b == "" {
			return o, errors.New("option Brokers: an empty address")
		}
	}
	if o.ConsumerGroup == "" {
		o.ConsumerGroup = DefaultTelegrafGroup
	}
	if o.KafkaVersion == "" {
		o.KafkaVersion = DefaultTelegrafKafkaVersion
	}
	if o.ClientID == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		o.ClientID = "smartx-telegraf-" + hex.EncodeToString(b[:])
	}
	if o.DefaultLocation == "" {
		o.DefaultLocation = DefaultTelegrafLocation
	}
	if o.MetricBatchSize == 0 {
		o.MetricBatchSize = DefaultTelegrafBatchSize
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultTelegrafFlushInterval
	}
	if o.MaxUndeliveredMessages == 0 {
		o.MaxUndeliveredMessages = 10 * o.MetricBatchSize
	}
	if o.MetricBufferLimit == 0 {
		o.MetricBufferLimit = 2 * o.MaxUndeliveredMessages
	}
	if o.MetricBufferLimit < o.MaxUndeliveredMessages {
		return o, fmt.Errorf("option MetricBufferLimit %d is below MaxUndeliveredMessages %d: a full buffer would drop points", o.MetricBufferLimit, o.MaxUndeliveredMessages)
	}
	return o, nil
}

// Telegraf is Telegraf (v1.34.0, .ci/tools.sh telegraf) as a peer of our sender on the
// Kafka -> InfluxDB leg: it consumes the readings topic in its own consumer group and
// writes points of the sender's shape to InfluxDB through the v2 write API. It keeps
// no state of its own: its progress is the group's committed offsets in Kafka.
//
// Points, compared with the sender's (package sender/store):
//
//	measurement  reading.Device                              same
//	tag          location = reading.Location, or the default  same
//	time         reading.Origin, nanoseconds                  same
//	field        <reading.Resource> = reading.Value (float)   same
//
// Telegraf writes one point per reading, the sender one per event (device, location,
// origin) with every resource as a field; InfluxDB merges points of the same series
// and time, so what is stored is the same. What differs: the sender adds the weather
// fields (ext_temperature, ext_humidity, weather_stat) when it is given a weather
// service, Telegraf never does (compare with the weather off); the sender checks
// each reading (reading.Decode: contract version, names, NaN) and dead-letters what
// it refuses, Telegraf stores whatever parses and drops the rest with an error in
// its log; Telegraf reads any "v", where the sender refuses another major version;
// and when InfluxDB refuses a point (400, e.g. a field type conflict) Telegraf drops
// its whole batch, where the sender writes the others and dead-letters that one.
type Telegraf struct {
	*Proc
	// Options are the options given to NewTelegraf with their defaults filled in.
	Options TelegrafOptions
	// Config is the path of the telegraf.conf NewTelegraf wrote.
	Config string
	// Dir holds the configuration file.
	Dir string

	written *writtenCounter

	mu     sync.Mutex
	runPID int             // the process the member snapshot below belongs to
	before map[string]bool // group members already there when that process started
}

// NewTelegraf writes a telegraf.conf into dir (created if needed) for o and returns
// the stopped Telegraf; log receives Telegraf's own log (nil discards it). Start runs
// it until Stop (it is not a --once run); Start returns once its consumer has joined
// the group (see the ready check). It fails on a bad option or if telegraf is not
// installed (see Tool).
func NewTelegraf(dir string, o TelegrafOptions, log io.Writer) (*Telegraf, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("telegraf: %w", err)
	}
	bin, err := Tool("telegraf")
	if err != nil {
		return nil, fmt.Errorf("telegraf: %w", err)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("telegraf: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("telegraf: %w", err)
	}
	conf := filepath.Join(dir, "telegraf.conf")
	if err := os.WriteFile(conf, []byte(telegrafConfig(o)), 0o644); err != nil {
		return nil, fmt.Errorf("telegraf: %w", err)
	}
	if log == nil {
		log = io.Discard
	}
	tg := &Telegraf{Options: o, Config: conf, Dir: dir, written: &writtenCounter{next: log}}
	log = tg.written
	// The token goes by environment so that it is neither on disk nor subject to
	// Telegraf's ${VAR} substitution in the file's text.
	env := []string{telegrafTokenEnv + "=" + o.Token}
	tg.Proc = NewProc("telegraf", []string{bin, "--config", conf}, env, tg.ready, log)
	return tg, nil
}

// telegrafTokenEnv carries the InfluxDB token to Telegraf.
const telegrafTokenEnv = "SMARTX_TELEGRAF_INFLUX_TOKEN"

// telegrafConfig is the Telegraf configuration for o (defaults filled in).
func telegrafConfig(o TelegrafOptions) string {
	q := strconv.Quote
	brokers := make([]string, len(o.Brokers))
	for i, b := range o.Brokers {
		brokers[i] = q(b)
	}
	dur := func(d time.Duration) string { return q(d.String()) }
	itoa := strconv.Itoa
	return `# Written by servers.NewTelegraf: Kafka readings topic -> InfluxDB, points shaped as the sender's.
[agent]
  ## Service inputs only: interval is unused. The input's precision (below)
  ## keeps the parsed timestamps to the nanosecond.
  interval = "10s"
  round_interval = false
  metric_batch_size = ` + itoa(o.MetricBatchSize) + `
  metric_buffer_limit = ` + itoa(o.MetricBufferLimit) + `
  collection_jitter = "0s"
  flush_interval = ` + dur(o.FlushInterval) + `
  flush_jitter = "0s"
  ## No host tag: the sender's points have only location.
  omit_hostname = true
  skip_processors_after_aggregators = false
  ## The log goes to stderr, which the caller's log writer receives.
  debug = ` + strconv.FormatBool(o.Debug) + `
  quiet = false
  logformat = "text"
  logfile = ""

[[inputs.kafka_consumer]]
  brokers = [` + strings.Join(brokers, ", ") + `]
  topics = [` + q(o.Topic) + `]
  consumer_group = ` + q(o.ConsumerGroup) + `
  client_id = ` + q(o.ClientID) + `
  kafka_version = ` + q(o.KafkaVersion) + `
  offset = "oldest"
  max_undelivered_messages = ` + itoa(o.MaxUndeliveredMessages) + `
  ## Fail at start, not later, when Kafka cannot be reached.
  startup_error_behavior = "error"
  precision = "1ns"

  ## One reading per message, in its wire form (reading.Encode):
  ## {"v":1,"id":..,"device":..,"resource":..,"value":..,"unit":..,"origin":<ns>,"seq":..,"location":..}
  data_format = "json_v2"
  [[inputs.kafka_consumer.json_v2]]
    measurement_name_path = "device"
    timestamp_path = "origin"
    timestamp_format = "unix_ns"
    [[inputs.kafka_consumer.json_v2.tag]]
      path = "location"
      optional = true
    [[inputs.kafka_consumer.json_v2.tag]]
      path = "resource"
    [[inputs.kafka_consumer.json_v2.field]]
      path = "value"
      type = "float"
  ## Readings without a location get the sender's default; a tag set here never
  ## overrides one the parser found. (A TOML table: it must come after the
  ## plugin's own keys.)
  [inputs.kafka_consumer.tags]
    location = ` + q(o.DefaultLocation) + `

## resource=temperature,value=21.5 becomes the field temperature=21.5.
[[processors.pivot]]
  tag_key = "resource"
  value_key = "value"

[[outputs.influxdb_v2]]
  urls = [` + q(o.InfluxURL) + `]
  token = "${` + telegrafTokenEnv + `}"
  organization = ` + q(o.Org) + `
  bucket = ` + q(o.Bucket) + `
  timeout = "30s"
`
}

// ready asks Kafka (DescribeGroups, to the group's coordinator) whether this process's
// consumer has joined: the group must be Stable, so every member has its assignment,
// and hold a member with this Telegraf's client id, subscribed to the topic, whose
// member id was not in the group when this process started. That last condition keeps
// a member left behind by a killed Telegraf (it stays until its session times out)
// from passing for the new one. Telegraf connects its outputs before it starts its
// inputs, so a joined consumer means the whole pipeline is up. Telegraf has no HTTP
// endpoint in this build; its log says only that plugins were loaded, not started.
func (tg *Telegraf) ready(ctx context.Context) error {
	g, err := tg.describeGroup(ctx)
	pid := tg.PID()
	tg.mu.Lock()
	if tg.runPID != pid {
		// The first check of a run comes right after the process was started,
		// before it can have joined: whatever members are there are not it.
		tg.runPID, tg.before = pid, map[string]bool{}
		if err == nil {
			for _, m := range g.Members {
				tg.before[m.MemberID] = true
			}
		}
	}
	before := tg.before
	tg.mu.Unlock()
	if err != nil {
		return err
	}
	if g.GroupState != "Stable" {
		return fmt.Errorf("consumer group %s is %s, not Stable", tg.Options.ConsumerGroup, cmp.Or(g.GroupState, "unknown"))
	}
	for _, m := range g.Members {
		if m.ClientID == tg.Options.ClientID && !before[m.MemberID] && slices.Contains(m.MemberMetadata.Topics, tg.Options.Topic) {
			return nil
		}
	}
	return fmt.Errorf("consumer group %s has no member of client %s subscribed to %s yet", tg.Options.ConsumerGroup, tg.Options.ClientID, tg.Options.Topic)
}

// describeGroup returns the Kafka description of Telegraf's consumer group.
func (tg *Telegraf) describeGroup(ctx context.Context) (kafka.DescribeGroupsResponseGroup, error) {
	c := &kafka.Client{Addr: kafka.TCP(tg.Options.Brokers...), Timeout: checkTimeout}
	resp, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{tg.Options.ConsumerGroup}})
	if err != nil {
		return kafka.DescribeGroupsResponseGroup{}, fmt.Errorf("describe group %s: %w", tg.Options.ConsumerGroup, err)
	}
	for _, g := range resp.Groups {
		if g.GroupID == tg.Options.ConsumerGroup {
			if g.Error != nil {
				return g, fmt.Errorf("describe group %s: %w", g.GroupID, g.Error)
			}
			return g, nil
		}
	}
	return kafka.DescribeGroupsResponseGroup{}, fmt.Errorf("describe group %s: not in the answer", tg.Options.ConsumerGroup)
}

// Written is how many metrics (readings: one field each, before InfluxDB merges those
// of one point) Telegraf has written to InfluxDB since NewTelegraf, from its debug log
// (Options.Debug; always 0 without it). It counts a batch once InfluxDB accepted it,
// as the sender counts sender_written_total.
func (tg *Telegraf) Written() int64 { return tg.written.n.Load() }

// writtenCounter passes Telegraf's log on and sums the "Wrote batch of N metrics"
// lines in it.
type writtenCounter struct {
	next    io.Writer
	n       atomic.Int64
	mu      sync.Mutex
	partial []byte // a line not ended yet
}

var wroteBatch = regexp.MustCompile(`Wrote batch of (\d+) metrics`)

func (w *writtenCounter) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		if m := wroteBatch.FindSubmatch(w.partial[:i]); m != nil {
			if n, err := strconv.ParseInt(string(m[1]), 10, 64); err == nil {
				w.n.Add(n)
			}
		}
		w.partial = w.partial[i+1:]
	}
	w.partial = slices.Clone(w.partial) // let the consumed lines go
	w.mu.Unlock()
	return w.next.Write(b)
}
