// Package e2e runs the whole data path as it is deployed (see localrun): the hub and
// the sender as their own processes against real servers on 127.0.0.1, fed by a fleet
// of simulated EdgeX devices; then it checks every acknowledged reading in InfluxDB,
// none missing and none extra, and counts the duplicates in Kafka (see kafkaRecords).
// "Exactly once" in these tests means that: InfluxDB overwrites a point stored twice,
// so InfluxDB alone cannot show a duplicate, and Kafka may hold some.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/segmentio/kafka-go"

	"github.com/smartx-team/overcloud/functions/sender/store"
	"github.com/smartx-team/overcloud/functions/testbed/fleet"
	"github.com/smartx-team/overcloud/functions/testbed/localrun"
	"github.com/smartx-team/overcloud/functions/testbed/promscrape"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// fakeTemp is the weather station's temperature, to check the enrichment arrived.
const fakeTemp = 12.5

// dataPath is one running data path and the devices that feed it.
type dataPath struct {
	*localrun.Path
	t       *testing.T
	fleet   *fleet.Fleet
	weather *localrun.WeatherStation
	tokens  map[string]string
}

// startPath starts the data path with a fleet of devices posting every interval, with
// per-device tokens, and stops everything by PID when the test ends.
func startPath(t *testing.T, devices int, interval time.Duration) *dataPath {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	weather, err := localrun.StartWeatherStation("test-owm-key", fakeTemp, 71)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = weather.Close() })

	tokens := map[string]string{}
	for i := range devices {
		tokens[fmt.Sprintf("sim-%d", i)] = fmt.Sprintf("token-%d-%d", i, time.Now().UnixNano())
	}
	// A device the hub has a token for but that never registered.
	tokens["ghost"] = "ghost-token"
	dir := t.TempDir()
	path, err := localrun.Start(ctx, localrun.Options{
		Dir: dir, Tokens: tokens, WeatherURL: weather.URL, WeatherKey: "test-owm-key",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"hub", "sender", "kafka"} {
				b, _ := os.ReadFile(path.LogPath(name))
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("%s log (tail):\n%s", name, b)
			}
		}
		if err := path.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})

	f, err := fleet.New(fleet.Options{HubURL: path.HubURL, Devices: devices, Interval: interval, Tokens: tokens, Prefix: "sim-"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Register(ctx); err != nil {
		t.Fatal(err)
	}
	return &dataPath{Path: path, t: t, fleet: f, weather: weather, tokens: tokens}
}

// runFleet lets the devices post for d, then stops them and posts what they still
// hold until the hub acknowledged everything. during, if not nil, runs meanwhile.
func (p *dataPath) runFleet(d time.Duration, during func()) {
	p.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.fleet.Run(ctx) }()
	start := time.Now()
	if during != nil {
		during()
	}
	if rest := d - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	cancel()
	if err := <-done; err != nil {
		p.t.Fatal(err)
	}
	drainCtx, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	defer stop()
	if err := p.fleet.Drain(drainCtx, 200*time.Millisecond); err != nil {
		p.t.Fatal(err)
	}
}

// pointKey is the identity of one stored value: a reading of one resource of one
// device at one origin time.
type pointKey struct {
	device, resource string
	origin           int64
}

type storedValue struct {
	value    float64
	location string
	extTemp  any
}

// stored reads back every temperature and humidity value with a Flux query.
func (p *dataPath) stored(ctx context.Context) (map[pointKey]storedValue, int, error) {
	client := influxdb2.NewClient(p.Influx.URL, p.Influx.Token)
	defer client.Close()
	q := fmt.Sprintf(`from(bucket: %q)
  |> range(start: 2000-01-01T00:00:00Z)
  |> filter(fn: (r) => r._field == "temperature" or r._field == "humidity" or r._field == "ext_temperature")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`, p.Influx.Bucket)
	res, err := client.QueryAPI(p.Influx.Org).Query(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	defer res.Close()
	out := map[pointKey]storedValue{}
	rows := 0
	for res.Next() {
		r := res.Record()
		for _, field := range []string{"temperature", "humidity"} {
			v, ok := r.ValueByKey(field).(float64)
			if !ok {
				continue
			}
			rows++
			loc, _ := r.ValueByKey(store.TagLocation).(string)
			out[pointKey{r.Measurement(), field, r.Time().UnixNano()}] = storedValue{v, loc, r.ValueByKey("ext_temperature")}
		}
	}
	return out, rows, res.Err()
}

// waitSettled waits until the sender (since it last started) has written to InfluxDB
// and is the only member of its consumer group: the members killed before it have
// expired and no rebalance is under way.
func (p *dataPath) waitSettled() {
	p.t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(p.Kafka.Addr), Timeout: 10 * time.Second}
	servertest.WaitFor(p.t, "the sender writing, alone in its group", func() bool {
		fams, err := promscrape.Scrape(context.Background(), p.SenderAdmin)
		if err != nil {
			return false
		}
		if n, _ := fams.Value("sender_written_total"); n == 0 {
			return false
		}
		resp, err := client.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{"smartx-sender"}})
		return err == nil && len(resp.Groups) == 1 && resp.Groups[0].GroupState == "Stable" && len(resp.Groups[0].Members) == 1
	})
}

// checkExactlyOnce waits until InfluxDB holds every reading the hub acknowledged and
// then demands exactly those: none missing, none extra, each with its value, its
// device's location and the weather; then it finds each in Kafka and reports the duplicates.
func (p *dataPath) checkExactlyOnce() {
	t := p.t
	t.Helper()
	acked := p.fleet.Acked()
	if len(acked) == 0 {
		t.Fatal("the fleet got no reading acknowledged")
	}
	// A loaded 2-core CI machine runs several of these paths at once, and a sender
	// restarted after SIGKILL waits out its old group member's session: give the
	// path minutes, and each query a bound of its own so one slow answer cannot
	// use up the whole wait.
	const settle = 5 * time.Minute
	deadline := time.Now().Add(settle)
	var got map[pointKey]storedValue
	var rows, best int
	for {
		qctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		g, n, err := p.stored(qctx)
		cancel()
		if err == nil {
			got, rows, best = g, n, max(best, n)
			if rows >= len(acked) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v InfluxDB holds at most %d of %d acknowledged readings (last error: %v)", settle, best, len(acked), err)
		}
		time.Sleep(time.Second)
	}
	if rows != len(acked) {
		t.Errorf("InfluxDB holds %d values, the hub acknowledged %d readings", rows, len(acked))
	}
	locations := map[string]bool{"sector-1": true, "sector-2": true, "sector-3": true, "sector-4": true}
	missing := 0
	for _, s := range acked {
		v, ok := got[pointKey{s.Device, s.Resource, s.Origin}]
		switch {
		case !ok:
			missing++
		case v.value != s.Value:
			t.Errorf("%s %s at %d: stored %v, sent %v", s.Device, s.Resource, s.Origin, v.value, s.Value)
		case !locations[v.location]:
			t.Errorf("%s: location tag %q, want the device's sector", s.Device, v.location)
		case v.extTemp != fakeTemp:
			t.Errorf("%s at %d: ext_temperature %v, want %v from the weather service", s.Device, s.Origin, v.extTemp, fakeTemp)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged readings are missing from InfluxDB", missing, len(acked))
	}
	records := kafkaRecords(t, p.Kafka.Addr)
	total, inKafka := 0, 0
	for _, s := range acked {
		if records[s.ID] > 0 {
			inKafka++
		}
	}
	for _, n := range records {
		total += n
	}
	if inKafka != len(acked) {
		t.Errorf("%d of %d acknowledged readings are not in Kafka", len(acked)-inKafka, len(acked))
	}
	t.Logf("InfluxDB: %d readings from %d devices, none missing, none extra; Kafka: %d records of %d readings, %d duplicates (overwritten by point identity); %d weather requests",
		len(acked), len(p.fleet.DeviceNames()), total, len(records), total-len(records), p.weather.Calls())
}
