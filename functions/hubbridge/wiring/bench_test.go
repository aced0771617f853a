package wiring

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgexfoundry/go-mod-core-contracts/v4/common"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos"
	"github.com/edgexfoundry/go-mod-core-contracts/v4/dtos/requests"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartx-team/overcloud/functions/hubbridge/internal/outboxtest"
	"github.com/smartx-team/overcloud/functions/hubbridge/relay"
	"github.com/smartx-team/overcloud/functions/reading"
	"github.com/smartx-team/overcloud/functions/testbed/fleet"
	"github.com/smartx-team/overcloud/functions/testbed/servers/servertest"
)

// benchDevices post concurrently, as the target load says (1,000 devices).
const benchDevices = 1000

// closedAddr is a local address nothing listens on: a Kafka that is down.
func closedAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// BenchmarkIngest measures the hub's EdgeX REST ingest into MongoDB (FerretDB): 1,000
// devices post events of two readings back to back over HTTP, each answered 201 only
// once durable. Kafka is down so the relay takes no CPU; the load generator shares
// the machine, as in the lead's benchmark. Reports readings/s.
func BenchmarkIngest(b *testing.B) {
	m := servertest.Mongo(b)
	cfg := testConfig(m.URI, closedAddr(b))
	cfg.LogLevel = "error"
	h := startBenchHub(b, cfg)
	url := "http://" + h.Addr()
	f, err := fleet.New(fleet.Options{HubURL: url, Devices: benchDevices, Interval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := f.Register(ctx); err != nil {
		b.Fatal(err)
	}
	// Bodies are made before the clock starts; each event is new (new reading ids).
	bodies := make([][]byte, b.N)
	paths := make([]string, b.N)
	for i := range bodies {
		dev := fmt.Sprintf("sim-%d", i%benchDevices)
		bodies[i], paths[i] = benchEvent(dev, uint64(i/benchDevices)*2+1), url+fmt.Sprintf("/api/v3/event/%s/%s/%s/%s", fleet.ServiceName, fleet.ProfileName, dev, fleet.SourceName)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = benchDevices, benchDevices
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	defer tr.CloseIdleConnections()

	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range benchDevices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				resp, err := client.Post(paths[i], "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body) // so the connection is reused
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d events not answered 201", n, b.N)
	}
	b.ReportMetric(float64(2*b.N)/elapsed.Seconds(), "readings/s")
	b.ReportMetric(h.metricB(b, "hub_store_batch_readings_avg"), "readings/write")
}

// benchEvent is a fleet-like event of a temperature and a humidity reading.
func benchEvent(device string, seq uint64) []byte {
	ev := dtos.NewEvent(fleet.ProfileName, device, fleet.SourceName)
	for i, r := range []struct {
		name string
		v    float64
	}{{"temperature", 24.5}, {"humidity", 45.25}} {
		br, err := dtos.NewSimpleReading(fleet.ProfileName, device, r.name, common.ValueTypeFloat64, r.v)
		if err != nil {
			panic(err)
		}
		br.Id, br.Origin, br.Tags = uuid.NewString(), ev.Origin, dtos.Tags{"seq": seq + uint64(i)}
		ev.Readings = append(ev.Readings, br)
	}
	return mustJSON(requests.NewAddEventRequest(ev))
}

// BenchmarkRelay measures the relay alone: b.N readings wait in the outbox (stored
// before the clock starts), then the relay writes them to Kafka (acks from all
// replicas) and marks them delivered. "memory": the chunks are still in memory, as
// after a short Kafka outage; "mongodb": the hub restarted, so every chunk is read back
// from FerretDB. Reports readings/s.
func BenchmarkRelay(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchmarkRelay(b, false) })
	b.Run("mongodb", func(b *testing.B) { benchmarkRelay(b, true) })
}

func benchmarkRelay(b *testing.B, reopen bool) {
	k := servertest.Kafka(b, topic)
	ctx := context.Background()
	db := servertest.MongoClient(b).Database("relay_bench")
	ob, stopWriter := outboxtest.Open(b, db)
	batch := make([]reading.Reading, 0, 1000)
	origin := time.Now().UnixNano()
	for i := range b.N {
		dev := fmt.Sprintf("sim-%d", i%benchDevices)
		batch = append(batch, reading.Reading{ID: uuid.NewString(), Device: dev, Resource: "temperature", Value: 24.5,
			Unit: "C", Origin: origin + int64(i), Seq: uint64(i/benchDevices + 1), Location: "sector-1"})
		if len(batch) == cap(batch) || i == b.N-1 {
			if _, err := ob.Store(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if reopen {
		stopWriter()
		ob, stopWriter = outboxtest.Open(b, db)
	}
	defer stopWriter()
	r, err := relay.New(relay.Options{Source: ob, Brokers: []string{k.Addr}, Topic: topic, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan error, 1)
	go func() { relayDone <- r.Run(relayCtx) }()
	for ob.Backlog() > 0 {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stopRelay()
	if err := <-relayDone; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "readings/s")
}

func startBenchHub(b *testing.B, cfg Config) *benchHub {
	b.Helper()
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := New(ctx, cfg, discardLogger(), reg)
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(runCtx) }()
	b.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return &benchHub{Hub: h, reg: reg}
}

type benchHub struct {
	*Hub
	reg *prometheus.Registry
}

// metricB returns a histogram's average when name ends in _avg.
func (h *benchHub) metricB(b *testing.B, name string) float64 {
	b.Helper()
	fams, err := h.reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	base := name[:len(name)-len("_avg")]
	for _, f := range fams {
		if f.GetName() == base {
			hist := f.GetMetric()[0].GetHistogram()
			if hist.GetSampleCount() == 0 {
				return 0
			}
			return hist.GetSampleSum() / float64(hist.GetSampleCount())
		}
	}
	return 0
}
