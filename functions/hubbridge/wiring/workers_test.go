package wiring

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lesismal/nbio/taskpool"
)

func quietPool(max int, idle time.Duration) *workerPool {
	return newWorkerPool(max, idle, slog.New(slog.DiscardHandler))
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Requests one after another run on the same worker, which ends once idle.
func TestWorkerPoolReusesAWorkerThenLetsItGo(t *testing.T) {
	p := quietPool(8, 200*time.Millisecond)
	defer p.Stop()
	for i := range 20 {
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		waitFor(t, "the worker to wait for the next request", func() bool { return p.Waiting() == 1 })
		if p.Workers() != 1 {
			t.Fatalf("request %d: %d workers, want the one reused", i, p.Workers())
		}
	}
	waitFor(t, "the idle worker to end", func() bool { return p.Workers() == 0 })
}

// No more than max requests run at once; the rest wait and all of them run.
func TestWorkerPoolBoundsRequestsAtOnce(t *testing.T) {
	const max, requests = 3, 20
	p := quietPool(max, time.Minute)
	defer p.Stop()
	var running, most, ran atomic.Int64
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(requests)
	for range requests {
		p.Go(func() {
			defer wg.Done()
			n := running.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-release
			running.Add(-1)
			ran.Add(1)
		})
	}
	waitFor(t, "max requests to start", func() bool { return running.Load() == max })
	close(release)
	wg.Wait()
	if most.Load() != max || ran.Load() != requests || p.Workers() > max {
		t.Fatalf("at most %d ran at once (want %d), %d of %d ran, %d workers", most.Load(), max, ran.Load(), requests, p.Workers())
	}
}

// A request that panics ends itself, not its worker's later requests or the hub.
func TestWorkerPoolSurvivesAPanic(t *testing.T) {
	p := quietPool(1, time.Minute)
	defer p.Stop()
	p.Go(func() { panic("bad handler") })
	done := make(chan struct{})
	p.Go(func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the request after a panic did not run")
	}
}

// Stop ends the waiting workers at once, whatever their idle time.
func TestWorkerPoolStopEndsWaitingWorkers(t *testing.T) {
	p := quietPool(4, time.Hour)
	var wg sync.WaitGroup
	wg.Add(4)
	for range 4 {
		p.Go(wg.Done)
	}
	wg.Wait()
	p.Stop()
	waitFor(t, "the workers to end", func() bool { return p.Workers() == 0 })
	p.Stop() // twice is fine
}

// deepRequest uses about as much stack as a request through EdgeX's decoding does
// (a few tens of KiB), so that a new goroutine has to grow its stack for it.
//
//go:noinline
func deepRequest(depth int) byte {
	var frame [512]byte
	frame[depth%len(frame)] = byte(depth)
	if depth == 0 {
		return frame[0]
	}
	return deepRequest(depth-1) + frame[depth%len(frame)]
}

var sinkByte atomic.Int32

// BenchmarkRequestGoroutines runs bursts of 64 stack-hungry requests on nbio's own
// pool (a goroutine per request when none is queued) and on workerPool (goroutines
// that wait for the next request), in one run.
func BenchmarkRequestGoroutines(b *testing.B) {
	const burst = 64
	request := func(wg *sync.WaitGroup) func() {
		return func() {
			sinkByte.Add(int32(deepRequest(64)))
			wg.Done()
		}
	}
	pools := []struct {
		name string
		new  func() (goFn func(func()), stop func())
	}{
		{"nbio-taskpool", func() (func(func()), func()) {
			tp := taskpool.New(1024, 1024)
			return tp.Go, tp.Stop
		}},
		{"workerPool", func() (func(func()), func()) {
			p := quietPool(1024, time.Minute)
			return p.Go, p.Stop
		}},
	}
	for _, pool := range pools {
		b.Run(pool.name, func(b *testing.B) {
			goFn, stop := pool.new()
			defer stop()
			var wg sync.WaitGroup
			for b.Loop() {
				wg.Add(burst)
				for range burst {
					goFn(request(&wg))
				}
				wg.Wait()
			}
		})
	}
}
