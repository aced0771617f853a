package serve

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/smartx-team/overcloud/functions/inference/internal/inferencetest"
	"github.com/smartx-team/overcloud/functions/inference/registry"
)

// predictBody is a request of n windows of the baseline model, in the original
// sender's columnar form.
func predictBody(n int) []byte {
	m := inferencetest.Baseline(name, 1)
	ws := make([][][]float64, n)
	for i := range ws {
		ws[i] = inferencetest.Window(m, 20.25+float64(i%8)/4) // readings have few digits
	}
	return []byte(`{"inputs": ` + inferencetest.JSON(ws) + `}`)
}

func benchHandler(b *testing.B) *Handler {
	b.Helper()
	reg, err := registry.New(registry.Options{Base: baseWith(b, 1)})
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(reg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkPredictInProcess is the work of a predict request without the network:
// route, read the body, parse, predict each window, write the response, count. Its
// predictions/s is on one goroutine, so one core's worth; the parallel variant runs
// GOMAXPROCS goroutines and also reports that total divided by GOMAXPROCS.
//
//	go test -run '^$' -bench PredictInProcess ./functions/inference/serve/
func BenchmarkPredictInProcess(b *testing.B) {
	for _, batch := range []int{1, 32} {
		body := predictBody(batch)
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			h := benchHandler(b)
			req, _ := http.NewRequest(http.MethodPost, "/v1/models/service:predict", nil)
			rec := newRecorder()
			rd := bytes.NewReader(body)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			start := time.Now()
			for b.Loop() {
				rd.Reset(body)
				req.Body = io.NopCloser(rd)
				rec.reset()
				h.ServeHTTP(rec, req)
				if rec.code != 200 {
					b.Fatalf("%d %s", rec.code, rec.body.Bytes())
				}
			}
			b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "predictions/s")
		})
		b.Run(fmt.Sprintf("batch=%d/parallel", batch), func(b *testing.B) {
			h := benchHandler(b)
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest(http.MethodPost, "/v1/models/service:predict", nil)
				rec := newRecorder()
				rd := bytes.NewReader(body)
				for pb.Next() {
					rd.Reset(body)
					req.Body = io.NopCloser(rd)
					rec.reset()
					h.ServeHTTP(rec, req)
					if rec.code != 200 {
						b.Errorf("%d %s", rec.code, rec.body.Bytes())
						return
					}
				}
			})
			rate := float64(b.N*batch) / time.Since(start).Seconds()
			b.ReportMetric(rate, "predictions/s")
			b.ReportMetric(rate/float64(runtime.GOMAXPROCS(0)), "predictions/s/core")
		})
	}
}

// BenchmarkHTTP sends b.N predict requests of one window, the original sender's, to
// the server on 127.0.0.1 at a steady rate (INFERENCE_BENCH_RATE requests/s, default
// 1000), open loop: each request leaves at its scheduled time whatever the others do,
// and its latency is counted from that time, so a stall shows in the figures rather
// than slowing the sender (no coordinated omission). It reports the p50, p99 and
// largest latency in ms. Client and server share the machine.
//
//	go test -run '^$' -bench HTTP -benchtime 20000x ./functions/inference/serve/
func BenchmarkHTTP(b *testing.B) {
	rate := 1000.0
	if v := os.Getenv("INFERENCE_BENCH_RATE"); v != "" {
		var err error
		if rate, err = strconv.ParseFloat(v, 64); err != nil || rate <= 0 {
			b.Fatalf("INFERENCE_BENCH_RATE=%q", v)
		}
	}
	s := startServer(b, baseWith(b, 1), Options{})
	body := predictBody(1)
	const inFlight = 64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: inFlight, MaxConnsPerHost: inFlight}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	url := s.url + "/v1/models/service:predict"
	send := func() error {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// Warm the connections up.
	for range inFlight {
		if err := send(); err != nil {
			b.Fatal(err)
		}
	}
	latencies := make([]time.Duration, b.N)
	errs := make(chan error, 1)
	slots := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		slots <- struct{}{} // more than inFlight outstanding: the wait counts in the latency
		wg.Go(func() {
			defer func() { <-slots }()
			if err := send(); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
			latencies[i] = time.Since(at)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	slices.Sort(latencies)
	q := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(latencies[len(latencies)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
}
