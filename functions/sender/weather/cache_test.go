package weather

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// clock is a test clock that only moves when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type cacheFixture struct {
	svc     *fakeService
	cache   *Cache
	clock   *clock
	reg     *prometheus.Registry
	metrics *Metrics
	logs    *bytes.Buffer
}

func newCacheFixture(t *testing.T, key string) *cacheFixture {
	t.Helper()
	svc := newFakeService(t, 200, "owm_gwangju_clouds.json")
	p, err := NewOWM(svc.srv.URL, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
	var logs bytes.Buffer
	c := NewCache(p, Gwangju, CacheOptions{
		TTL: 5 * time.Minute, MaxAge: time.Hour, RetryAfter: 30 * time.Second, Metrics: m, Now: clk.Now,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	t.Cleanup(c.Close)
	return &cacheFixture{svc: svc, cache: c, clock: clk, reg: reg, metrics: m, logs: &logs}
}

func (f *cacheFixture) fetches(result string) float64 {
	return testutil.ToFloat64(f.metrics.fetches.WithLabelValues("owm", result))
}

// get asks the cache and, when a refresh was started in the background, waits for it
// so the counts below are settled: DoChan registers its call before it returns, so a
// second Do on the key joins that call if it is still running.
func (f *cacheFixture) get(t *testing.T) (Weather, bool) {
	t.Helper()
	w, ok := f.cache.Current(context.Background())
	f.cache.sf.Do("current", func() (any, error) { return nil, nil })
	return w, ok
}

func TestCacheAsksOncePerTTL(t *testing.T) {
	f := newCacheFixture(t, testKey)
	want := Weather{8.94, 57, Clouds}
	// Many concurrent first calls share one request.
	f.svc.setGate(make(chan struct{}))
	var wg sync.WaitGroup
	results := make(chan Weather, 50)
	for range 50 {
		wg.Go(func() {
			w, ok := f.cache.Current(context.Background())
			if !ok {
				t.Error("no weather on the first call")
			}
			results <- w
		})
	}
	// Let the single request answer once everyone is waiting on it or got it.
	for f.svc.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	f.svc.openGate()
	wg.Wait()
	close(results)
	for w := range results {
		if w != want {
			t.Fatalf("Current() = %+v, want %+v", w, want)
		}
	}
	// Thousands of messages within the TTL: no more requests.
	for range 5000 {
		f.clock.add(50 * time.Millisecond) // 250 s in all, under the TTL
		if w, ok := f.get(t); !ok || w != want {
			t.Fatalf("Current() = %+v %v", w, ok)
		}
	}
	if n := f.svc.calls.Load(); n != 1 {
		t.Fatalf("%d requests within one TTL, want 1", n)
	}
	// Past the TTL: one more, answered from the old report meanwhile.
	f.clock.add(time.Minute)
	f.svc.set(200, "owm_gwangju_rain.json")
	if w, ok := f.get(t); !ok || w != want {
		t.Fatalf("stale read = %+v %v, want the old report while refreshing", w, ok)
	}
	if w, _ := f.get(t); w.State != Rain {
		t.Fatalf("after refresh Current() = %+v, want rain", w)
	}
	if n := f.svc.calls.Load(); n != 2 || f.fetches("ok") != 2 {
		t.Fatalf("%d requests (%v counted) after two TTLs, want 2", n, f.fetches("ok"))
	}
}

func TestCacheProviderFailure(t *testing.T) {
	f := newCacheFixture(t, testKey)
	if _, ok := f.get(t); !ok {
		t.Fatal("no weather while the provider works")
	}
	f.svc.set(500, "owm_400.json")
	// The report expires; the provider fails: the last good report stands in up to MaxAge,
	// and the failing provider is asked once per RetryAfter, not per call.
	f.clock.add(6 * time.Minute)
	for range 100 {
		if w, ok := f.get(t); !ok || w.State != Clouds {
			t.Fatalf("Current() = %+v %v, want the last good report", w, ok)
		}
	}
	if n := f.svc.calls.Load(); n != 2 {
		t.Fatalf("%d requests, want 2 (one good, one failed)", n)
	}
	f.clock.add(31 * time.Second)
	f.get(t)
	if n := f.svc.calls.Load(); n != 3 || f.fetches("error") != 2 {
		t.Fatalf("%d requests, %v failures counted; want 3 and 2", n, f.fetches("error"))
	}
	// Older than MaxAge: no weather at all, never a blocked caller.
	f.clock.add(time.Hour)
	if w, ok := f.get(t); ok {
		t.Fatalf("Current() = %+v, true; want no weather past MaxAge", w)
	}
	// The provider comes back.
	f.svc.set(200, "owm_gwangju_smoke.json")
	f.clock.add(time.Minute)
	if w, ok := f.get(t); !ok || w.State != Atmosphere {
		t.Fatalf("after recovery Current() = %+v %v", w, ok)
	}
}

func TestCacheNeverAskedAndFailing(t *testing.T) {
	f := newCacheFixture(t, "not-the-key")
	if w, ok := f.get(t); ok {
		t.Fatalf("Current() = %+v, true with a rejected key", w)
	}
	// The warning names the failure but not the key.
	if !strings.Contains(f.logs.String(), "Invalid API key") || strings.Contains(f.logs.String(), "not-the-key") {
		t.Fatalf("log %q: want the failure without the key", f.logs.String())
	}
}

func TestCacheCallerContext(t *testing.T) {
	f := newCacheFixture(t, testKey)
	f.svc.setGate(make(chan struct{}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := f.cache.Current(ctx); ok {
		t.Fatal("Current(cancelled ctx) = true before any answer")
	}
	// Close stops the request in flight and returns.
	done := make(chan struct{})
	go func() { f.cache.Close(); close(done) }()
	<-done
	f.svc.openGate()
	if _, ok := f.cache.Current(context.Background()); ok {
		t.Fatal("Current after Close fetched")
	}
}

// A refresh runs in a goroutine of its own; Close must leave none behind.
func TestCacheLeavesNoGoroutine(t *testing.T) {
	svc := newFakeService(t, 200, "owm_gwangju_clouds.json")
	client := &http.Client{}
	before := runtime.NumGoroutine()
	p, err := NewOWM(svc.srv.URL, testKey, client)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	c := NewCache(p, Gwangju, CacheOptions{TTL: time.Minute, Now: clk.Now})
	for range 10 {
		c.Current(context.Background())
		clk.add(2 * time.Minute) // every call starts a background refresh
	}
	c.Close()
	client.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
