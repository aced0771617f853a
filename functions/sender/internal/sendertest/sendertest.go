// Package sendertest holds what the sender's tests and benchmark share: producing
// readings to Kafka as the hub does, reading the consumer group's committed offsets
// and the dead-letter topic, reading back what InfluxDB stored, and a fake
// OpenWeatherMap that answers in the real response format and counts requests.
package sendertest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/sender/stats"
	"github.com/smartx-team/overcloud/functions/testbed/servers"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// Topics of the tests.
const (
	Topic     = "readings"
	DeadTopic = "readings.dead"
)

// Wait is how long WaitFor waits before it fails the test: long, since the servers
// share two loaded cores; a passing test does not wait for it.
const Wait = 2 * time.Minute

// WaitFor polls cond every 50 ms until it is true, failing the test with what (and
// cond's last note) after Wait.
func WaitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		ok, note := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s still waiting for %s (%s)", Wait, what, note)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Readings returns n valid readings of devices dev-0..dev-<devices-1>, two resources
// (temperature and humidity) per event, origins from base up, one per event.
func Readings(n, devices int, base int64) []reading.Reading {
	out := make([]reading.Reading, 0, n)
	for i := 0; len(out) < n; i++ {
		dev := fmt.Sprintf("dev-%d", i%devices)
		origin := base + int64(i)*1000
		loc := ""
		if i%3 == 0 {
			loc = fmt.Sprintf("sector-%d", i%4+1)
		}
		for _, res := range []string{"temperature", "humidity"} {
			if len(out) == n {
				break
			}
			out = append(out, reading.Reading{
				ID: fmt.Sprintf("%s-%d-%s", dev, i, res), Device: dev, Resource: res,
				Value: float64(i%500) / 10, Origin: origin, Seq: uint64(i + 1), Location: loc,
			})
		}
	}
	return out
}

// PointCount is how many points rs make: one per device, location and origin, with
// def the location of readings without one.
func PointCount(rs []reading.Reading, def string) int {
	type key struct {
		d, l string
		o    int64
	}
	seen := map[key]bool{}
	for _, r := range rs {
		l := r.Location
		if l == "" {
			l = def
		}
		seen[key{r.Device, l, r.Origin}] = true
	}
	return len(seen)
}

// Servers are the real Kafka (with the readings and dead-letter topics) and InfluxDB
// of one test.
type Servers struct {
	Kafka  *servers.Kafka
	Influx *servers.Influx
}

// StartServers starts them, with partitions partitions per topic; t.Cleanup stops them.
func StartServers(t testing.TB, partitions int) Servers {
	t.Helper()
	return Servers{
		Kafka:  servertest.KafkaWith(t, servers.KafkaOptions{Topics: []string{Topic, DeadTopic}, Partitions: partitions}),
		Influx: servertest.Influx(t),
	}
}

// Messages encodes readings as the hub puts them on Kafka: key = device, value =
// reading.Encode.
func Messages(t testing.TB, rs []reading.Reading) []kafka.Message {
	t.Helper()
	out := make([]kafka.Message, len(rs))
	for i, r := range rs {
		b, err := reading.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = kafka.Message{Key: []byte(r.Device), Value: b}
	}
	return out
}

// Produce writes msgs to topic with acks from all replicas.
func Produce(t testing.TB, addr, topic string, msgs ...kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond, BatchSize: 1000, BatchBytes: 16 << 20}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	for len(msgs) > 0 {
		n := min(len(msgs), 10000)
		if err := w.WriteMessages(ctx, msgs[:n]...); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
		msgs = msgs[n:]
	}
}

// Committed returns the group's committed offsets on topic summed over partitions:
// with offsets from 0, the number of messages committed. Partitions without a commit
// count 0.
func Committed(t testing.TB, addr, group, topic string, partitions int) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ps := make([]int, partitions)
	for i := range ps {
		ps[i] = i
	}
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	if errors.Is(resp.Error, kafka.GroupIdNotFound) {
		return 0 // kfake's answer for a group that has not joined yet
	}
	if resp.Error != nil {
		t.Fatalf("offset fetch: %v", resp.Error)
	}
	var sum int64
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("offset fetch partition %d: %v", p.Partition, p.Error)
		}
		if p.CommittedOffset > 0 {
			sum += p.CommittedOffset
		}
	}
	return sum
}

// ReadTopic reads n messages from topic (every partition, from the start) in a fresh
// consumer group.
func ReadTopic(t testing.TB, addr, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{addr}, Topic: topic, GroupID: fmt.Sprintf("check-%d", time.Now().UnixNano()),
		StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("%s: read %d of %d messages: %v", topic, len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

// Point is one stored point, read back with Flux.
type Point struct {
	Measurement, Location string
	Time                  int64
	Fields                map[string]any
}

// Stored reads every point of the bucket but the sender's own stats (measurement
// stats.Measurement, which its tests read on their own), sorted by measurement and time.
func Stored(t testing.TB, in *servers.Influx) []Point {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := influxdb2.NewClientWithOptions(in.URL, in.Token, influxdb2.DefaultOptions().SetHTTPRequestTimeout(60))
	defer client.Close()
	res, err := client.QueryAPI(in.Org).Query(ctx, fmt.Sprintf(`from(bucket: %q)
  |> range(start: 2000-01-01T00:00:00Z)
  |> filter(fn: (r) => r._measurement != %q)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`, in.Bucket, stats.Measurement))
	if err != nil {
		t.Fatalf("flux query: %v", err)
	}
	defer res.Close()
	var out []Point
	for res.Next() {
		rec := res.Record()
		p := Point{Measurement: rec.Measurement(), Time: rec.Time().UnixNano(), Fields: map[string]any{}}
		for k, v := range rec.Values() {
			switch {
			case k == reading.TagLocation:
				p.Location, _ = v.(string)
			case strings.HasPrefix(k, "_") || k == "result" || k == "table" || v == nil:
			default:
				p.Fields[k] = v
			}
		}
		out = append(out, p)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("flux query: %v", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Measurement != out[j].Measurement {
			return out[i].Measurement < out[j].Measurement
		}
		return out[i].Time < out[j].Time
	})
	return out
}

// CheckStored fails the test unless InfluxDB holds exactly the points of rs (merged
// per device, location and origin, each value in its field) and nothing else, with
// location defaulting to def. It returns the points.
func CheckStored(t testing.TB, in *servers.Influx, rs []reading.Reading, def string) []Point {
	t.Helper()
	type key struct {
		m, loc string
		ts     int64
	}
	want := map[key]map[string]float64{}
	for _, r := range rs {
		loc := r.Location
		if loc == "" {
			loc = def
		}
		k := key{r.Device, loc, r.Origin}
		if want[k] == nil {
			want[k] = map[string]float64{}
		}
		want[k][r.Resource] = r.Value
	}
	got := Stored(t, in)
	if len(got) != len(want) {
		t.Errorf("InfluxDB holds %d points, want %d", len(got), len(want))
	}
	bad := 0
	for _, p := range got {
		fields, ok := want[key{p.Measurement, p.Location, p.Time}]
		if !ok {
			bad++
			if bad < 5 {
				t.Errorf("unexpected point %+v", p)
			}
			continue
		}
		for f, v := range fields {
			if p.Fields[f] != v {
				bad++
				if bad < 5 {
					t.Errorf("point %s %s %d: %s = %v, want %v", p.Measurement, p.Location, p.Time, f, p.Fields[f], v)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d bad points", bad)
	}
	return got
}

// OWM is a fake OpenWeatherMap current weather API on 127.0.0.1 that answers with the
// real response format (the fixtures in ../../weather/testdata) and counts requests.
type OWM struct {
	URL    string
	Key    string
	calls  atomic.Int64
	status atomic.Int64
}

// NewOWM starts the fake; it answers 401 (as OpenWeatherMap does) for another key.
func NewOWM(t testing.TB, key string) *OWM {
	t.Helper()
	body := fixture(t, "owm_gwangju_clouds.json")
	unauthorized := fixture(t, "owm_401.json")
	o := &OWM{Key: key}
	o.status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/data/2.5/weather" {
			http.NotFound(w, r)
			return
		}
		o.calls.Add(1)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("appid")), []byte(key)) != 1 {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write(unauthorized)
			return
		}
		status := int(o.status.Load())
		w.WriteHeader(status)
		if status == http.StatusOK {
			_, _ = w.Write(body)
			return
		}
		fmt.Fprintf(w, `{"cod":%d,"message":"Internal error"}`, status)
	}))
	t.Cleanup(srv.Close)
	o.URL = srv.URL
	return o
}

// The weather in the fixture the fake serves.
const (
	OWMTempC    = 8.94
	OWMHumidity = 57.0
	OWMState    = int64(7) // Clouds
)

// Calls is the number of requests served.
func (o *OWM) Calls() int64 { return o.calls.Load() }

// Fail makes every later request answer status (200 restores the weather).
func (o *OWM) Fail(status int) { o.status.Store(int64(status)) }

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "weather", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// LogBuffer collects log output written concurrently.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
